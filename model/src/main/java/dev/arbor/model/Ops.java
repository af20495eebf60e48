package dev.arbor.model;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * The element-wise and normalisation steps of the (masked) forward, GROWTH.md §2, each an
 * explicit function of its inputs that returns or keeps what a backward pass needs (the inverse
 * RMS per row, the gate and up activations), so that training can add the matching backward
 * ops without recomputing or duplicating the forward.
 */
final class Ops {
    private Ops() {}

    private static final VectorSpecies<Float> F = Matmul.F;
    private static final int LANES = F.length();

    /**
     * Masked RMSNorm, row by row: out_i = γ_i · (x_i · r), r = 1/sqrt(Σ_j m_j·x_j² / Σ_j m_j + ε).
     * With no mask (m = null) the statistic is the plain mean of squares, HF's RMSNorm. The
     * inverse RMS r of each row goes to invRms (saved for the backward).
     */
    static void rmsNorm(float[] x, float[] out, int r0, int r1, int d, float[] gamma, float[] mask, double maskSum,
                        double eps, float[] invRms) {
        double count = mask == null ? d : maskSum;
        for (int r = r0; r < r1; r++) {
            int o = r * d;
            FloatVector acc = FloatVector.zero(F);
            int i = 0;
            int bound = F.loopBound(d);
            if (mask == null) {
                for (; i < bound; i += LANES) {
                    FloatVector v = FloatVector.fromArray(F, x, o + i);
                    acc = v.fma(v, acc);
                }
            } else {
                for (; i < bound; i += LANES) {
                    FloatVector v = FloatVector.fromArray(F, x, o + i);
                    acc = v.mul(v).fma(FloatVector.fromArray(F, mask, i), acc);
                }
            }
            double ss = Matmul.sum(acc);
            for (; i < d; i++) ss += (double) x[o + i] * x[o + i] * (mask == null ? 1f : mask[i]);
            float inv = (float) (1.0 / Math.sqrt(ss / count + eps));
            invRms[r] = inv;
            for (i = 0; i < bound; i += LANES) {
                FloatVector v = FloatVector.fromArray(F, x, o + i).mul(inv);
                FloatVector.fromArray(F, gamma, i).mul(v).intoArray(out, o + i);
            }
            for (; i < d; i++) out[o + i] = gamma[i] * (x[o + i] * inv);
        }
    }

    /** SwiGLU with the optional neuron mask: z = silu(g) ⊙ u ⊙ m_f, silu(g) = g / (1 + e^−g). */
    static void swiglu(float[] gate, float[] up, float[] z, int r0, int r1, int f, float[] mask) {
        for (int r = r0; r < r1; r++) swiglu(gate, r * f, up, r * f, z, r * f, f, mask, 0);
    }

    /**
     * z[zo + i] = silu(gate[go + i]) · up[uo + i] (· mask[mo + i], if not null) for i in [0, n): one run of a row,
     * for the products that write SwiGLU's output directly (element-wise, so the same bits as over whole rows).
     */
    static void swiglu(float[] gate, int go, float[] up, int uo, float[] z, int zo, int n, float[] mask, int mo) {
        VectorSpecies<Float> w = Matmul.W;   // element-wise, so any width gives the same bits; Exp sees one species (see Exp)
        int i = 0;
        int bound = w.loopBound(n);
        for (; i < bound; i += w.length()) {
            FloatVector g = FloatVector.fromArray(w, gate, go + i);
            FloatVector silu = g.div(Exp.exp(g.neg()).add(1f));
            FloatVector v = silu.mul(FloatVector.fromArray(w, up, uo + i));
            if (mask != null) v = v.mul(FloatVector.fromArray(w, mask, mo + i));
            v.intoArray(z, zo + i);
        }
        for (; i < n; i++) {
            float g = gate[go + i];
            float v = g / (1f + Exp.exp(-g)) * up[uo + i];
            z[zo + i] = mask == null ? v : v * mask[mo + i];
        }
    }

    /**
     * The residual write h += c_l · (y ⊙ m_h). With no mask and no gate this is h += y.
     */
    static void residualAdd(float[] h, float[] y, int r0, int r1, int d, float[] mask, float gate) {
        if (mask == null) {
            int i = r0 * d, n = r1 * d;
            int bound = i + F.loopBound(n - i);
            if (gate == 1f) {
                for (; i < bound; i += LANES) {
                    FloatVector.fromArray(F, h, i).add(FloatVector.fromArray(F, y, i)).intoArray(h, i);
                }
                for (; i < n; i++) h[i] += y[i];
            } else {
                for (; i < n; i++) h[i] += gate * y[i];
            }
            return;
        }
        for (int r = r0; r < r1; r++) {
            int o = r * d;
            for (int i = 0; i < d; i++) h[o + i] += gate * (y[o + i] * mask[i]);
        }
    }

    /** Per-query-head attention-output mask: u = concat_j(m_q[j]·o_j). */
    static void scaleHeads(float[] u, int r0, int r1, int heads, int hd, float[] mask) {
        for (int r = r0; r < r1; r++) {
            for (int j = 0; j < heads; j++) {
                float m = mask[j];
                int o = (r * heads + j) * hd;
                for (int i = 0; i < hd; i++) u[o + i] *= m;
            }
        }
    }
}
