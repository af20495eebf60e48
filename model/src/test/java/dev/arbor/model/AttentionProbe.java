package dev.arbor.model;

import java.util.SplittableRandom;

/**
 * Public handle on the package-private attention kernels for benchmarks: one query head of a prompt of `rows`
 * rows (positions 0..rows−1, MHA) against its kv head's cache, in units of eight consecutive rows as
 * {@link CpuBackend#attention} cuts them, on the calling thread.
 */
public final class AttentionProbe {
    private final int rows, headDim;
    private final float[] q, kt, v, out, scores;
    private final int[] at = new int[16];
    private final int stride;
    private final float scale;

    public AttentionProbe(int rows, int headDim) {
        this.rows = rows;
        this.headDim = headDim;
        SplittableRandom r = new SplittableRandom(1);
        int cap = Math.ceilDiv(rows, Attention.KEY_BLOCK) * Attention.KEY_BLOCK;
        kt = new float[cap * headDim];
        v = new float[cap * headDim];
        q = new float[rows * headDim];
        out = new float[rows * headDim];
        for (int i = 0; i < kt.length; i++) kt[i] = (float) r.nextGaussian();
        for (int i = 0; i < v.length; i++) v[i] = (float) r.nextGaussian();
        for (int i = 0; i < q.length; i++) q[i] = (float) (0.3 * r.nextGaussian());
        stride = Math.ceilDiv(rows, Attention.LANES) * Attention.LANES + 1;
        scores = new float[8 * stride];
        scale = (float) (1 / Math.sqrt(headDim));
    }

    /** FLOPs of one {@link #run}: 4·head_dim for each (row, position ≤ row) pair, as {@code bench} counts them. */
    public static double flops(int rows, int headDim) { return 4.0 * headDim * rows * (rows + 1) / 2; }

    /** Every unit of eight rows, the last rows first; returns one output so that the work is used. */
    public float run() {
        for (int last = rows - 1; last >= 0; last -= 8) {
            for (int i = 0; i < 8; i++) {
                int row = Math.max(last - i, 0);   // fewer than eight left: the first row again, as CpuBackend pads
                at[i] = row * headDim;
                at[8 + i] = row;
            }
            Attention.attend8(q, at, kt, v, headDim, scale, scores, stride, out);
        }
        return out[0];
    }
}
