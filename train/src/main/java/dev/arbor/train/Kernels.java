package dev.arbor.train;

import dev.arbor.model.Exp;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Vectorised element-wise kernels of the training forward and backward. Each works on one row
 * (or one contiguous range) and has a fixed summation order, so results do not depend on how
 * rows are spread over threads.
 *
 * <p>exp is {@link Exp} (IEEE operations only), not the Vector API's EXP or Math.exp: those may
 * differ by an ulp between the interpreter and JIT-compiled code, and a resumed run reaches each
 * step in a different JIT state, so exact resume needs a function whose bits never depend on it.
 */
final class Kernels {
    private Kernels() {}

    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    private static final int LANES = F.length();

    /** z = silu(g) ⊙ u (⊙ m), silu(g) = g·σ(g), over [from, to); mask indexed by i % width. */
    static void swiglu(float[] g, float[] u, float[] z, int from, int to, float[] mask, int width) {
        if (mask == null) {
            int i = from;
            for (int bound = from + F.loopBound(to - from); i < bound; i += LANES) {
                FloatVector gv = FloatVector.fromArray(F, g, i);
                FloatVector sig = Exp.exp(gv.neg()).add(1f);
                gv.div(sig).mul(FloatVector.fromArray(F, u, i)).intoArray(z, i);
            }
            for (; i < to; i++) z[i] = g[i] / (1f + Exp.exp(-g[i])) * u[i];
            return;
        }
        for (int r = from; r < to; r += width) {
            int i = 0;
            for (int bound = F.loopBound(width); i < bound; i += LANES) {
                FloatVector gv = FloatVector.fromArray(F, g, r + i);
                FloatVector sig = Exp.exp(gv.neg()).add(1f);
                gv.div(sig).mul(FloatVector.fromArray(F, u, r + i)).mul(FloatVector.fromArray(F, mask, i)).intoArray(z, r + i);
            }
            for (; i < width; i++) z[r + i] = g[r + i] / (1f + Exp.exp(-g[r + i])) * u[r + i] * mask[i];
        }
    }

    /**
     * Backward of {@link #swiglu}: with dz' = dz ⊙ m, du = dz'·silu(g) and
     * dg = dz'·u·σ(g)·(1 + g·(1 − σ(g))). dg overwrites dz.
     */
    static void swigluBackward(float[] g, float[] u, float[] dz, float[] du, int from, int to, float[] mask, int width) {
        for (int r = from; r < to; r += width) {
            int i = 0;
            for (int bound = F.loopBound(width); i < bound; i += LANES) {
                FloatVector gv = FloatVector.fromArray(F, g, r + i);
                FloatVector d = FloatVector.fromArray(F, dz, r + i);
                if (mask != null) d = d.mul(FloatVector.fromArray(F, mask, i));
                FloatVector sig = FloatVector.broadcast(F, 1f).div(Exp.exp(gv.neg()).add(1f));
                d.mul(gv.mul(sig)).intoArray(du, r + i);
                FloatVector dsilu = sig.mul(gv.mul(sig.neg().add(1f)).add(1f));
                d.mul(FloatVector.fromArray(F, u, r + i)).mul(dsilu).intoArray(dz, r + i);
            }
            for (; i < width; i++) {
                float gi = g[r + i];
                float d = mask == null ? dz[r + i] : dz[r + i] * mask[i];
                float sig = 1f / (1f + Exp.exp(-gi));
                du[r + i] = d * (gi * sig);
                dz[r + i] = d * u[r + i] * (sig * (1f + gi * (1f - sig)));
            }
        }
    }

    /** max over x[off, off+n). */
    static float max(float[] x, int off, int n) {
        int i = 0;
        float m = Float.NEGATIVE_INFINITY;
        if (n >= LANES) {
            FloatVector mv = FloatVector.fromArray(F, x, off);
            for (int bound = F.loopBound(n); i < bound; i += LANES) mv = mv.max(FloatVector.fromArray(F, x, off + i));
            m = mv.reduceLanes(VectorOperators.MAX);
        }
        for (; i < n; i++) m = Math.max(m, x[off + i]);
        return m;
    }

    /** x ← exp(x − shift) over [off, off+n); returns Σ of the new values (lane sums, then in order). */
    static double expShiftSum(float[] x, int off, int n, float shift) {
        int i = 0;
        FloatVector acc = FloatVector.zero(F);
        for (int bound = F.loopBound(n); i < bound; i += LANES) {
            FloatVector e = Exp.exp(FloatVector.fromArray(F, x, off + i).sub(shift));
            e.intoArray(x, off + i);
            acc = acc.add(e);
        }
        double s = 0;
        for (int l = 0; l < LANES; l++) s += acc.lane(l);
        for (; i < n; i++) {
            float e = Exp.exp(x[off + i] - shift);
            x[off + i] = e;
            s += e;
        }
        return s;
    }

