package dev.arbor.model;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicIntegerArray;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

class GemmTest {

    private static Gemm gemm1, gemm2, gemm3;

    @BeforeAll static void setUp() {
        gemm1 = new Gemm(1);
        gemm2 = new Gemm(2);
        gemm3 = new Gemm(3);
    }

    @AfterAll static void tearDown() {
        gemm1.close();
        gemm2.close();
        gemm3.close();
    }

    /** One problem: operands with random offsets and padded leading dimensions; padding holds NaN. */
    private static final class Problem {
        final int m, n, k;
        final boolean transA, transB, accumulate;
        final int aOff, lda, bOff, ldb, cOff, ldc;
        final float[] a, b, c0;

        Problem(Random rnd, int m, int n, int k, boolean transA, boolean transB, boolean accumulate, boolean padded) {
            this.m = m; this.n = n; this.k = k;
            this.transA = transA; this.transB = transB; this.accumulate = accumulate;
            int aRows = transA ? k : m, aCols = transA ? m : k;
            int bRows = transB ? n : k, bCols = transB ? k : n;
            aOff = padded ? rnd.nextInt(17) : 0;
            bOff = padded ? rnd.nextInt(17) : 0;
            cOff = padded ? rnd.nextInt(17) : 0;
            lda = aCols + (padded ? rnd.nextInt(9) : 0);
            ldb = bCols + (padded ? rnd.nextInt(9) : 0);
            ldc = n + (padded ? rnd.nextInt(9) : 0);
            a = matrix(rnd, aOff, aRows, aCols, lda);
            b = matrix(rnd, bOff, bRows, bCols, ldb);
            c0 = matrix(rnd, cOff, m, n, ldc);
            if (!accumulate) {   // old contents must be ignored, even NaN
                for (int i = 0; i < m; i++) Arrays.fill(c0, cOff + i * ldc, cOff + i * ldc + n, Float.NaN);
            }
        }

        private static float[] matrix(Random rnd, int off, int rows, int cols, int ld) {
            int len = rows == 0 ? off + 3 : off + (rows - 1) * ld + cols + 3;
            float[] x = new float[len];
            Arrays.fill(x, Float.NaN);   // padding: any read that reaches the result shows up as NaN
            for (int r = 0; r < rows; r++)
                for (int q = 0; q < cols; q++) x[off + r * ld + q] = (float) (rnd.nextGaussian());
            return x;
        }

        float a(int i, int p) { return transA ? a[aOff + p * lda + i] : a[aOff + i * lda + p]; }
        float b(int p, int j) { return transB ? b[bOff + j * ldb + p] : b[bOff + p * ldb + j]; }

        float[] run(Gemm g, boolean serial) {
            float[] c = c0.clone();
            if (serial) g.multiplySerial(m, n, k, a, aOff, lda, transA, b, bOff, ldb, transB, c, cOff, ldc, accumulate);
            else g.multiply(m, n, k, a, aOff, lda, transA, b, bOff, ldb, transB, c, cOff, ldc, accumulate);
            return c;
        }

        void check(float[] c, String what) {
            String id = what + " m=" + m + " n=" + n + " k=" + k + " transA=" + transA + " transB=" + transB
                    + " acc=" + accumulate + " offs=" + aOff + "," + bOff + "," + cOff + " ld=" + lda + "," + ldb + "," + ldc;
            boolean[] inside = new boolean[c.length];
            for (int i = 0; i < m; i++) {
                for (int j = 0; j < n; j++) {
                    double s = 0, mag = 0;
                    for (int p = 0; p < k; p++) {
                        double t = (double) a(i, p) * b(p, j);
                        s += t;
                        mag += Math.abs(t);
                    }
                    int ci = cOff + i * ldc + j;
                    inside[ci] = true;
                    if (accumulate) { s += c0[ci]; mag += Math.abs(c0[ci]); }
                    double err = Math.abs(c[ci] - s);
                    if (!(err <= 1e-5 * mag + 1e-30)) {
                        fail(id + ": C[" + i + "," + j + "] = " + c[ci] + ", expected " + s + " (err " + err + ", scale " + mag + ")");
                    }
                }
            }
            for (int q = 0; q < c.length; q++) {   // everything outside C's m×n window is untouched
                if (!inside[q] && Float.floatToRawIntBits(c[q]) != Float.floatToRawIntBits(c0[q])) {
                    fail(id + ": wrote outside C at array index " + q);
                }
            }
        }
    }

