package dev.arbor.model;

import org.junit.jupiter.api.Test;

import java.util.SplittableRandom;

import static org.assertj.core.api.Assertions.assertThat;

/** The attention kernels: four queries sharing a cache give each query's one-query bits, and both match softmax attention in f64. */
class AttentionTest {

    /** Positions of four queries: consecutive prompt rows, rows around a vector boundary, short rows, GQA heads at one position, a padded unit. */
    private static final int[][] UNITS = {
            {36, 37, 38, 39}, {7, 8, 9, 10}, {0, 1, 2, 3}, {100, 100, 100, 100}, {63, 64, 65, 65}, {5, 200, 17, 199},
    };

    /** Head widths: whole vectors, odd multiples of them, partial ones, and less than one. */
    private static final int[] HEAD_DIMS = {64, 48, 40, 24, 8, 80, 112};

    /** n standard normal floats: a cache's keys or values. */
    private static float[] gaussians(SplittableRandom r, int n) {
        float[] x = new float[n];
        for (int i = 0; i < n; i++) x[i] = (float) r.nextGaussian();
        return x;
    }

    /** Random keys (in blocks, Attention.keyAt) and values of one kv head (CAP positions), the scale, and a score stride for MAX_POS. */
    private record Cache(float[] kt, float[] v, float scale, int stride) {
        static final int CAP = 256, MAX_POS = 200;
    }

    private static Cache cache(SplittableRandom r, int hd) {
        float[] kt = gaussians(r, hd * Cache.CAP), v = gaussians(r, Cache.CAP * hd);
        return new Cache(kt, v, (float) (1 / Math.sqrt(hd)), Math.ceilDiv(Cache.MAX_POS + 1, Attention.LANES) * Attention.LANES + 1);
    }

    /** The first n floats of got and want (query slots of hd floats) are the same bits. */
    private static void assertSameBits(float[] got, float[] want, int n, int hd, String what) {
        for (int d = 0; d < n; d++) {
            assertThat(Float.floatToIntBits(got[d])).as("%s, hd %d, slot %d d %d", what, hd, d / hd, d % hd)
                    .isEqualTo(Float.floatToIntBits(want[d]));
        }
    }

    /** The key layout: blocks of KEY_BLOCK positions one after another, each [d][KEY_BLOCK]; every slot used once. */
    @Test void keysLieInBlocksOfPositionsEachTransposed() {
        int kb = Attention.KEY_BLOCK, hd = 24, cap = 3 * kb;
        assertThat(kb).isEqualTo(2 * Attention.LANES);
        assertThat(Attention.keyAt(0, 0, hd)).isZero();
        assertThat(Attention.keyAt(0, 1, hd)).isEqualTo(1);
        assertThat(Attention.keyAt(1, 0, hd)).isEqualTo(kb);
        assertThat(Attention.keyAt(0, kb, hd)).isEqualTo(kb * hd);
        assertThat(Attention.keyAt(hd - 1, 2 * kb + 5, hd)).isEqualTo(2 * kb * hd + (hd - 1) * kb + 5);
        boolean[] used = new boolean[cap * hd];
        for (int p = 0; p < cap; p++) {
            for (int d = 0; d < hd; d++) {
                int i = Attention.keyAt(d, p, hd);
                assertThat(used[i]).as("position %d d %d", p, d).isFalse();
                used[i] = true;
            }
        }
    }

    @Test void fourQueriesGiveTheBitsOfOneAtATimeAndMatchF64() {
        SplittableRandom r = new SplittableRandom(7);
        for (int hd : HEAD_DIMS) {
            Cache cache = cache(r, hd);
            int maxPos = Cache.MAX_POS, stride = cache.stride();
            float[] kt = cache.kt(), v = cache.v();
            float scale = cache.scale();
            for (int[] pos : UNITS) {
                float[] q = new float[4 * hd];
                for (int i = 0; i < q.length; i++) q[i] = (float) (2 * r.nextGaussian());
                int[] at = {0, hd, 2 * hd, 3 * hd, pos[0], pos[1], pos[2], pos[3]};
                float[] four = new float[4 * hd];
                Attention.attend4(q, at, kt, v, hd, scale, new float[4 * stride], stride, four);
                // a unit of three queries, padded as CpuBackend pads it: the last query again, in the same output slot
                int[] three = {0, hd, 2 * hd, 2 * hd, pos[0], pos[1], pos[2], pos[2]};
                float[] padded = new float[4 * hd];
                Attention.attend4(q, three, kt, v, hd, scale, new float[4 * stride], stride, padded);
                assertSameBits(padded, four, 3 * hd, hd, "padded unit of four");
                for (int j = 0; j < 4; j++) {
                    float[] one = new float[4 * hd];
                    Attention.attend(q, j * hd, kt, v, hd, pos[j], scale, new float[roundUp(maxPos + 1)], one, j * hd);
                    double[] want = reference(q, j * hd, kt, v, hd, pos[j], scale);
                    for (int d = 0; d < hd; d++) {
                        assertThat(Float.floatToIntBits(four[j * hd + d])).as("hd %d pos %d d %d", hd, pos[j], d)
                                .isEqualTo(Float.floatToIntBits(one[j * hd + d]));
                        assertThat((double) one[j * hd + d]).as("hd %d pos %d d %d", hd, pos[j], d)
                                .isCloseTo(want[d], org.assertj.core.data.Offset.offset(1e-5 * (1 + Math.abs(want[d]))));
                    }
                }
            }
        }
    }

