package dev.arbor.model;

import dev.arbor.format.DType;
import dev.arbor.format.HalfFloats;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.SplittableRandom;

import static org.assertj.core.api.Assertions.assertThat;

/** The kernel against a float64 product, over edge sizes (tails of every blocking) and dtypes. */
class MatmulTest {
    private static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    @ParameterizedTest
    @CsvSource({"BF16,1,5,8", "BF16,4,24,16", "BF16,7,50,37", "F16,1,3,9", "F16,9,26,64", "F32,1,1,1", "F32,5,49,100", "F32,13,24,7"})
    void matchesADoubleProduct(DType dtype, int t, int n, int k) {
        SplittableRandom r = new SplittableRandom(n * 31L + k);
        float[] w = new float[n * k];
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment seg = arena.allocate((long) n * k * dtype.size() + 1).asSlice(1);   // unaligned on purpose
            for (int i = 0; i < w.length; i++) {
                float v = (float) r.nextGaussian();
                switch (dtype) {
                    case BF16 -> { seg.setAtIndex(I16, i, HalfFloats.floatToBf16(v)); w[i] = HalfFloats.bf16ToFloat(HalfFloats.floatToBf16(v)); }
                    case F16 -> { seg.setAtIndex(I16, i, HalfFloats.floatToF16(v)); w[i] = HalfFloats.f16ToFloat(HalfFloats.floatToF16(v)); }
                    default -> { seg.setAtIndex(F32, i, v); w[i] = v; }
                }
            }
            float[] x = new float[t * k];
            for (int i = 0; i < x.length; i++) x[i] = (float) r.nextGaussian();
            float[] y = new float[t * n];
            Matmul.multiply(x, t, new Weight("w", dtype, n, k, seg), 0, n, y, n, 0, new float[Matmul.scratchSize(k)]);
            for (int a = 0; a < t; a++) {
                for (int b = 0; b < n; b++) {
                    double want = 0, scale = 0;
                    for (int c = 0; c < k; c++) {
                        want += (double) x[a * k + c] * w[b * k + c];
                        scale += Math.abs((double) x[a * k + c] * w[b * k + c]);
                    }
                    assertThat((double) y[a * n + b]).as("y[%d,%d]", a, b).isCloseTo(want, org.assertj.core.data.Offset.offset(1e-6 * scale + 1e-30));
                }
            }
        }
    }

    private static Weight weight(Arena arena, DType dtype, int n, int k, SplittableRandom r) {
        MemorySegment seg = arena.allocate((long) n * k * dtype.size() + 1).asSlice(1);   // unaligned on purpose
        for (int i = 0; i < n * k; i++) {
            float v = (float) r.nextGaussian();
            switch (dtype) {
                case BF16 -> seg.setAtIndex(I16, i, HalfFloats.floatToBf16(v));
                case F16 -> seg.setAtIndex(I16, i, HalfFloats.floatToF16(v));
                default -> seg.setAtIndex(F32, i, v);
            }
        }
        if (dtype == DType.F16) seg.setAtIndex(I16, 0, (short) 0x0001);   // a subnormal weight
        return new Weight("w", dtype, n, k, seg);
    }

    /**
     * A batch of rows gives every output the bits it gets alone, whatever the chunk boundaries:
     * each output keeps one summation order. The K values
     * cover the 4-block loop, the single-block loop and the scalar tail at 8 and 16 lanes.
     */
    @ParameterizedTest
    @CsvSource({"BF16,13,7", "BF16,771,30", "BF16,100,5", "BF16,16,5", "F16,13,7", "F16,771,30", "F16,100,26",
                "F32,13,7", "F32,771,30", "F32,100,3", "F32,8,3"})
    void aBatchGivesEveryRowItsBitsAlone(DType dtype, int k, int n) {
        SplittableRandom r = new SplittableRandom(k * 131L + n);
        try (Arena arena = Arena.ofConfined()) {
            Weight w = weight(arena, dtype, n, k, r);
            float[] scratch = new float[Matmul.scratchSize(k)];
            // 2: one-row kernels; 3: BF16 three-row kernel; 6 and 9: tiles of 4 rows plus leftovers
            for (int t : new int[]{2, 3, 6, 9}) {
                float[] x = new float[t * k];
                for (int i = 0; i < x.length; i++) x[i] = (float) r.nextGaussian();
                float[] batch = new float[t * n];   // two chunks, split at an odd row
                int split = n / 2 | 1;
                Matmul.multiply(x, t, w, 0, Math.min(split, n), batch, n, 0, scratch);
                Matmul.multiply(x, t, w, Math.min(split, n), n, batch, n, 0, scratch);
                for (int a = 0; a < t; a++) {
                    float[] xa = java.util.Arrays.copyOfRange(x, a * k, (a + 1) * k);
                    float[] alone = new float[n];
                    Matmul.multiply(xa, 1, w, 0, n, alone, n, 0, scratch);
                    for (int b = 0; b < n; b++) {
                        assertThat(Float.floatToRawIntBits(batch[a * n + b])).as("T=%d y[%d,%d]", t, a, b)
                                .isEqualTo(Float.floatToRawIntBits(alone[b]));
                    }
                }
            }
        }
    }

    /** The same once the JIT has compiled the kernels (the vector intrinsics, not their Java fallbacks). */
    @ParameterizedTest
    @CsvSource({"BF16", "F16", "F32"})
    void aBatchStaysBitwiseWhenCompiled(DType dtype) {
        int t = 7, k = 203, n = 26;   // a 4-row tile and 3 leftover rows
        SplittableRandom r = new SplittableRandom(7);
        try (Arena arena = Arena.ofConfined()) {
            Weight w = weight(arena, dtype, n, k, r);
            float[] x = new float[t * k];
            for (int i = 0; i < x.length; i++) x[i] = (float) r.nextGaussian();
            float[] scratch = new float[Matmul.scratchSize(k)];
            float[] batch = new float[t * n], alone = new float[t * n];
            for (int iter = 0; iter < 3000; iter++) {
                Matmul.multiply(x, t, w, 0, n, batch, n, 0, scratch);
                for (int a = 0; a < t; a++) {
                    Matmul.multiply(java.util.Arrays.copyOfRange(x, a * k, (a + 1) * k), 1, w, 0, n, alone, n, a * n, scratch);
                }
                if (!java.util.Arrays.equals(batch, alone)) {
                    for (int i = 0; i < batch.length; i++) {
                        assertThat(Float.floatToRawIntBits(batch[i])).as("iteration %d, y[%d]", iter, i)
                                .isEqualTo(Float.floatToRawIntBits(alone[i]));
                    }
                }
            }
        }
    }

    @ParameterizedTest
    @CsvSource({"0x0001", "0x03FF", "0x0400", "0x3C00", "0x7BFF", "0x7C00", "0xFC00", "0x8001", "0x7E00", "0xBC00"})
    void f16WideningIsExactIncludingSubnormalsInfinitiesAndNaN(String hex) {
        short h = (short) Integer.parseInt(hex.substring(2), 16);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment seg = arena.allocate(2L * 16);
            for (int i = 0; i < 16; i++) seg.setAtIndex(I16, i, h);
            float[] out = new float[16];
            Matmul.widenF16(seg, 0, out, 0, 16);
            for (float f : out) assertThat(Float.floatToIntBits(f)).isEqualTo(Float.floatToIntBits(Float.float16ToFloat(h)));
        }
    }
}