    private static final int[] ODD = {1, 7, 13, 65, 257};

    /** Packed-weight tasks: whole tasks while much is left, then shrinking to one panel; every panel of every block once. */
    @Test void packedTasksShrinkToOnePanelAndCoverEachPanelOnce() {
        int[] t = Gemm.packedTasks(2, 24, 8, 2);
        assertThat(t).containsExactly(0, 0, 8, 0, 8, 16, 0, 16, 24, 1, 0, 6, 1, 6, 11, 1, 11, 15, 1, 15, 18, 1, 18, 20,
                1, 20, 21, 1, 21, 22, 1, 22, 23, 1, 23, 24);
        for (int[] shape : new int[][]{{1, 1, 8}, {1, 3, 8}, {2, 72, 8}, {3, 64, 4}, {5, 7, 2}, {1, 100, 256}}) {
            int blocks = shape[0], units = shape[1], max = shape[2];
            int[][] seen = new int[blocks][units];
            t = Gemm.packedTasks(blocks, units, max, 2);
            for (int i = 0; i < t.length; i += 3) {
                assertThat(t[i + 2] - t[i + 1]).isBetween(1, max);
                for (int u = t[i + 1]; u < t[i + 2]; u++) seen[t[i]][u]++;
            }
            for (int[] row : seen) assertThat(row).containsOnly(1);
            assertThat(t[t.length - 1] - t[t.length - 2]).isEqualTo(1);
        }
    }

    @Test void matchesDoubleReferenceOnOddSizes() {
        Random rnd = new Random(1);
        for (int t = 0; t < 4; t++) {
            boolean transA = (t & 1) != 0, transB = (t & 2) != 0;
            for (int m : ODD) for (int n : ODD) for (int k : ODD) {
                if ((long) m * n * k > 257L * 257 * 13) continue;   // keep the reference loop affordable
                boolean acc = rnd.nextBoolean();
                Problem pr = new Problem(rnd, m, n, k, transA, transB, acc, true);
                pr.check(pr.run(gemm2, false), "multiply");
            }
        }
    }

    @Test void matchesDoubleReferenceAcrossBlockBoundaries() {
        // sizes that straddle the micro-tile, cache-block and vector-length boundaries, with every layout
        int[][] shapes = {
                {300, 530, 1000}, {97, 1031, 300}, {1, 2000, 513}, {513, 1, 700}, {64, 64, 2049}, {200, 33, 1},
                {17, 4100, 40}, {130, 70, 520}, {8, 48, 256}, {12, 96, 512}, {257, 257, 257}, {6, 16, 3},
        };
        Random rnd = new Random(2);
        for (int[] s : shapes) {
            for (int t = 0; t < 4; t++) {
                for (int acc = 0; acc < 2; acc++) {
                    Problem pr = new Problem(rnd, s[0], s[1], s[2], (t & 1) != 0, (t & 2) != 0, acc == 1, rnd.nextBoolean());
                    pr.check(pr.run(gemm2, false), "multiply");
                }
            }
        }
    }

    @Test void serialMatchesReferenceAndParallelBitwise() {
        Random rnd = new Random(3);
        int[][] shapes = {{1, 1, 1}, {7, 13, 65}, {65, 257, 7}, {257, 65, 300}, {100, 700, 600}};
        for (int[] s : shapes) {
            for (int t = 0; t < 4; t++) {
                Problem pr = new Problem(rnd, s[0], s[1], s[2], (t & 1) != 0, (t & 2) != 0, rnd.nextBoolean(), true);
                float[] serial = pr.run(gemm2, true);
                pr.check(serial, "multiplySerial");
                assertThat(pr.run(gemm3, false)).as("serial vs parallel").isEqualTo(serial);
            }
        }
    }

