package dev.arbor.model;

import dev.arbor.format.DType;
import dev.arbor.format.HalfFloats;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.SplittableRandom;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * Weights packed once: the GEMM on them gives the bits of the GEMM that packs the widened weights on every call,
 * a decode row gives the bits of that row in the GEMM, and both match a float64 product.
 */
class PackedWeightsTest {
    private static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /**
     * Sizes: partial panels in every product (n not a multiple of NR), a last group of fewer than GROUP panels,
     * groups that straddle products, k not a multiple of KC (several k blocks and a short last one), one row,
     * fewer rows than the micro-kernel's, and more than a row block (130 rows: more than the GEMM's MC, 270 and 300:
     * more than the row block it takes with packed weights, PACKED_MC).
     */
    @ParameterizedTest
    @CsvSource({"BF16,1,300,40;24;24", "BF16,3,520,7", "BF16,9,64,100;33", "BF16,130,257,96;32;32",
            "F32,1,300,40;24;24", "F32,5,513,130", "F32,17,33,1;1;65", "F32,130,256,128",
            "BF16,300,257,40;24", "F32,270,130,33"})
    void theGemmOnPackedWeightsGivesTheBitsOfTheGemmThatPacksEachCall(DType dtype, int m, int k, String sizes) {
        int[] n = Arrays.stream(sizes.split(";")).mapToInt(Integer::parseInt).toArray();
        SplittableRandom r = new SplittableRandom(m * 1000L + k);
        try (Arena arena = Arena.ofShared(); WorkerPool pool = new WorkerPool(2); Gemm gemm = new Gemm(pool)) {
            Weight[] ws = new Weight[n.length];
            int total = Arrays.stream(n).sum();
            float[] widened = new float[total * k];
            for (int j = 0, row = 0; j < n.length; row += n[j], j++) ws[j] = weight(arena, dtype, n[j], k, r, widened, row * k);
            float[] x = new float[m * k];
            for (int i = 0; i < x.length; i++) x[i] = (float) r.nextGaussian();

            PackedWeights packed = PackedWeights.pack(ws, pool, arena);
            int panels = Arrays.stream(n).map(c -> Math.ceilDiv(c, Gemm.NR)).sum();
            assertThat(packed.byteSize()).isEqualTo((long) panels * Gemm.NR * k * dtype.size());
            float[][] want = outputs(m, n), got = outputs(m, n);
            int[] zeros = new int[n.length];
            gemm.multiplyStacked(m, k, x, 0, k, widened, n, want, zeros);
            Arrays.stream(got).forEach(c -> Arrays.fill(c, Float.NaN));   // overwritten, never read
            gemm.multiplyStacked(m, k, x, 0, k, packed, got, zeros);
            for (int j = 0; j < n.length; j++) assertThat(got[j]).as("product %d", j).isEqualTo(want[j]);

            // each row alone, at an offset in x and in y
            float[] out = new float[PackedWeights.GROUP * Gemm.NR];
            for (int i = 0; i < m; i++) {
                float[][] row = new float[n.length][];
                int[] at = new int[n.length];
                for (int j = 0; j < n.length; j++) {
                    row[j] = new float[n[j] + 3];
                    at[j] = 3;
                }
                packed.multiplyRow(x, i * k, row, at, pool, new float[][]{out, out.clone()});
                for (int j = 0; j < n.length; j++) {
                    assertThat(Arrays.copyOfRange(row[j], 3, 3 + n[j])).as("row %d of product %d", i, j)
                            .isEqualTo(Arrays.copyOfRange(want[j], i * n[j], (i + 1) * n[j]));
                }
            }

            // and the product itself, against float64
            for (int j = 0, row = 0; j < n.length; row += n[j], j++) {
                for (int i = 0; i < m; i++) {
                    for (int c = 0; c < n[j]; c++) {
                        double sum = 0, scale = 0;
                        for (int p = 0; p < k; p++) {
                            double term = (double) x[i * k + p] * widened[(row + c) * k + p];
                            sum += term;
                            scale += Math.abs(term);
                        }
                        assertThat((double) got[j][i * n[j] + c]).isCloseTo(sum, org.assertj.core.data.Offset.offset(1e-6 * scale + 1e-30));
                    }
                }
            }
        }
    }

    @Test
    void onlyBf16AndF32WeightsOfOneShapeArePacked() {
        try (Arena arena = Arena.ofShared(); WorkerPool pool = new WorkerPool(1)) {
            SplittableRandom r = new SplittableRandom(1);
            Weight bf = weight(arena, DType.BF16, 4, 8, r, new float[32], 0);
            Weight f32 = weight(arena, DType.F32, 4, 8, r, new float[32], 0);
            Weight f16 = weight(arena, DType.F16, 4, 8, r, new float[32], 0);
            Weight otherK = weight(arena, DType.BF16, 4, 9, r, new float[36], 0);
            assertThat(PackedWeights.supports(new Weight[]{bf, bf})).isTrue();
            assertThat(PackedWeights.supports(new Weight[]{f32})).isTrue();
            assertThat(PackedWeights.supports(new Weight[]{f16})).isFalse();
            assertThat(PackedWeights.supports(new Weight[]{bf, f32})).isFalse();
            assertThat(PackedWeights.supports(new Weight[]{bf, otherK})).isFalse();
            assertThatThrownBy(() -> PackedWeights.pack(new Weight[]{f16}, pool, arena)).isInstanceOf(IllegalArgumentException.class);
        }
    }

    private static float[][] outputs(int m, int[] n) {
        float[][] c = new float[n.length][];
        for (int j = 0; j < n.length; j++) c[j] = new float[m * n[j]];
        return c;
    }

    /** A random n × k weight, stored unaligned in dtype; its exact F32 values go to widened from off. */
    private static Weight weight(Arena arena, DType dtype, int n, int k, SplittableRandom r, float[] widened, int off) {
        MemorySegment seg = arena.allocate((long) n * k * dtype.size() + 1).asSlice(1);
        for (int i = 0; i < n * k; i++) {
            float v = (float) r.nextGaussian();
            switch (dtype) {
                case BF16 -> { seg.setAtIndex(I16, i, HalfFloats.floatToBf16(v)); widened[off + i] = HalfFloats.bf16ToFloat(HalfFloats.floatToBf16(v)); }
                case F16 -> { seg.setAtIndex(I16, i, HalfFloats.floatToF16(v)); widened[off + i] = HalfFloats.f16ToFloat(HalfFloats.floatToF16(v)); }
                default -> { seg.setAtIndex(F32, i, v); widened[off + i] = v; }
            }
        }
        return new Weight("w", dtype, n, k, seg);
    }
}
