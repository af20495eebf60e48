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
import java.util.stream.IntStream;

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

    /**
     * Gate and up packed as pairs: the GEMM's and a decode row's SwiGLU output has the bits of the two products
     * followed by {@link Ops#swiglu}, with and without a neuron mask. Sizes: n a multiple of NR and not (a partial
     * last pair), a last group of one pair, one row, a row block and more (more tasks than pairs: 300 rows, n 40).
     */
    @ParameterizedTest
    @CsvSource({"BF16,1,300,40,false", "BF16,9,257,96,true", "BF16,300,64,40,true", "F32,5,130,72,false",
            "F32,270,513,128,true", "BF16,130,768,2048,false"})
    void swigluPairsGiveTheBitsOfBothProductsThenSwiglu(DType dtype, int m, int k, int n, boolean masked) {
        SplittableRandom r = new SplittableRandom(m * 7000L + k + n);
        try (Arena arena = Arena.ofShared(); WorkerPool pool = new WorkerPool(2); Gemm gemm = new Gemm(pool)) {
            float[] widened = new float[2 * n * k];
            Weight gate = weight(arena, dtype, n, k, r, widened, 0), up = weight(arena, dtype, n, k, r, widened, n * k);
            float[] x = new float[m * k];
            for (int i = 0; i < x.length; i++) x[i] = (float) r.nextGaussian();
            float[] mask = masked ? neuronMask(n, r) : null;
            float[][] products = outputs(m, new int[]{n, n});
            gemm.multiplyStacked(m, k, x, 0, k, widened, new int[]{n, n}, products, new int[2]);
            float[] want = new float[m * n];
            Ops.swiglu(products[0], products[1], want, 0, m, n, mask);
            assertThat(IntStream.range(0, want.length).filter(i -> Math.abs(want[i]) > 1e-3).count()).as("nonzero outputs")
                    .isGreaterThan(want.length / 4);

            PackedWeights pairs = PackedWeights.packPairs(gate, up, pool, arena);
            float[] got = new float[m * n];
            Arrays.fill(got, Float.NaN);   // overwritten, never read
            gemm.multiplySwiGLU(m, k, x, 0, k, pairs, got, mask);
            assertThat(got).isEqualTo(want);

            float[] out = new float[PackedWeights.GROUP * Gemm.NR];
            for (int i = 0; i < m; i++) {
                float[] row = new float[n + 3];
                pairs.multiplyRowSwiGLU(x, i * k, row, 3, mask, pool, new float[][]{out, out.clone()});
                assertThat(Arrays.copyOfRange(row, 3, 3 + n)).as("row %d", i).isEqualTo(Arrays.copyOfRange(want, i * n, (i + 1) * n));
            }
            assertThatThrownBy(() -> gemm.multiplyStacked(m, k, x, 0, k, pairs, outputs(m, new int[]{n, n}), new int[2]))
                    .isInstanceOf(IllegalArgumentException.class);
        }
    }

    /**
     * A prompt's whole MLP in one call ({@link Gemm#multiplyMlp}: SwiGLU's output written in the down product's packed
     * A layout, that product's packing skipped) gives the bits of the SwiGLU product followed by the down product.
     * Sizes: rows that pad the last row block (300: two blocks of 152; 5 and 130), one product small enough to run on
     * the caller (5 rows), an MLP width that is not a multiple of KC (40, 72) and one that is (512, 2048), with z big
     * enough to hold the packed output and too small (then a buffer of the calling thread holds it).
     */
    @ParameterizedTest
    @CsvSource({"BF16,300,64,40,24,true,false", "F32,5,130,72,33,false,false", "BF16,130,768,2048,96,true,true",
            "F32,512,96,512,64,false,true", "BF16,512,96,512,64,true,false"})
    void theFusedMlpGivesTheBitsOfSwigluThenDown(DType dtype, int m, int k, int n, int nDown, boolean masked, boolean bigZ) {
        SplittableRandom r = new SplittableRandom(m * 31L + k * 7L + n);
        try (Arena arena = Arena.ofShared(); WorkerPool pool = new WorkerPool(2); Gemm gemm = new Gemm(pool)) {
            float[] wide = new float[(2 * n + nDown) * k + nDown * n];
            Weight gate = weight(arena, dtype, n, k, r, wide, 0), up = weight(arena, dtype, n, k, r, wide, n * k);
            Weight down = weight(arena, dtype, nDown, n, r, wide, 2 * n * k);
            float[] x = new float[m * k];
            for (int i = 0; i < x.length; i++) x[i] = (float) r.nextGaussian();
            float[] mask = masked ? neuronMask(n, r) : null;
            PackedWeights pairs = PackedWeights.packPairs(gate, up, pool, arena), downPacked = PackedWeights.pack(new Weight[]{down}, pool, arena);

            float[] z = new float[m * n];
            gemm.multiplySwiGLU(m, k, x, 0, k, pairs, z, mask);
            float[][] want = outputs(m, new int[]{nDown});
            gemm.multiplyStacked(m, n, z, 0, n, downPacked, want, new int[1]);
            assertThat(IntStream.range(0, want[0].length).filter(i -> Math.abs(want[0][i]) > 1e-3).count()).as("nonzero outputs")
                    .isGreaterThan(want[0].length / 4);

            float[] got = new float[m * nDown], scratch = new float[bigZ ? 2 * m * n + 1 << 16 : m * n];
            Arrays.fill(got, Float.NaN);   // overwritten, never read
            Arrays.fill(scratch, Float.NaN);   // whatever it held before
            gemm.multiplyMlp(m, k, x, 0, k, pairs, mask, downPacked, got, scratch);
            assertThat(got).isEqualTo(want[0]);
            assertThatThrownBy(() -> gemm.multiplyMlp(m, k, x, 0, k, downPacked, null, downPacked, got, scratch))
                    .isInstanceOf(IllegalArgumentException.class);
        }
    }

    /**
     * The CPU backend's SwiGLU: with packable weights it never asks for the gate and up buffers (the workspace then
     * never makes them) and gives the bits of the two products followed by SwiGLU; with F16 weights (not packed) it
     * asks for them once a call and gives the same bits, as the default path.
     */
    @ParameterizedTest
    @CsvSource({"BF16,5", "BF16,1", "F32,5", "F16,5", "F16,1"})
    void theBackendAsksForGateAndUpBuffersOnlyWhenItCannotFuseSwiglu(DType dtype, int m) {
        int n = 100, k = 70;
        SplittableRandom r = new SplittableRandom(m * 31L + dtype.ordinal());
        try (Arena arena = Arena.ofShared(); CpuBackend backend = new CpuBackend(2)) {
            Weight gate = weight(arena, dtype, n, k, r, new float[n * k], 0), up = weight(arena, dtype, n, k, r, new float[n * k], 0);
            float[] x = new float[m * k];
            for (int i = 0; i < x.length; i++) x[i] = (float) r.nextGaussian();
            RowPlan plan = m == 1 ? RowPlan.decode(1) : RowPlan.of(java.util.List.of(new int[m]));
            float[][] products = outputs(m, new int[]{n, n});
            backend.linear(x, m, new Weight[]{gate, up}, products, plan);
            float[] want = new float[m * n];
            Ops.swiglu(products[0], products[1], want, 0, m, n, null);

            int[] asked = {0};
            float[] got = new float[m * n];
            backend.linearSwiGLU(x, m, gate, up, got, null, plan, () -> {
                asked[0]++;
                return outputs(m, new int[]{n, n});
            });
            assertThat(got).isEqualTo(want);
            assertThat(asked[0]).as("calls for the gate and up buffers").isEqualTo(dtype == DType.F16 ? 1 : 0);
        }
    }

    /**
     * Both ways decode widens BF16 (a permute, or an extension to ints and a shift; the machine's vector width picks
     * one, so the end-to-end tests run only that one here) give, for a whole group and for one panel, the bits of a
     * scalar fused multiply-add chain per column and k block, the blocks' sums added in order from zero. Values:
     * Gaussian bfloats with some negative zeros and subnormals among them.
     */
    @ParameterizedTest
    @CsvSource({"1", "64", "300", "513"})
    void bothBf16WideningsGiveTheBitsOfAScalarChain(int k) {
        int cols = PackedWeights.GROUP * Gemm.NR;
        SplittableRandom r = new SplittableRandom(k);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment b = arena.allocate((long) k * cols * 2, 64);
            short[] w = new short[k * cols];
            for (int i = 0; i < w.length; i++) {
                int pick = r.nextInt(20);
                float v = pick == 0 ? -0f : pick == 1 ? Float.MIN_NORMAL / (2 + r.nextInt(100)) : (float) r.nextGaussian();
                w[i] = (short) (Float.floatToRawIntBits(v) >>> 16);
                b.setAtIndex(ValueLayout.JAVA_SHORT, i, w[i]);
            }
            float[] x = new float[k + 5];
            for (int i = 0; i < x.length; i++) x[i] = (float) r.nextGaussian();

            float[] want = new float[cols];
            for (int c = 0; c < cols; c++) {
                float sum = 0f;
                for (int pc = 0; pc < k; pc += Gemm.KC) {
                    float chain = 0f;
                    for (int p = pc; p < Math.min(k, pc + Gemm.KC); p++) chain = Math.fma(Float.intBitsToFloat(w[p * cols + c] << 16), x[5 + p], chain);
                    sum += chain;
                }
                want[c] = sum;
            }
            float[] shifted = new float[cols], permuted = new float[cols];
            PackedWeights.groupRowBf16(k, x, 5, b, 0, shifted);
            PackedWeights.groupRowBf16Permuted(k, x, 5, b, 0, permuted);
            assertThat(shifted).as("extension and shift").isEqualTo(want);
            assertThat(permuted).as("permute").isEqualTo(want);

            // panel 2 alone, its rows a group's row apart, into out from NR
            long stride = cols * 2L;
            float[] panelShifted = new float[2 * Gemm.NR], panelPermuted = new float[2 * Gemm.NR];
            PackedWeights.panelRowBf16(k, x, 5, b, 2L * Gemm.NR * 2, stride, panelShifted, Gemm.NR);
            PackedWeights.panelRowBf16Permuted(k, x, 5, b, 2L * Gemm.NR * 2, stride, panelPermuted, Gemm.NR);
            float[] wantPanel = Arrays.copyOfRange(want, 2 * Gemm.NR, 3 * Gemm.NR);
            assertThat(Arrays.copyOfRange(panelShifted, Gemm.NR, 2 * Gemm.NR)).as("panel, extension and shift").isEqualTo(wantPanel);
            assertThat(Arrays.copyOfRange(panelPermuted, Gemm.NR, 2 * Gemm.NR)).as("panel, permute").isEqualTo(wantPanel);
        }
    }

    /** Known splits: 40 groups on 2 threads as a quarter of what is left each time; every group in exactly one run. */
    @Test
    void decodeRunsShrinkToOneGroupAndCoverEveryGroupOnce() {
        assertThat(PackedWeights.runStarts(40, 2)).containsExactly(0, 10, 18, 24, 28, 31, 34, 36, 37, 38, 39, 40);
        assertThat(PackedWeights.runStarts(6, 2)).containsExactly(0, 2, 3, 4, 5, 6);
        assertThat(PackedWeights.runStarts(1, 2)).containsExactly(0, 1);
        assertThat(PackedWeights.runStarts(5, 1)).containsExactly(0, 3, 4, 5);
        for (int groups = 1; groups <= 300; groups++) {
            int[] s = PackedWeights.runStarts(groups, 2);
            assertThat(s[0]).isZero();
            assertThat(s[s.length - 1]).isEqualTo(groups);
            for (int i = 1; i < s.length; i++) {
                assertThat(s[i] - s[i - 1]).isPositive();
                if (i > 1) assertThat(s[i] - s[i - 1]).isLessThanOrEqualTo(s[i - 1] - s[i - 2]);
            }
            assertThat(s[s.length - 1] - s[s.length - 2]).isEqualTo(1);
        }
    }

    /**
     * A decode product's warming covers the first bytes of the run each thread takes first: thread 0 the narrow last
     * group (run first), thread 1 the first run of whole groups, at most 512 KiB, in 4 KiB pieces.
     */
    @ParameterizedTest
    @CsvSource({"960,120", "2560,128"})   // smol's o and down: run 0 is 2 of 7 whole groups, 480 KiB and (capped) 1.25 MiB
    void warmingCoversTheRunEachThreadTakesFirst(int k, int runPieces) {
        try (Arena arena = Arena.ofShared(); WorkerPool pool = new WorkerPool(2)) {
            int n = 960;   // 7 whole groups of 4 panels and a last one of 2
            Weight w = weight(arena, DType.BF16, n, k, new SplittableRandom(3), new float[n * k], 0);
            PackedWeights pw = PackedWeights.pack(new Weight[]{w}, pool, arena);
            assertThat(pw.warm(0, 0)).as("nothing known before the first decode row").isFalse();
            float[][] out = new float[2][PackedWeights.GROUP * Gemm.NR];
            pw.multiplyRow(new float[k], 0, new float[][]{new float[n]}, new int[]{0}, pool, out);

            long narrow = 2L * Gemm.NR * k * 2;
            assertThat(pieces(pw, 0)).isEqualTo(Math.ceilDiv(narrow, 4096));
            assertThat(pieces(pw, 1)).isEqualTo(runPieces);
            assertThat(pieces(pw, 7)).as("a thread past the runs").isZero();
        }
    }

    private static int pieces(PackedWeights pw, int thread) {
        int p = 0;
        while (pw.warm(thread, p)) p++;
        return p;
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

    /** A SwiGLU neuron mask of n values: every third neuron off, the others scaled by a random factor in [0, 1). */
    private static float[] neuronMask(int n, SplittableRandom r) {
        float[] mask = new float[n];
        for (int c = 0; c < n; c++) mask[c] = c % 3 == 0 ? 0f : (float) r.nextDouble();
        return mask;
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
