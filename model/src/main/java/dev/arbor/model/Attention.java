package dev.arbor.model;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * Causal softmax attention of one query head against the cached keys and values of its kv head
 * (the layout of {@link Sequence}: keys transposed [d][capacity], values [position][d]):
 * out = Σ_s softmax_s(q·k_s · scale) · v_s over positions s = 0..pos.
 *
 * <p>Scores: lanes are positions, so q·k for a vector of positions is one FMA per dimension, in
 * the order d = 0, 1, …, head_dim−1 for every position, with no horizontal sum; the weighted sum:
 * lanes are dimensions, accumulated in registers over s = 0, 1, …, pos. Each output therefore has
 * one fixed summation order whatever the vector width, the position or the other rows of a batch,
 * so prompt processing and decode give the same bits.
 */
final class Attention {
    private Attention() {}

    private static final VectorSpecies<Float> V = Matmul.F;
    private static final int L = V.length();

    /**
     * One query head q[qo, qo+hd) at absolute position pos against kt (transposed keys, row
     * stride cap) and v; scores is scratch of at least pos+1 floats; the result goes to out[oo, oo+hd).
     */
    static void attend(float[] q, int qo, float[] kt, int cap, float[] v, int hd, int pos, float scale,
                       float[] scores, float[] out, int oo) {
        int n = pos + 1;
        scores(q, qo, kt, cap, hd, n, scale, scores);
        float inv = softmaxUnnormalised(scores, n);
        weightedSum(scores, n, v, hd, inv, out, oo);
    }

    /** scores[s] = (q·k_s)·scale for s in [0, n). */
    private static void scores(float[] q, int qo, float[] kt, int cap, int hd, int n, float scale, float[] scores) {
        int s = 0;
        // four vectors of positions at a time: four independent FMA chains hide the FMA latency
        for (; s + 4 * L <= n; s += 4 * L) {
            FloatVector a0 = FloatVector.zero(V), a1 = a0, a2 = a0, a3 = a0;
            for (int d = 0; d < hd; d++) {
                FloatVector qd = FloatVector.broadcast(V, q[qo + d]);
                int o = d * cap + s;
                a0 = qd.fma(FloatVector.fromArray(V, kt, o), a0);
                a1 = qd.fma(FloatVector.fromArray(V, kt, o + L), a1);
                a2 = qd.fma(FloatVector.fromArray(V, kt, o + 2 * L), a2);
                a3 = qd.fma(FloatVector.fromArray(V, kt, o + 3 * L), a3);
            }
            a0.mul(scale).intoArray(scores, s);
            a1.mul(scale).intoArray(scores, s + L);
            a2.mul(scale).intoArray(scores, s + 2 * L);
            a3.mul(scale).intoArray(scores, s + 3 * L);
        }
        for (; s + L <= n; s += L) {
            FloatVector a = FloatVector.zero(V);
            for (int d = 0; d < hd; d++) a = FloatVector.broadcast(V, q[qo + d]).fma(FloatVector.fromArray(V, kt, d * cap + s), a);
            a.mul(scale).intoArray(scores, s);
        }
        for (; s < n; s++) {
            float a = 0f;
            for (int d = 0; d < hd; d++) a = Math.fma(q[qo + d], kt[d * cap + s], a);
            scores[s] = a * scale;
        }
    }

    /** scores[s] = e^(scores[s] − max); returns 1 / Σ_s scores[s]. */
    private static float softmaxUnnormalised(float[] scores, int n) {
        float max = Float.NEGATIVE_INFINITY;
        for (int s = 0; s < n; s++) max = Math.max(max, scores[s]);
        int s = 0;
        FloatVector acc = FloatVector.zero(V);
        for (; s + L <= n; s += L) {
            FloatVector e = Exp.exp(FloatVector.fromArray(V, scores, s).sub(max));
            e.intoArray(scores, s);
            acc = acc.add(e);
        }
        double total = 0;
        for (int i = 0; i < L; i++) total += acc.lane(i);
        for (; s < n; s++) {
            float e = Exp.exp(scores[s] - max);
            scores[s] = e;
            total += e;
        }
        return (float) (1.0 / total);
    }

    /** out[oo + d] = inv · Σ_s p[s]·v[s·hd + d], the sum over s in order. */
    private static void weightedSum(float[] p, int n, float[] v, int hd, float inv, float[] out, int oo) {
        int d = 0;
        for (; d + 4 * L <= hd; d += 4 * L) {
            FloatVector a0 = FloatVector.zero(V), a1 = a0, a2 = a0, a3 = a0;
            for (int s = 0; s < n; s++) {
                FloatVector ps = FloatVector.broadcast(V, p[s]);
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
        for (; d + L <= hd; d += L) {
            FloatVector a = FloatVector.zero(V);
            for (int s = 0; s < n; s++) a = FloatVector.fromArray(V, v, s * hd + d).fma(FloatVector.broadcast(V, p[s]), a);
            a.mul(inv).intoArray(out, oo + d);
        }
        for (; d < hd; d++) {
            float a = 0f;
            for (int s = 0; s < n; s++) a = Math.fma(v[s * hd + d], p[s], a);
            out[oo + d] = a * inv;
        }
    }
}
