package dev.arbor.model;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Causal softmax attention of one query head against the cached keys and values of its kv head
 * (the layout of {@link Sequence}: keys in blocks of {@link #KEY_BLOCK} positions, each block transposed
 * [d][KEY_BLOCK], see {@link #keyAt}; values [position][d]):
 * out = Σ_s softmax_s(q·k_s · scale) · v_s over positions s = 0..pos.
 *
 * <p>Scores: lanes are positions, so q·k for a vector of positions is one FMA per dimension, in
 * the order d = 0, 1, …, head_dim−1 for every position, with no horizontal sum; the weighted sum:
 * lanes are dimensions, accumulated in registers over s = 0, 1, …, pos. Each output therefore has
 * one fixed summation order whatever the vector width, the position or the other rows of a batch,
 * so prompt processing and decode give the same bits. Vectors are the widest the CPU has
 * ({@link Matmul#W}): on AVX-512 they halve the instructions of both sums (512-row prompt, 12 heads,
 * one thread: 7.1–7.4 → 5.0–5.1 ms; decode at position 512, 12 layers: 1444 → 844 µs).
 */
final class Attention {
    private Attention() {}

    private static final VectorSpecies<Float> V = Matmul.W;
    private static final int L = V.length();
    /** Lanes of the attention vectors: the score rows are multiples of it. */
    static final int LANES = L;
    /**
     * Positions per block of cached keys (two vectors), a multiple of which the cache's capacity is. Within a block
     * the keys are transposed, [d][KEY_BLOCK], so that the scores of a vector of positions are one FMA per dimension;
     * the blocks follow one another, so that a run of positions is one contiguous run of memory. Keys transposed over
     * the whole capacity ([d][capacity]) put the head_dim rows a capacity apart, 4 KB at 1024 positions: decode
     * attention at position 1000 (12 layers, 12 heads, cache hot) took 1.6–2.5 ms a token that way, 1.3–1.4 in
     * blocks. Prompt attention measured the same either way.
     */
    static final int KEY_BLOCK = 2 * L;

    /** Index of dimension d of the key at position pos in a key cache of head_dim hd. */
    static int keyAt(int d, int pos, int hd) {
        return keyBlockStart(pos, hd) + d * KEY_BLOCK;
    }

    /** Index of dimension 0 of the key at position pos (its block's start plus its place in the block). */
    private static int keyBlockStart(int pos, int hd) {
        return (pos / KEY_BLOCK) * KEY_BLOCK * hd + pos % KEY_BLOCK;
    }

    /**
     * One query head q[qo, qo+hd) at absolute position pos against kt (keys in blocks, {@link #keyAt}) and v;
     * scores is scratch of at least pos+1 floats rounded up to a multiple of {@link #LANES}; the result goes to
     * out[oo, oo+hd).
     */
    static void attend(float[] q, int qo, float[] kt, float[] v, int hd, int pos, float scale,
                       float[] scores, float[] out, int oo) {
        int n = pos + 1;
        scoresFrom(q, qo, kt, hd, n, scale, scores);
        float inv = softmaxUnnormalised(scores, 0, n);
        weightedSumFrom(scores, 0, n, v, hd, 0, inv, out, oo);
    }

    /**
     * Four queries against the same cached keys and values (rows of one sequence, or the query
     * heads of one kv group), sharing every load of kt and v: prompt processing reads the cache
     * once per four rows instead of once per row. Query j is q[at[j], at[j] + hd) at position
     * at[4 + j]; its scores, then 1/Σ, go to scores[j·stride …] (stride > largest position + L);
     * its result to out[at[j] …] (q and out are laid out alike). Each output is computed in
     * exactly the order {@link #attend} uses, so the two give the same bits.
     */
    static void attend4(float[] q, int[] at, float[] kt, float[] v, int hd, float scale,
                        float[] scores, int stride, float[] out) {
        int n0 = at[4] + 1, n1 = at[5] + 1, n2 = at[6] + 1, n3 = at[7] + 1;
        int common = Math.min(Math.min(n0, n1), Math.min(n2, n3));
        // Scores for all four over whole vectors of positions up to the longest: a query's extra
        // positions (cached, but after it) are computed and ignored; the cache's capacity is a
        // multiple of KEY_BLOCK, so they are inside it.
        int longest = Math.max(Math.max(n0, n1), Math.max(n2, n3));
        scores4(q, at, kt, hd, Math.ceilDiv(longest, L) * L, scale, scores, stride);
        for (int j = 0; j < 4; j++) {
            int n = at[4 + j] + 1;
            scores[j * stride + n] = softmaxUnnormalised(scores, j * stride, n);   // 1/Σ, kept just after the scores
        }
        weightedSum4(scores, stride, common, at, v, hd, out);
    }

    /**
     * {@link #attend4} for eight queries (at[0..7] their offsets, at[8..15] their positions): sixteen accumulators,
     * so each key or value vector loaded feeds eight FMAs instead of four. Prompt processing uses it for runs of rows;
     * the same bits as {@link #attend} for every query. Its kernels repeat the four-query ones with more accumulators
     * on purpose: accumulators in an array, or passed to a shared helper C2 does not inline, are boxed.
     */
    static void attend8(float[] q, int[] at, float[] kt, float[] v, int hd, float scale,
                        float[] scores, int stride, float[] out) {
        int common = Integer.MAX_VALUE, longest = 0;
        for (int j = 0; j < 8; j++) {
            common = Math.min(common, at[8 + j] + 1);
            longest = Math.max(longest, at[8 + j] + 1);
        }
        scores8(q, at, kt, hd, Math.ceilDiv(longest, L) * L, scale, scores, stride);
        for (int j = 0; j < 8; j++) {
            int n = at[8 + j] + 1;
            scores[j * stride + n] = softmaxUnnormalised(scores, j * stride, n);
        }
        weightedSum8(scores, stride, common, at, v, hd, out);
    }

    /** scores[j·stride + s] = (q_j·k_s)·scale for the eight queries and s in [0, n), n a multiple of L. */
    private static void scores8(float[] q, int[] at, float[] kt, int hd, int n, float scale, float[] scores, int stride) {
        int q0 = at[0], q1 = at[1], q2 = at[2], q3 = at[3], q4 = at[4], q5 = at[5], q6 = at[6], q7 = at[7];
        int s = 0;
        for (; s + 2 * L <= n; s += 2 * L) {
            FloatVector a0 = FloatVector.zero(V), a1 = a0, b0 = a0, b1 = a0, c0 = a0, c1 = a0, e0 = a0, e1 = a0,
                    f0 = a0, f1 = a0, g0 = a0, g1 = a0, h0 = a0, h1 = a0, i0 = a0, i1 = a0;
            for (int d = 0; d < hd; d++) {
                int o = s * hd + d * KEY_BLOCK;   // s starts a block
                FloatVector k0 = FloatVector.fromArray(V, kt, o), k1 = FloatVector.fromArray(V, kt, o + L);
                FloatVector x = FloatVector.broadcast(V, q[q0 + d]);
                a0 = x.fma(k0, a0); a1 = x.fma(k1, a1);
                x = FloatVector.broadcast(V, q[q1 + d]);
                b0 = x.fma(k0, b0); b1 = x.fma(k1, b1);
                x = FloatVector.broadcast(V, q[q2 + d]);
                c0 = x.fma(k0, c0); c1 = x.fma(k1, c1);
                x = FloatVector.broadcast(V, q[q3 + d]);
                e0 = x.fma(k0, e0); e1 = x.fma(k1, e1);
                x = FloatVector.broadcast(V, q[q4 + d]);
                f0 = x.fma(k0, f0); f1 = x.fma(k1, f1);
                x = FloatVector.broadcast(V, q[q5 + d]);
                g0 = x.fma(k0, g0); g1 = x.fma(k1, g1);
                x = FloatVector.broadcast(V, q[q6 + d]);
                h0 = x.fma(k0, h0); h1 = x.fma(k1, h1);
                x = FloatVector.broadcast(V, q[q7 + d]);
                i0 = x.fma(k0, i0); i1 = x.fma(k1, i1);
            }
            a0.mul(scale).intoArray(scores, s); a1.mul(scale).intoArray(scores, s + L);
            b0.mul(scale).intoArray(scores, stride + s); b1.mul(scale).intoArray(scores, stride + s + L);
            c0.mul(scale).intoArray(scores, 2 * stride + s); c1.mul(scale).intoArray(scores, 2 * stride + s + L);
            e0.mul(scale).intoArray(scores, 3 * stride + s); e1.mul(scale).intoArray(scores, 3 * stride + s + L);
            f0.mul(scale).intoArray(scores, 4 * stride + s); f1.mul(scale).intoArray(scores, 4 * stride + s + L);
            g0.mul(scale).intoArray(scores, 5 * stride + s); g1.mul(scale).intoArray(scores, 5 * stride + s + L);
            h0.mul(scale).intoArray(scores, 6 * stride + s); h1.mul(scale).intoArray(scores, 6 * stride + s + L);
            i0.mul(scale).intoArray(scores, 7 * stride + s); i1.mul(scale).intoArray(scores, 7 * stride + s + L);
        }
        for (; s < n; s += L) {
            FloatVector a = FloatVector.zero(V), b = a, c = a, e = a, f = a, g = a, h = a, i = a;
            int base = keyBlockStart(s, hd);
            for (int d = 0; d < hd; d++) {
                FloatVector k = FloatVector.fromArray(V, kt, base + d * KEY_BLOCK);
                a = FloatVector.broadcast(V, q[q0 + d]).fma(k, a);
                b = FloatVector.broadcast(V, q[q1 + d]).fma(k, b);
                c = FloatVector.broadcast(V, q[q2 + d]).fma(k, c);
                e = FloatVector.broadcast(V, q[q3 + d]).fma(k, e);
                f = FloatVector.broadcast(V, q[q4 + d]).fma(k, f);
                g = FloatVector.broadcast(V, q[q5 + d]).fma(k, g);
                h = FloatVector.broadcast(V, q[q6 + d]).fma(k, h);
                i = FloatVector.broadcast(V, q[q7 + d]).fma(k, i);
            }
            a.mul(scale).intoArray(scores, s);
            b.mul(scale).intoArray(scores, stride + s);
            c.mul(scale).intoArray(scores, 2 * stride + s);
            e.mul(scale).intoArray(scores, 3 * stride + s);
            f.mul(scale).intoArray(scores, 4 * stride + s);
            g.mul(scale).intoArray(scores, 5 * stride + s);
            h.mul(scale).intoArray(scores, 6 * stride + s);
            i.mul(scale).intoArray(scores, 7 * stride + s);
        }
    }

    /**
     * {@link #weightedSum4} for eight queries: positions below common for all eight at once, two vectors of
     * dimensions at a time, then the last positions with each query stopping at its own.
     */
    private static void weightedSum8(float[] p, int stride, int common, int[] at, float[] v, int hd, float[] out) {
        int p0 = 0, p1 = stride, p2 = 2 * stride, p3 = 3 * stride, p4 = 4 * stride, p5 = 5 * stride, p6 = 6 * stride, p7 = 7 * stride;
        int n0 = at[8] + 1, n1 = at[9] + 1, n2 = at[10] + 1, n3 = at[11] + 1, n4 = at[12] + 1, n5 = at[13] + 1, n6 = at[14] + 1,
                n7 = at[15] + 1;
        int longest = Math.max(Math.max(Math.max(n0, n1), Math.max(n2, n3)), Math.max(Math.max(n4, n5), Math.max(n6, n7)));
        int d = 0;
        for (; d + 2 * L <= hd; d += 2 * L) {
            FloatVector a0 = FloatVector.zero(V), a1 = a0, b0 = a0, b1 = a0, c0 = a0, c1 = a0, e0 = a0, e1 = a0,
                    f0 = a0, f1 = a0, g0 = a0, g1 = a0, h0 = a0, h1 = a0, i0 = a0, i1 = a0;
            for (int s = 0; s < common; s++) {
                int o = s * hd + d;
                FloatVector v0 = FloatVector.fromArray(V, v, o), v1 = FloatVector.fromArray(V, v, o + L);
                FloatVector x = FloatVector.broadcast(V, p[p0 + s]);
                a0 = v0.fma(x, a0); a1 = v1.fma(x, a1);
                x = FloatVector.broadcast(V, p[p1 + s]);
                b0 = v0.fma(x, b0); b1 = v1.fma(x, b1);
                x = FloatVector.broadcast(V, p[p2 + s]);
                c0 = v0.fma(x, c0); c1 = v1.fma(x, c1);
                x = FloatVector.broadcast(V, p[p3 + s]);
                e0 = v0.fma(x, e0); e1 = v1.fma(x, e1);
                x = FloatVector.broadcast(V, p[p4 + s]);
                f0 = v0.fma(x, f0); f1 = v1.fma(x, f1);
                x = FloatVector.broadcast(V, p[p5 + s]);
                g0 = v0.fma(x, g0); g1 = v1.fma(x, g1);
                x = FloatVector.broadcast(V, p[p6 + s]);
                h0 = v0.fma(x, h0); h1 = v1.fma(x, h1);
                x = FloatVector.broadcast(V, p[p7 + s]);
                i0 = v0.fma(x, i0); i1 = v1.fma(x, i1);
            }
            // the last positions (fewer than a unit's span of rows), each query only up to its own: the sixteen chains
            // stay in registers (finishing one query at a time, as weightedSum4 does, ran sixteen chains one after
            // another at the FMA latency)
            for (int s = common; s < longest; s++) {
                int o = s * hd + d;
                FloatVector v0 = FloatVector.fromArray(V, v, o), v1 = FloatVector.fromArray(V, v, o + L);
                // a query past its own position takes weight 0, so its chain gains v·0 = ±0 and keeps its value (only
                // an exact zero's sign can change, where every term so far underflowed; v is finite unless the run
                // has overflowed). Branching around its FMAs instead sent vectors through branches, and about a
                // third of JVMs compiled that with boxed accumulators: attention 2-4x slower for the JVM's life
                FloatVector x = FloatVector.broadcast(V, s < n0 ? p[p0 + s] : 0f); a0 = v0.fma(x, a0); a1 = v1.fma(x, a1);
                x = FloatVector.broadcast(V, s < n1 ? p[p1 + s] : 0f); b0 = v0.fma(x, b0); b1 = v1.fma(x, b1);
                x = FloatVector.broadcast(V, s < n2 ? p[p2 + s] : 0f); c0 = v0.fma(x, c0); c1 = v1.fma(x, c1);
                x = FloatVector.broadcast(V, s < n3 ? p[p3 + s] : 0f); e0 = v0.fma(x, e0); e1 = v1.fma(x, e1);
                x = FloatVector.broadcast(V, s < n4 ? p[p4 + s] : 0f); f0 = v0.fma(x, f0); f1 = v1.fma(x, f1);
                x = FloatVector.broadcast(V, s < n5 ? p[p5 + s] : 0f); g0 = v0.fma(x, g0); g1 = v1.fma(x, g1);
                x = FloatVector.broadcast(V, s < n6 ? p[p6 + s] : 0f); h0 = v0.fma(x, h0); h1 = v1.fma(x, h1);
                x = FloatVector.broadcast(V, s < n7 ? p[p7 + s] : 0f); i0 = v0.fma(x, i0); i1 = v1.fma(x, i1);
            }
            // scaled by 1/Σ (kept just after each query's scores); a repeated query writes the same values again
            a0.mul(p[p0 + n0]).intoArray(out, at[0] + d); a1.mul(p[p0 + n0]).intoArray(out, at[0] + d + L);
            b0.mul(p[p1 + n1]).intoArray(out, at[1] + d); b1.mul(p[p1 + n1]).intoArray(out, at[1] + d + L);
            c0.mul(p[p2 + n2]).intoArray(out, at[2] + d); c1.mul(p[p2 + n2]).intoArray(out, at[2] + d + L);
            e0.mul(p[p3 + n3]).intoArray(out, at[3] + d); e1.mul(p[p3 + n3]).intoArray(out, at[3] + d + L);
            f0.mul(p[p4 + n4]).intoArray(out, at[4] + d); f1.mul(p[p4 + n4]).intoArray(out, at[4] + d + L);
            g0.mul(p[p5 + n5]).intoArray(out, at[5] + d); g1.mul(p[p5 + n5]).intoArray(out, at[5] + d + L);
            h0.mul(p[p6 + n6]).intoArray(out, at[6] + d); h1.mul(p[p6 + n6]).intoArray(out, at[6] + d + L);
            i0.mul(p[p7 + n7]).intoArray(out, at[7] + d); i1.mul(p[p7 + n7]).intoArray(out, at[7] + d + L);
        }
        // head_dim not a multiple of 2L (rare): its own method, so that the common case's compiled code holds none of it
        if (d < hd) weightedSum8Rest(p, stride, common, at, v, hd, d, out);
    }

    /** The dimensions [d, hd) of {@link #weightedSum8}: one vector of eight chains, then one query at a time. */
    private static void weightedSum8Rest(float[] p, int stride, int common, int[] at, float[] v, int hd, int d, float[] out) {
        int p0 = 0, p1 = stride, p2 = 2 * stride, p3 = 3 * stride, p4 = 4 * stride, p5 = 5 * stride, p6 = 6 * stride, p7 = 7 * stride;
        if (d + L <= hd) {
            // one vector of dimensions left (head_dim an odd multiple of L): the eight chains side by side
            FloatVector a = FloatVector.zero(V), b = a, c = a, e = a, f = a, g = a, h = a, i = a;
            for (int s = 0; s < common; s++) {
                FloatVector v0 = FloatVector.fromArray(V, v, s * hd + d);
                a = v0.fma(FloatVector.broadcast(V, p[p0 + s]), a);
                b = v0.fma(FloatVector.broadcast(V, p[p1 + s]), b);
                c = v0.fma(FloatVector.broadcast(V, p[p2 + s]), c);
                e = v0.fma(FloatVector.broadcast(V, p[p3 + s]), e);
                f = v0.fma(FloatVector.broadcast(V, p[p4 + s]), f);
                g = v0.fma(FloatVector.broadcast(V, p[p5 + s]), g);
                h = v0.fma(FloatVector.broadcast(V, p[p6 + s]), h);
                i = v0.fma(FloatVector.broadcast(V, p[p7 + s]), i);
            }
            a.intoArray(out, at[0] + d);
            finish1(p, p0, common, at[8] + 1, v, hd, d, p[p0 + at[8] + 1], out, at[0]);
            b.intoArray(out, at[1] + d);
            finish1(p, p1, common, at[9] + 1, v, hd, d, p[p1 + at[9] + 1], out, at[1]);
            c.intoArray(out, at[2] + d);
            finish1(p, p2, common, at[10] + 1, v, hd, d, p[p2 + at[10] + 1], out, at[2]);
            e.intoArray(out, at[3] + d);
            finish1(p, p3, common, at[11] + 1, v, hd, d, p[p3 + at[11] + 1], out, at[3]);
            f.intoArray(out, at[4] + d);
            finish1(p, p4, common, at[12] + 1, v, hd, d, p[p4 + at[12] + 1], out, at[4]);
            g.intoArray(out, at[5] + d);
            finish1(p, p5, common, at[13] + 1, v, hd, d, p[p5 + at[13] + 1], out, at[5]);
            h.intoArray(out, at[6] + d);
            finish1(p, p6, common, at[14] + 1, v, hd, d, p[p6 + at[14] + 1], out, at[6]);
            i.intoArray(out, at[7] + d);
            finish1(p, p7, common, at[15] + 1, v, hd, d, p[p7 + at[15] + 1], out, at[7]);
            d += L;
        }
        // head_dim not a multiple of L: the last dimensions one query at a time
        for (int j = 0; j < 8; j++) weightedSumFrom(p, j * stride, at[8 + j] + 1, v, hd, d, p[j * stride + at[8 + j] + 1], out, at[j]);
    }

    /** scores[j·stride + s] = (q_j·k_s)·scale for the four queries and s in [0, n), n a multiple of L. */
    private static void scores4(float[] q, int[] at, float[] kt, int hd, int n, float scale, float[] scores, int stride) {
        int q0 = at[0], q1 = at[1], q2 = at[2], q3 = at[3];
        int s = 0;
        for (; s + 2 * L <= n; s += 2 * L) {
            FloatVector a0 = FloatVector.zero(V), a1 = a0, b0 = a0, b1 = a0, c0 = a0, c1 = a0, e0 = a0, e1 = a0;
            for (int d = 0; d < hd; d++) {
                int o = s * hd + d * KEY_BLOCK;   // s starts a block
                FloatVector k0 = FloatVector.fromArray(V, kt, o), k1 = FloatVector.fromArray(V, kt, o + L);
                FloatVector x = FloatVector.broadcast(V, q[q0 + d]);
                a0 = x.fma(k0, a0); a1 = x.fma(k1, a1);
                x = FloatVector.broadcast(V, q[q1 + d]);
                b0 = x.fma(k0, b0); b1 = x.fma(k1, b1);
                x = FloatVector.broadcast(V, q[q2 + d]);
                c0 = x.fma(k0, c0); c1 = x.fma(k1, c1);
                x = FloatVector.broadcast(V, q[q3 + d]);
                e0 = x.fma(k0, e0); e1 = x.fma(k1, e1);
            }
            a0.mul(scale).intoArray(scores, s); a1.mul(scale).intoArray(scores, s + L);
            b0.mul(scale).intoArray(scores, stride + s); b1.mul(scale).intoArray(scores, stride + s + L);
            c0.mul(scale).intoArray(scores, 2 * stride + s); c1.mul(scale).intoArray(scores, 2 * stride + s + L);
            e0.mul(scale).intoArray(scores, 3 * stride + s); e1.mul(scale).intoArray(scores, 3 * stride + s + L);
        }
        for (; s < n; s += L) {
            FloatVector a = FloatVector.zero(V), b = a, c = a, e = a;
            int base = keyBlockStart(s, hd);
            for (int d = 0; d < hd; d++) {
                FloatVector k = FloatVector.fromArray(V, kt, base + d * KEY_BLOCK);
                a = FloatVector.broadcast(V, q[q0 + d]).fma(k, a);
                b = FloatVector.broadcast(V, q[q1 + d]).fma(k, b);
                c = FloatVector.broadcast(V, q[q2 + d]).fma(k, c);
                e = FloatVector.broadcast(V, q[q3 + d]).fma(k, e);
            }
            a.mul(scale).intoArray(scores, s);
            b.mul(scale).intoArray(scores, stride + s);
            c.mul(scale).intoArray(scores, 2 * stride + s);
            e.mul(scale).intoArray(scores, 3 * stride + s);
        }
    }

    /**
     * out_j[d] = inv_j · Σ_s p_j[s]·v[s·hd + d], the sum over s in order: positions below common
     * for the four queries at once (each v vector loaded once), then each query's own remainder.
     */
    private static void weightedSum4(float[] p, int stride, int common, int[] at, float[] v, int hd, float[] out) {
        int n0 = at[4] + 1, n1 = at[5] + 1, n2 = at[6] + 1, n3 = at[7] + 1;
        float inv0 = p[n0], inv1 = p[stride + n1], inv2 = p[2 * stride + n2], inv3 = p[3 * stride + n3];
        int d = 0;
        for (; d + 2 * L <= hd; d += 2 * L) {
            FloatVector a0 = FloatVector.zero(V), a1 = a0, b0 = a0, b1 = a0, c0 = a0, c1 = a0, e0 = a0, e1 = a0;
            for (int s = 0; s < common; s++) {
                int o = s * hd + d;
                FloatVector v0 = FloatVector.fromArray(V, v, o), v1 = FloatVector.fromArray(V, v, o + L);
                FloatVector x = FloatVector.broadcast(V, p[s]);
                a0 = v0.fma(x, a0); a1 = v1.fma(x, a1);
                x = FloatVector.broadcast(V, p[stride + s]);
                b0 = v0.fma(x, b0); b1 = v1.fma(x, b1);
                x = FloatVector.broadcast(V, p[2 * stride + s]);
                c0 = v0.fma(x, c0); c1 = v1.fma(x, c1);
                x = FloatVector.broadcast(V, p[3 * stride + s]);
                e0 = v0.fma(x, e0); e1 = v1.fma(x, e1);
            }
            // each query's partial sums wait in its out (same roundings as in a register) while it finishes its own
            // positions; store and finish one query at a time, as a repeated query (a unit of fewer than four) shares out
            a0.intoArray(out, at[0] + d); a1.intoArray(out, at[0] + d + L);
            finish2(p, 0, common, n0, v, hd, d, inv0, out, at[0]);
            b0.intoArray(out, at[1] + d); b1.intoArray(out, at[1] + d + L);
            finish2(p, stride, common, n1, v, hd, d, inv1, out, at[1]);
            c0.intoArray(out, at[2] + d); c1.intoArray(out, at[2] + d + L);
            finish2(p, 2 * stride, common, n2, v, hd, d, inv2, out, at[2]);
            e0.intoArray(out, at[3] + d); e1.intoArray(out, at[3] + d + L);
            finish2(p, 3 * stride, common, n3, v, hd, d, inv3, out, at[3]);
        }
        if (d + L <= hd) {
            // one vector of dimensions left (head_dim an odd multiple of L): the four queries' chains side by side
            FloatVector a = FloatVector.zero(V), b = a, c = a, e = a;
            for (int s = 0; s < common; s++) {
                FloatVector v0 = FloatVector.fromArray(V, v, s * hd + d);
                a = v0.fma(FloatVector.broadcast(V, p[s]), a);
                b = v0.fma(FloatVector.broadcast(V, p[stride + s]), b);
                c = v0.fma(FloatVector.broadcast(V, p[2 * stride + s]), c);
                e = v0.fma(FloatVector.broadcast(V, p[3 * stride + s]), e);
            }
            a.intoArray(out, at[0] + d);
            finish1(p, 0, common, n0, v, hd, d, inv0, out, at[0]);
            b.intoArray(out, at[1] + d);
            finish1(p, stride, common, n1, v, hd, d, inv1, out, at[1]);
            c.intoArray(out, at[2] + d);
            finish1(p, 2 * stride, common, n2, v, hd, d, inv2, out, at[2]);
            e.intoArray(out, at[3] + d);
            finish1(p, 3 * stride, common, n3, v, hd, d, inv3, out, at[3]);
            d += L;
        }
        // head_dim not a multiple of L: the last dimensions one query at a time
        if (d < hd) {   // rare: never reached, so never compiled into the common case
            for (int j = 0; j < 4; j++) weightedSumFrom(p, j * stride, at[4 + j] + 1, v, hd, d, p[j * stride + at[4 + j] + 1], out, at[j]);
        }
    }

    /**
     * Continues the partial sums in out[oo + d …] (one vector) over positions [from, n), then scales them. Vectors
     * are not passed as arguments: a call the JIT does not inline would have to box them.
     */
    private static void finish1(float[] p, int po, int from, int n, float[] v, int hd, int d, float inv, float[] out, int oo) {
        FloatVector a = FloatVector.fromArray(V, out, oo + d);
        for (int s = from; s < n; s++) a = FloatVector.fromArray(V, v, s * hd + d).fma(FloatVector.broadcast(V, p[po + s]), a);
        a.mul(inv).intoArray(out, oo + d);
    }

    /** {@link #finish1} for two vectors of partial sums, out[oo + d …] and out[oo + d + L …]. */
    private static void finish2(float[] p, int po, int from, int n, float[] v, int hd, int d, float inv, float[] out, int oo) {
        FloatVector a0 = FloatVector.fromArray(V, out, oo + d), a1 = FloatVector.fromArray(V, out, oo + d + L);
        for (int s = from; s < n; s++) {
            FloatVector x = FloatVector.broadcast(V, p[po + s]);
            int o = s * hd + d;
            a0 = FloatVector.fromArray(V, v, o).fma(x, a0);
            a1 = FloatVector.fromArray(V, v, o + L).fma(x, a1);
        }
        a0.mul(inv).intoArray(out, oo + d);
        a1.mul(inv).intoArray(out, oo + d + L);
    }

    /** scores[s] = (q·k_s)·scale for s in [0, n). */
    private static void scoresFrom(float[] q, int qo, float[] kt, int hd, int n, float scale, float[] scores) {
        int s = 0;
        // four vectors of positions at a time: four independent FMA chains hide the FMA latency
        for (; s + 4 * L <= n; s += 4 * L) {
            FloatVector a0 = FloatVector.zero(V), a1 = a0, a2 = a0, a3 = a0;
            for (int d = 0; d < hd; d++) {
                FloatVector qd = FloatVector.broadcast(V, q[qo + d]);
                int o = s * hd + d * KEY_BLOCK, o2 = o + KEY_BLOCK * hd;   // two blocks, s starts the first
                a0 = qd.fma(FloatVector.fromArray(V, kt, o), a0);
                a1 = qd.fma(FloatVector.fromArray(V, kt, o + L), a1);
                a2 = qd.fma(FloatVector.fromArray(V, kt, o2), a2);
                a3 = qd.fma(FloatVector.fromArray(V, kt, o2 + L), a3);
            }
            a0.mul(scale).intoArray(scores, s);
            a1.mul(scale).intoArray(scores, s + L);
            a2.mul(scale).intoArray(scores, s + 2 * L);
            a3.mul(scale).intoArray(scores, s + 3 * L);
        }
        for (; s + L <= n; s += L) {
            FloatVector a = FloatVector.zero(V);
            int base = keyBlockStart(s, hd);
            for (int d = 0; d < hd; d++) a = FloatVector.broadcast(V, q[qo + d]).fma(FloatVector.fromArray(V, kt, base + d * KEY_BLOCK), a);
            a.mul(scale).intoArray(scores, s);
        }
        if (s < n) {
            // the last n − s positions, lanes past n masked off: a scalar chain per position would wait on the FMA latency
            VectorMask<Float> m = V.indexInRange(s, n);
            FloatVector a = FloatVector.zero(V);
            int base = keyBlockStart(s, hd);
            for (int d = 0; d < hd; d++) a = FloatVector.broadcast(V, q[qo + d]).fma(FloatVector.fromArray(V, kt, base + d * KEY_BLOCK, m), a);
            a.mul(scale).intoArray(scores, s, m);
        }
    }

    /**
     * scores[s] = e^(scores[s] − max) for s in [0, n); returns 1 / Σ_s of them (summed lane-wise over the vectors of
     * positions, then the lanes pairwise, in float). scores has room for n rounded up to whole vectors: the positions
     * past n are set to −∞ first, so every loop runs on whole vectors, with no masks, and those lanes add exactly 0
     * (e^−∞). The maximum is taken by compare and blend over the vectors (FloatVector.max follows Math.max: NaN, −0.0,
     * several instructions a step), then once across the lanes by a MAX reduction, whose order cannot change its
     * value; which zero is the maximum does not change x − max. (A 512-row prompt's attention on one thread, same-JVM
     * A/B: softmax 1.19 → 0.75 ms a layer with the four chains, the MAX reduction and the constant-index sum, which
     * replaced one chain and lane(i) loops with a branch per lane.)
     */
    private static float softmaxUnnormalised(float[] scores, int so, int n) {
        int end = Math.ceilDiv(n, L) * L;
        for (int s = n; s < end; s++) scores[so + s] = Float.NEGATIVE_INFINITY;
        // four chains of compare and blend (one waited on the latency of each step: 2.3 ns a vector of positions)
        FloatVector mx = FloatVector.broadcast(V, Float.NEGATIVE_INFINITY), m1 = mx, m2 = mx, m3 = mx;
        int s = 0;
        for (; s + 4 * L <= end; s += 4 * L) {
            FloatVector x0 = FloatVector.fromArray(V, scores, so + s), x1 = FloatVector.fromArray(V, scores, so + s + L);
            FloatVector x2 = FloatVector.fromArray(V, scores, so + s + 2 * L), x3 = FloatVector.fromArray(V, scores, so + s + 3 * L);
            mx = mx.blend(x0, x0.compare(VectorOperators.GT, mx));
            m1 = m1.blend(x1, x1.compare(VectorOperators.GT, m1));
            m2 = m2.blend(x2, x2.compare(VectorOperators.GT, m2));
            m3 = m3.blend(x3, x3.compare(VectorOperators.GT, m3));
        }
        for (; s < end; s += L) {
            FloatVector x = FloatVector.fromArray(V, scores, so + s);
            mx = mx.blend(x, x.compare(VectorOperators.GT, mx));
        }
        mx = mx.blend(m1, m1.compare(VectorOperators.GT, mx));
        mx = mx.blend(m2, m2.compare(VectorOperators.GT, mx));
        mx = mx.blend(m3, m3.compare(VectorOperators.GT, mx));
        float max = mx.reduceLanes(VectorOperators.MAX);
        // one loop: a single call site of Exp.exp that every call reaches, which C2 then inlines. With a second site
        // for a tail, a site the profile saw rarely (short decode positions) was left out of line ("callee is too
        // large"), and every call boxed its vectors (4 × 201 exps: 3.5–4.0 µs instead of 0.75).
        FloatVector acc = FloatVector.zero(V);
        for (s = 0; s < end; s += L) {
            FloatVector e = Exp.exp(FloatVector.fromArray(V, scores, so + s).sub(max));
            e.intoArray(scores, so + s);
            acc = acc.add(e);
        }
        // the lanes summed pairwise by halves (lane i plus lane i + L/2 first), read at constant indices: a loop over
        // lane(i) compiled to a jump per lane, and a helper taking the vector was not always inlined (then boxed)
        float total;
        if (L == 16) {
            float s0 = acc.lane(0) + acc.lane(8), s1 = acc.lane(1) + acc.lane(9), s2 = acc.lane(2) + acc.lane(10),
                    s3 = acc.lane(3) + acc.lane(11), s4 = acc.lane(4) + acc.lane(12), s5 = acc.lane(5) + acc.lane(13),
                    s6 = acc.lane(6) + acc.lane(14), s7 = acc.lane(7) + acc.lane(15);
            total = ((s0 + s4) + (s2 + s6)) + ((s1 + s5) + (s3 + s7));
        } else if (L == 8) {
            total = ((acc.lane(0) + acc.lane(4)) + (acc.lane(2) + acc.lane(6))) + ((acc.lane(1) + acc.lane(5)) + (acc.lane(3) + acc.lane(7)));
        } else {   // wider vectors (SVE): in lane order
            total = 0f;
            for (int i = 0; i < L; i++) total += acc.lane(i);
        }
        return 1f / total;
    }

    /** out[oo + d] = inv · Σ_s p[po + s]·v[s·hd + d] for d in [d0, hd), the sum over s in [0, n) in order. */
    private static void weightedSumFrom(float[] p, int po, int n, float[] v, int hd, int d0, float inv, float[] out, int oo) {
        int d = d0;
        for (; d + 4 * L <= hd; d += 4 * L) {
            FloatVector a0 = FloatVector.zero(V), a1 = a0, a2 = a0, a3 = a0;
            for (int s = 0; s < n; s++) {
                FloatVector ps = FloatVector.broadcast(V, p[po + s]);
                int o = s * hd + d;
                a0 = FloatVector.fromArray(V, v, o).fma(ps, a0);
                a1 = FloatVector.fromArray(V, v, o + L).fma(ps, a1);
                a2 = FloatVector.fromArray(V, v, o + 2 * L).fma(ps, a2);
                a3 = FloatVector.fromArray(V, v, o + 3 * L).fma(ps, a3);
            }
            a0.mul(inv).intoArray(out, oo + d);
            a1.mul(inv).intoArray(out, oo + d + L);
            a2.mul(inv).intoArray(out, oo + d + 2 * L);
            a3.mul(inv).intoArray(out, oo + d + 3 * L);
        }
        // two or three vectors left (head_dim 48 or 80 with 16 lanes): their chains side by side, not one after another
        if (d + 3 * L <= hd) {
            FloatVector a0 = FloatVector.zero(V), a1 = a0, a2 = a0;
            for (int s = 0; s < n; s++) {
                FloatVector ps = FloatVector.broadcast(V, p[po + s]);
                int o = s * hd + d;
                a0 = FloatVector.fromArray(V, v, o).fma(ps, a0);
                a1 = FloatVector.fromArray(V, v, o + L).fma(ps, a1);
                a2 = FloatVector.fromArray(V, v, o + 2 * L).fma(ps, a2);
            }
            a0.mul(inv).intoArray(out, oo + d);
            a1.mul(inv).intoArray(out, oo + d + L);
            a2.mul(inv).intoArray(out, oo + d + 2 * L);
            d += 3 * L;
        } else if (d + 2 * L <= hd) {
            java.util.Arrays.fill(out, oo + d, oo + d + 2 * L, 0f);   // sums from 0, as a fresh accumulator
            finish2(p, po, 0, n, v, hd, d, inv, out, oo);
            d += 2 * L;
        }
        for (; d + L <= hd; d += L) {
            FloatVector a = FloatVector.zero(V);
            for (int s = 0; s < n; s++) a = FloatVector.fromArray(V, v, s * hd + d).fma(FloatVector.broadcast(V, p[po + s]), a);
            a.mul(inv).intoArray(out, oo + d);
        }
        for (; d < hd; d++) {
            float a = 0f;
            for (int s = 0; s < n; s++) a = Math.fma(v[s * hd + d], p[po + s], a);
            out[oo + d] = a * inv;
        }
    }
}