    @Test void emptyDimensions() {
        Random rnd = new Random(4);
        int[][] shapes = {{0, 5, 5}, {5, 0, 5}, {0, 0, 0}, {5, 5, 0}, {300, 70, 0}};
        for (int[] s : shapes) {
            for (int t = 0; t < 4; t++) {
                for (int acc = 0; acc < 2; acc++) {
                    Problem pr = new Problem(rnd, s[0], s[1], s[2], (t & 1) != 0, (t & 2) != 0, acc == 1, true);
                    pr.check(pr.run(gemm2, false), "multiply");   // k == 0: C = 0, or unchanged when accumulating
                    pr.check(pr.run(gemm2, true), "multiplySerial");
                }
            }
        }
    }

    @Test void bitwiseIndependentOfThreadCountAndRepeatable() {
        Random rnd = new Random(5);
        int[][] shapes = {{512, 768, 768}, {333, 1000, 700}, {64, 2100, 300}, {1000, 40, 1500}, {7, 9, 3000}};
        for (int[] s : shapes) {
            for (int t = 0; t < 4; t++) {
                Problem pr = new Problem(rnd, s[0], s[1], s[2], (t & 1) != 0, (t & 2) != 0, rnd.nextBoolean(), rnd.nextBoolean());
                float[] c1 = pr.run(gemm1, false);
                float[] c2 = pr.run(gemm2, false);
                float[] c3 = pr.run(gemm3, false);
                float[] c3again = pr.run(gemm3, false);
                float[] serial = pr.run(gemm3, true);
                assertThat(c2).as("2 threads vs 1").isEqualTo(c1);
                assertThat(c3).as("3 threads vs 1").isEqualTo(c1);
                assertThat(c3again).as("repeat").isEqualTo(c3);
                assertThat(serial).as("serial").isEqualTo(c1);
            }
        }
    }

    @Test void concurrentSerialCallsFromParallelFor() {
        // the engine runs many small products, one per index, each on its pool thread
        Random rnd = new Random(6);
        List<Problem> problems = new ArrayList<>();
        for (int i = 0; i < 12; i++) {
            problems.add(new Problem(rnd, 1 + rnd.nextInt(80), 1 + rnd.nextInt(80), 1 + rnd.nextInt(300),
                    rnd.nextBoolean(), rnd.nextBoolean(), rnd.nextBoolean(), true));
        }
        float[][] out = new float[problems.size()][];
        gemm3.parallelFor(problems.size(), (i, thread) -> out[i] = problems.get(i).run(gemm3, true));
        for (int i = 0; i < out.length; i++) {
            problems.get(i).check(out[i], "multiplySerial in parallelFor");
            assertThat(out[i]).isEqualTo(problems.get(i).run(gemm1, false));
        }
    }

    /**
     * Stacked weights multiplied as one product: each C_j gets the bits of multiplying by B_j alone, for widths that
     * cut micro-panels (and an empty one), across k and column blocks, serial and parallel; nothing outside C_j moves.
     */
    @Test void stackedProductsGiveTheBitsOfEachAlone() {
        Random rnd = new Random(5);
        int[][] widths = {{768, 256, 256}, {33, 0, 95, 1}, {2048, 2048, 100}};
        for (int[] n : widths) {
            for (int[] mk : new int[][]{{5, 40}, {130, 300}, {512, 96}}) {
                int m = mk[0], k = mk[1], rows = Arrays.stream(n).sum(), off = 3;
                float[] a = new float[off + m * k], b = new float[rows * k];
                for (int i = 0; i < a.length; i++) a[i] = (float) rnd.nextGaussian();
                for (int i = 0; i < b.length; i++) b[i] = (float) rnd.nextGaussian();
                for (Gemm g : new Gemm[]{gemm1, gemm3}) {
                    float[][] c = new float[n.length][];
                    int[] cOff = new int[n.length];
                    for (int j = 0; j < n.length; j++) {
                        cOff[j] = j + 1;
                        c[j] = new float[cOff[j] + m * n[j] + 2];
                        Arrays.fill(c[j], Float.NaN);
                    }
                    g.multiplyStacked(m, k, a, off, k, b, n, c, cOff);
                    for (int j = 0, row = 0; j < n.length; row += n[j], j++) {
                        float[] alone = new float[cOff[j] + m * n[j] + 2];
                        Arrays.fill(alone, Float.NaN);
                        gemm2.multiply(m, n[j], k, a, off, k, false, b, row * k, k, true, alone, cOff[j], n[j], false);
                        assertThat(c[j]).as("widths %s, m %d, k %d, product %d, %d threads", Arrays.toString(n), m, k, j, g.threads())
                                .isEqualTo(alone);
                    }
                }
            }
        }
        // k = 0: every C_j is zeroed
        float[][] c = {new float[6], new float[4]};
        Arrays.fill(c[0], Float.NaN);
        Arrays.fill(c[1], Float.NaN);
        gemm2.multiplyStacked(2, 0, new float[0], 0, 0, new float[0], new int[]{3, 2}, c, new int[]{0, 0});
        assertThat(c[0]).containsOnly(0f);
        assertThat(c[1]).containsOnly(0f);
    }