    /** Σ exp(x − shift) over [off, off+n) without writing. */
    static double sumExpShift(float[] x, int off, int n, float shift) {
        int i = 0;
        FloatVector acc = FloatVector.zero(F);
        for (int bound = F.loopBound(n); i < bound; i += LANES) {
            acc = acc.add(Exp.exp(FloatVector.fromArray(F, x, off + i).sub(shift)));
        }
        double s = 0;
        for (int l = 0; l < LANES; l++) s += acc.lane(l);
        for (; i < n; i++) s += Exp.exp(x[off + i] - shift);
        return s;
    }

    /** x ← exp(x − shift)·scale over [off, off+n). */
    static void expShiftScale(float[] x, int off, int n, float shift, float scale) {
        int i = 0;
        for (int bound = F.loopBound(n); i < bound; i += LANES) {
            Exp.exp(FloatVector.fromArray(F, x, off + i).sub(shift)).mul(scale).intoArray(x, off + i);
        }
        for (; i < n; i++) x[off + i] = Exp.exp(x[off + i] - shift) * scale;
    }

    /** x ← x·s over [off, off+n). */
    static void scale(float[] x, int off, int n, float s) {
        int i = 0;
        for (int bound = F.loopBound(n); i < bound; i += LANES) FloatVector.fromArray(F, x, off + i).mul(s).intoArray(x, off + i);
        for (; i < n; i++) x[off + i] *= s;
    }

    /** Σ a_i·b_i over n entries (lane sums, then in order). */
    static double dot(float[] a, int ao, float[] b, int bo, int n) {
        int i = 0;
        FloatVector acc = FloatVector.zero(F);
        for (int bound = F.loopBound(n); i < bound; i += LANES) {
            acc = FloatVector.fromArray(F, a, ao + i).fma(FloatVector.fromArray(F, b, bo + i), acc);
        }
        double s = 0;
        for (int l = 0; l < LANES; l++) s += acc.lane(l);
        for (; i < n; i++) s += (double) a[ao + i] * b[bo + i];
        return s;
    }

    /** Σ a_i·b_i·c_i over n entries. */
    static double dot3(float[] a, int ao, float[] b, int bo, float[] c, int co, int n) {
        int i = 0;
        FloatVector acc = FloatVector.zero(F);
        for (int bound = F.loopBound(n); i < bound; i += LANES) {
            acc = FloatVector.fromArray(F, a, ao + i).mul(FloatVector.fromArray(F, b, bo + i)).fma(FloatVector.fromArray(F, c, co + i), acc);
        }
        double s = 0;
        for (int l = 0; l < LANES; l++) s += acc.lane(l);
        for (; i < n; i++) s += (double) a[ao + i] * b[bo + i] * c[co + i];
        return s;
    }

    /** out = γ ⊙ x·r over one row of d. */
    static void scaleRow(float[] x, int o, float[] gamma, float r, float[] out, int d) {
        int i = 0;
        for (int bound = F.loopBound(d); i < bound; i += LANES) {
            FloatVector.fromArray(F, gamma, i).mul(FloatVector.fromArray(F, x, o + i).mul(r)).intoArray(out, o + i);
        }
        for (; i < d; i++) out[o + i] = gamma[i] * (x[o + i] * r);
    }

    /**
     * One row of the RMSNorm backward: dx += r·γ⊙dy − k·(m⊙x), and the row's share of ∂γ,
     * pg += dy⊙x·r.
     */
    static void rmsNormBackwardRow(float[] dy, float[] x, int o, float[] gamma, float[] mask, float r, float k,
                                   float[] dx, float[] pg, int d) {
        int i = 0;
        for (int bound = F.loopBound(d); i < bound; i += LANES) {
            FloatVector dyv = FloatVector.fromArray(F, dy, o + i);
            FloatVector xv = FloatVector.fromArray(F, x, o + i);
            dyv.mul(xv).mul(r).add(FloatVector.fromArray(F, pg, i)).intoArray(pg, i);
            FloatVector xm = mask == null ? xv : xv.mul(FloatVector.fromArray(F, mask, i));
            FloatVector.fromArray(F, gamma, i).mul(dyv).mul(r).sub(xm.mul(k)).add(FloatVector.fromArray(F, dx, o + i)).intoArray(dx, o + i);
        }
        for (; i < d; i++) {
            pg[i] += dy[o + i] * x[o + i] * r;
            float xm = mask == null ? x[o + i] : mask[i] * x[o + i];
            dx[o + i] += r * gamma[i] * dy[o + i] - k * xm;
        }
    }
}