    /** Positions of eight queries: prompt rows, rows across a vector boundary, the first rows, one position, a padded unit, mixed. */
    private static final int[][] UNITS8 = {
            {36, 37, 38, 39, 40, 41, 42, 43}, {12, 13, 14, 15, 16, 17, 18, 19}, {0, 1, 2, 3, 4, 5, 6, 7},
            {100, 100, 100, 100, 100, 100, 100, 100}, {60, 61, 62, 63, 64, 65, 65, 65}, {5, 200, 17, 199, 31, 32, 150, 0},
    };

    @Test void eightQueriesGiveTheBitsOfOneAtATimeAlsoWhenPadded() {
        SplittableRandom r = new SplittableRandom(9);
        for (int hd : HEAD_DIMS) {
            Cache cache = cache(r, hd);
            int maxPos = Cache.MAX_POS, stride = cache.stride();
            float[] kt = cache.kt(), v = cache.v();
            float scale = cache.scale();
            for (int[] pos : UNITS8) {
                float[] q = new float[8 * hd];
                for (int i = 0; i < q.length; i++) q[i] = (float) (2 * r.nextGaussian());
                int[] at = new int[16];
                for (int j = 0; j < 8; j++) {
                    at[j] = j * hd;
                    at[8 + j] = pos[j];
                }
                float[] eight = new float[8 * hd];
                Attention.attend8(q, at, kt, v, hd, scale, new float[8 * stride], stride, eight);
                // a unit of six, padded as CpuBackend pads it: the last query again, in the same output slot
                int[] six = at.clone();
                for (int j = 6; j < 8; j++) {
                    six[j] = six[5];
                    six[8 + j] = six[13];
                }
                float[] padded = new float[8 * hd];
                Attention.attend8(q, six, kt, v, hd, scale, new float[8 * stride], stride, padded);
                assertSameBits(padded, eight, 6 * hd, hd, "padded unit of eight");
                for (int j = 0; j < 8; j++) {
                    float[] one = new float[8 * hd];
                    Attention.attend(q, j * hd, kt, v, hd, pos[j], scale, new float[roundUp(maxPos + 1)], one, j * hd);
                    for (int d = 0; d < hd; d++) {
                        assertThat(Float.floatToIntBits(eight[j * hd + d])).as("hd %d pos %d d %d", hd, pos[j], d)
                                .isEqualTo(Float.floatToIntBits(one[j * hd + d]));
                    }
                }
            }
        }
    }

    /**
     * Decode through CpuBackend: the query heads of a kv group run as one unit (GQA, MQA), single
     * heads alone (MHA); every head's output must keep the bits of one query alone.
     */
    @Test void decodeUnitsGiveTheBitsOfOneQueryAtATime() {
        SplittableRandom r = new SplittableRandom(11);
        for (int hd : new int[]{64, 48, 80, 24}) {
            for (int[] shape : new int[][]{{15, 5}, {8, 1}, {4, 4}}) {
                int heads = shape[0], kvHeads = shape[1];
                for (int pos : new int[]{5, 256, 300, 700}) {
                    Sequence s = new Sequence(null, new KvCachePool(1, kvHeads, hd), 1, kvHeads, hd);
                    s.ensureCapacity(pos + 1, 1 << 20);
                    for (int g = 0; g < kvHeads; g++) {
                        for (int i = 0; i < s.keys[0][g].length; i++) s.keys[0][g][i] = (float) r.nextGaussian();
                        for (int i = 0; i < s.values[0][g].length; i++) s.values[0][g][i] = (float) r.nextGaussian();
                    }
                    float[] q = new float[heads * hd], out = new float[heads * hd];
                    for (int i = 0; i < q.length; i++) q[i] = (float) (2 * r.nextGaussian());
                    float scale = (float) (1 / Math.sqrt(hd));
                    try (CpuBackend b = new CpuBackend(3)) {
                        b.attention(0, q, new Sequence[]{s}, new int[]{pos}, 1, heads, kvHeads, hd, scale, out);
                    }
                    for (int j = 0; j < heads; j++) {
                        float[] one = new float[heads * hd];
                        int g = j / (heads / kvHeads);
                        Attention.attend(q, j * hd, s.keys[0][g], s.values[0][g], hd, pos, scale, new float[roundUp(pos + 1)], one, j * hd);
                        for (int d = 0; d < hd; d++) {
                            assertThat(Float.floatToIntBits(out[j * hd + d])).as("hd %d heads %d/%d pos %d head %d d %d", hd, heads, kvHeads, pos, j, d)
                                    .isEqualTo(Float.floatToIntBits(one[j * hd + d]));
                        }
                    }
                }
            }
        }
    }

    /** Softmax attention of one query over positions 0..pos in f64, from the same cache layout. */
    private static double[] reference(float[] q, int qo, float[] kt, float[] v, int hd, int pos, float scale) {
        double[] s = new double[pos + 1];
        double max = Double.NEGATIVE_INFINITY;
        for (int p = 0; p <= pos; p++) {
            double a = 0;
            for (int d = 0; d < hd; d++) a += (double) q[qo + d] * kt[Attention.keyAt(d, p, hd)];
            s[p] = a * scale;
            max = Math.max(max, s[p]);
        }
        double total = 0;
        for (int p = 0; p <= pos; p++) total += s[p] = Math.exp(s[p] - max);
        double[] out = new double[hd];
        for (int p = 0; p <= pos; p++) for (int d = 0; d < hd; d++) out[d] += s[p] / total * v[p * hd + d];
        return out;
    }

    /** Room for n scores in whole vectors, as {@link Attention#attend} needs. */
    private static int roundUp(int n) {
        return Math.ceilDiv(n, Attention.LANES) * Attention.LANES;
    }
}