    @Test void parallelForRunsEachIndexOnceWithValidThreadIds() {
        for (Gemm g : new Gemm[]{gemm1, gemm2, gemm3}) {
            assertEquals(g == gemm1 ? 1 : g == gemm2 ? 2 : 3, g.threads());
            for (int n : new int[]{0, 1, 2, 3, 5, 100, 10_000}) {
                AtomicIntegerArray hits = new AtomicIntegerArray(Math.max(n, 1));
                Set<Integer> ids = ConcurrentHashMap.newKeySet();
                g.parallelFor(n, (i, thread) -> {
                    hits.incrementAndGet(i);
                    ids.add(thread);
                    if (thread < 0 || thread >= g.threads()) throw new AssertionError("thread id " + thread);
                });
                for (int i = 0; i < n; i++) assertEquals(1, hits.get(i), "index " + i);
                for (int id : ids) assertThat(id).isBetween(0, g.threads() - 1);
            }
        }
    }

    @Test void parallelForThreadIdsAreExclusive() {
        // two bodies never run at the same time under the same thread id (ids index per-thread scratch)
        AtomicIntegerArray busy = new AtomicIntegerArray(3);
        gemm3.parallelFor(3000, (i, thread) -> {
            if (busy.getAndIncrement(thread) != 0) throw new AssertionError("thread id " + thread + " in use twice");
            for (int s = 0; s < 200; s++) Thread.onSpinWait();
            busy.decrementAndGet(thread);
        });
    }

    @Test void parallelForRethrowsAndStaysUsable() {
        assertThatThrownBy(() -> gemm3.parallelFor(1000, (i, thread) -> {
            if (i == 77) throw new IllegalStateException("boom " + i);
        })).isInstanceOf(IllegalStateException.class).hasMessage("boom 77");
        assertThatThrownBy(() -> gemm1.parallelFor(10, (i, thread) -> {
            if (i == 3) throw new IllegalArgumentException("one");
        })).isInstanceOf(IllegalArgumentException.class);
        AtomicIntegerArray hits = new AtomicIntegerArray(500);
        gemm3.parallelFor(500, (i, thread) -> hits.incrementAndGet(i));
        for (int i = 0; i < 500; i++) assertEquals(1, hits.get(i));
    }

    @Test void nestedParallelForRunsInline() {
        AtomicIntegerArray hits = new AtomicIntegerArray(40 * 30);
        gemm2.parallelFor(40, (i, outer) -> gemm2.parallelFor(30, (j, inner) -> {
            assertEquals(outer, inner);
            hits.incrementAndGet(i * 30 + j);
        }));
        for (int i = 0; i < 40 * 30; i++) assertEquals(1, hits.get(i));
    }

    @Test void closeIsIdempotent() {
        Gemm g = new Gemm(2);
        float[] c = new float[4];
        g.multiply(2, 2, 1, new float[]{1, 2}, 0, 1, false, new float[]{3, 4}, 0, 2, false, c, 0, 2, false);
        assertThat(c).containsExactly(3, 4, 6, 8);
        g.close();
        g.close();
    }
}
