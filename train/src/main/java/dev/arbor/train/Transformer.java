package dev.arbor.train;

import dev.arbor.model.Gemm;
import dev.arbor.format.ArborException;
import dev.arbor.model.Rope;

import java.util.Arrays;

/**
 * The masked LLaMA forward of GROWTH.md §2 over a batch of equal-length sequences, keeping every
 * activation the backward pass needs, and the backward pass itself: gradients of the mean
 * next-token cross-entropy with respect to every weight, added into {@link Params.Param#grad}.
 *
 * <p>Notation follows GROWTH.md: h is the residual stream, a = MRMS(h; γ_in, m_h),
 * u = concat_j(m_q[j]·o_j), b = MRMS(h; γ_post, m_h), z = silu(b·W_gᵀ) ⊙ (b·W_uᵀ) ⊙ m_f, and every
 * write into h is scaled by c_l and m_h. Masks are constants: they get no gradient.
 *
 * <p>Every reduction has a fixed order that depends neither on the thread count nor on timing, so
 * a run repeats bit for bit (which is what exact resume relies on).
 */
final class Transformer {
    /** Rows of logits computed at once: bounds the [rows, vocab] buffer. */
    private static final int LOGIT_ROWS = 256;
    /** Rows per parallel task of the element-wise kernels, and per partial sum of norm gains. */
    private static final int ROW_BLOCK = 64;

    private final Params p;
    private final Gemm gemm;
    private final Rope rope;
    private final int d, heads, kvHeads, hd, qd, kvd, f, vocab, layersCount;
    private final double eps;
    private final float scale;
    private Tape tape;

    /** The summed loss of the counted targets and their number. */
    record LossSum(double sum, long count) {
        double mean() { return count == 0 ? Double.NaN : sum / count; }
    }

    Transformer(Params p, Gemm gemm) {
        this.p = p;
        this.gemm = gemm;
        this.rope = new Rope(p.config, "model");
        d = p.hidden;
        heads = p.heads;
        kvHeads = p.kvHeads;
        hd = p.headDim;
        qd = heads * hd;
        kvd = kvHeads * hd;
        f = p.ffn;
        vocab = p.vocab;
        layersCount = p.numLayers;
        eps = p.config.rmsNormEps();
        scale = (float) (1.0 / Math.sqrt(hd));
    }

    /** Forward only: the summed loss over targets (−1 = not a target). */
    LossSum loss(int[][] inputs, int[][] targets) {
        return run(inputs, targets, 0, false);
    }

    /**
     * Forward and backward: adds ∂(Σ counted losses / denominator)/∂θ into every gradient buffer.
     * With gradient accumulation the denominator is the number of targets in the whole step, so
     * the accumulated gradient is that of the step's token-mean loss.
     */
    LossSum forwardBackward(int[][] inputs, int[][] targets, double denominator) {
        if (!(denominator > 0)) throw new IllegalArgumentException("denominator must be positive");
        return run(inputs, targets, denominator, true);
    }

    private LossSum run(int[][] inputs, int[][] targets, double denominator, boolean backward) {
        int batch = inputs.length;
        if (batch == 0 || targets.length != batch) throw new IllegalArgumentException("one target row per input row is needed");
        int t = inputs[0].length;
        for (int b = 0; b < batch; b++) {
            if (inputs[b].length != t || targets[b].length != t) throw new IllegalArgumentException("sequences in a batch must have equal length");
            for (int i = 0; i < t; i++) {
                if (inputs[b][i] < 0 || inputs[b][i] >= vocab || targets[b][i] < -1 || targets[b][i] >= vocab) {
                    throw new ArborException("Token id " + Math.max(inputs[b][i], targets[b][i]) + " is outside the vocabulary (size " + vocab + ").");
                }
            }
        }
        if (t > rope.maxPositions()) {
            throw new ArborException("The sequence length " + t + " is above the model's max_position_embeddings (" + rope.maxPositions() + ").");
        }
        rope.ensure(t);
        if (tape == null || tape.batch != batch || tape.t != t) tape = new Tape(batch, t);
        Tape w = tape;
        int n = batch * t;

        // (1) h = E[t] ⊙ m_h
        for (int b = 0; b < batch; b++) {
            for (int i = 0; i < t; i++) {
                int r = b * t + i;
                System.arraycopy(p.embed.data, inputs[b][i] * d, w.h, r * d, d);
                if (p.hiddenMask != null) mulRow(w.h, r * d, p.hiddenMask);
            }
        }
        for (int l = 0; l < layersCount; l++) layerForward(l, w);
        System.arraycopy(w.h, 0, w.hFinal, 0, n * d);
        rmsNorm(w.hFinal, w.nFinal, n, p.finalNorm.data, w.invFinal);

        double lossScale = backward ? 1.0 / denominator : 0;
        if (backward) Arrays.fill(w.dh, 0f);
        LossSum loss = headAndLoss(w, targets, lossScale, backward);
        if (!backward) return loss;

        // Final norm backward: dnFinal is in w.da; it flows into dh.
        rmsNormBackward(w.da, w.hFinal, w.invFinal, p.finalNorm, w.dh, n);
        for (int l = layersCount - 1; l >= 0; l--) layerBackward(l, w);
        // (1) backward: dE[t] += dh ⊙ m_h, in row order.
        float[] ge = p.embed.grad;
        for (int b = 0; b < batch; b++) {
            for (int i = 0; i < t; i++) {
                int r = b * t + i, o = inputs[b][i] * d;
                if (p.hiddenMask == null) for (int c = 0; c < d; c++) ge[o + c] += w.dh[r * d + c];
                else for (int c = 0; c < d; c++) ge[o + c] += w.dh[r * d + c] * p.hiddenMask[c];
            }
        }
        return loss;
    }

    // ---------------------------------------------------------------- forward

    private void layerForward(int l, Tape w) {
        Params.Layer lp = p.layers[l];
        LayerTape s = w.layers[l];
        int n = w.n;
        float gateC = p.layerGate[l];
        System.arraycopy(w.h, 0, s.hIn, 0, n * d);
        rmsNorm(s.hIn, s.a1, n, lp.inputNorm().data, s.inv1);                     // (2)
        linear(s.a1, n, lp.q(), s.q);
        linear(s.a1, n, lp.k(), s.k);
        linear(s.a1, n, lp.v(), s.v);
        gemm.parallelFor(w.batch, (b, th) -> {
            for (int i = 0; i < w.t; i++) {
                int r = b * w.t + i;
                rope.apply(s.q, r * qd, heads, i);
                rope.apply(s.k, r * kvd, kvHeads, i);
            }
        });
        attentionForward(w, s);
        float[] hm = p.headMask[l];
        if (hm != null) scaleHeads(s.u, n, hm);                                  // (3)
        linear(s.u, n, lp.o(), w.y);
        residualWrite(w.h, w.y, n, gateC);                                       // (4)
        System.arraycopy(w.h, 0, s.hMid, 0, n * d);
        rmsNorm(s.hMid, s.a2, n, lp.postNorm().data, s.inv2);                    // (5)
        linear(s.a2, n, lp.gate(), s.g);
        linear(s.a2, n, lp.up(), s.up);
        float[] fm = p.ffnMask[l];
        forRows(n, (r0, r1) -> Kernels.swiglu(s.g, s.up, s.z, r0 * f, r1 * f, fm, f));   // (6)
        linear(s.z, n, lp.down(), w.y);
        residualWrite(w.h, w.y, n, gateC);                                       // (7)
    }

    /** o_j = softmax(q_j·k_gᵀ/√hd + causal)·v_g for every sequence b and query head j; P is kept. */
    private void attentionForward(Tape w, LayerTape s) {
        int t = w.t, group = heads / kvHeads;
        gemm.parallelFor(w.batch * heads, (bj, th) -> {
            int b = bj / heads, j = bj % heads, g = j / group;
            int pOff = bj * t * t;
            float[] pm = s.p;
            gemm.multiplySerial(t, t, hd, s.q, b * t * qd + j * hd, qd, false,
                    s.k, b * t * kvd + g * hd, kvd, true, pm, pOff, t, false);
            for (int i = 0; i < t; i++) {
                int row = pOff + i * t;
                Kernels.scale(pm, row, i + 1, scale);
                double total = Kernels.expShiftSum(pm, row, i + 1, Kernels.max(pm, row, i + 1));
                Kernels.scale(pm, row, i + 1, (float) (1.0 / total));
                Arrays.fill(pm, row + i + 1, row + t, 0f);
            }
            gemm.multiplySerial(t, hd, t, pm, pOff, t, false, s.v, b * t * kvd + g * hd, kvd, false,
                    s.u, b * t * qd + j * hd, qd, false);
        });
    }

    /** (8) logits = MRMS(h)·W_lmᵀ, cross-entropy, and (with backward) its gradient, chunk by chunk. */
    private LossSum headAndLoss(Tape w, int[][] targets, double lossScale, boolean backward) {
        int n = w.n, t = w.t;
        double sum = 0;
        long count = 0;
        double[] rowLoss = w.rowLoss;
        for (int r0 = 0; r0 < n; r0 += LOGIT_ROWS) {
            int rows = Math.min(LOGIT_ROWS, n - r0);
            int base = r0;
            gemm.multiply(rows, vocab, d, w.nFinal, base * d, d, false, p.lmHead.data, 0, d, true, w.logits, 0, vocab, false);
            gemm.parallelFor(rows, (i, th) -> {
                int r = base + i;
                int target = targets[r / t][r % t];
                int o = i * vocab;
                if (target < 0) {
                    rowLoss[r] = Double.NaN;
                    if (backward) Arrays.fill(w.logits, o, o + vocab, 0f);
                    return;
                }
                float max = Kernels.max(w.logits, o, vocab);
                double logZ = max + StrictMath.log(Kernels.sumExpShift(w.logits, o, vocab, max));
                rowLoss[r] = logZ - w.logits[o + target];
                if (backward) {
                    // ∂loss/∂logit_c = (softmax_c − [c = target]) / denominator
                    Kernels.expShiftScale(w.logits, o, vocab, (float) logZ, (float) lossScale);
                    w.logits[o + target] -= (float) lossScale;
                }
            });
            for (int i = 0; i < rows; i++) {
                if (!Double.isNaN(rowLoss[base + i])) {
                    sum += rowLoss[base + i];
                    count++;
                }
            }
            if (backward) {
                gemm.multiply(rows, d, vocab, w.logits, 0, vocab, false, p.lmHead.data, 0, d, false, w.da, base * d, d, false);
                gemm.multiply(vocab, d, rows, w.logits, 0, vocab, true, w.nFinal, base * d, d, false, p.lmHead.grad, 0, d, true);
            }
        }
        return new LossSum(sum, count);
    }

    // ---------------------------------------------------------------- backward

    /** Reverses layerForward; on entry w.dh is ∂L/∂h after the layer, on exit ∂L/∂h before it. */
    private void layerBackward(int l, Tape w) {
        Params.Layer lp = p.layers[l];
        LayerTape s = w.layers[l];
        int n = w.n;
        float gateC = p.layerGate[l];

        // (7) h += c_l·((z·W_dᵀ) ⊙ m_h): dy = c_l·dh ⊙ m_h; dh passes through.
        residualGrad(w.dh, w.dy, n, gateC);
        gemm.multiply(n, f, d, w.dy, 0, d, false, lp.down().data, 0, f, false, w.dz, 0, f, false);
        weightGrad(w.dy, s.z, n, lp.down());
        // (6) z = silu(g) ⊙ up ⊙ m_f
        float[] fm = p.ffnMask[l];
        forRows(n, (r0, r1) -> Kernels.swigluBackward(s.g, s.up, w.dz, w.dUp, r0 * f, r1 * f, fm, f));   // dz becomes ∂L/∂g
        gemm.multiply(n, d, f, w.dz, 0, f, false, lp.gate().data, 0, d, false, w.da, 0, d, false);
        gemm.multiply(n, d, f, w.dUp, 0, f, false, lp.up().data, 0, d, false, w.da, 0, d, true);
        weightGrad(w.dz, s.a2, n, lp.gate());
        weightGrad(w.dUp, s.a2, n, lp.up());
        // (5)
        rmsNormBackward(w.da, s.hMid, s.inv2, lp.postNorm(), w.dh, n);

        // (4) h += c_l·((u·W_oᵀ) ⊙ m_h)
        residualGrad(w.dh, w.dy, n, gateC);
        gemm.multiply(n, qd, d, w.dy, 0, d, false, lp.o().data, 0, qd, false, w.dU, 0, qd, false);
        weightGrad(w.dy, s.u, n, lp.o());
        float[] hm = p.headMask[l];
        if (hm != null) scaleHeads(w.dU, n, hm);                                 // (3)
        attentionBackward(w, s);
        gemm.parallelFor(w.batch, (b, th) -> {
            for (int i = 0; i < w.t; i++) {
                int r = b * w.t + i;
                rope.applyInverse(w.dQ, r * qd, heads, i);
                rope.applyInverse(w.dK, r * kvd, kvHeads, i);
            }
        });
        gemm.multiply(n, d, qd, w.dQ, 0, qd, false, lp.q().data, 0, d, false, w.da, 0, d, false);
        gemm.multiply(n, d, kvd, w.dK, 0, kvd, false, lp.k().data, 0, d, false, w.da, 0, d, true);
        gemm.multiply(n, d, kvd, w.dV, 0, kvd, false, lp.v().data, 0, d, false, w.da, 0, d, true);
        weightGrad(w.dQ, s.a1, n, lp.q());
        weightGrad(w.dK, s.a1, n, lp.k());
        weightGrad(w.dV, s.a1, n, lp.v());
        // (2)
        rmsNormBackward(w.da, s.hIn, s.inv1, lp.inputNorm(), w.dh, n);
    }

    /**
     * Attention backward per sequence and kv head g (its query heads run in order, so the shared
     * dK/dV sums have a fixed order): dP = dO·Vᵀ, dV += Pᵀ·dO, dS = P ⊙ (dP − rowsum(dP ⊙ P))/√hd,
     * dQ = dS·K, dK += dSᵀ·Q.
     */
    private void attentionBackward(Tape w, LayerTape s) {
        int t = w.t, group = heads / kvHeads;
        gemm.parallelFor(w.batch * kvHeads, (bg, th) -> {
            int b = bg / kvHeads, g = bg % kvHeads;
            float[] dp = w.scratch[th];
            int kOff = b * t * kvd + g * hd;
            for (int j = g * group; j < (g + 1) * group; j++) {
                int qOff = b * t * qd + j * hd;
                int pOff = (b * heads + j) * t * t;
                boolean first = j == g * group;
                gemm.multiplySerial(t, t, hd, w.dU, qOff, qd, false, s.v, kOff, kvd, true, dp, 0, t, false);
                gemm.multiplySerial(t, hd, t, s.p, pOff, t, true, w.dU, qOff, qd, false, w.dV, kOff, kvd, !first);
                for (int i = 0; i < t; i++) {
                    int row = i * t, prow = pOff + i * t;
                    float dt = (float) Kernels.dot(dp, row, s.p, prow, i + 1);
                    for (int c = 0; c <= i; c++) dp[row + c] = s.p[prow + c] * (dp[row + c] - dt) * scale;
                    Arrays.fill(dp, row + i + 1, row + t, 0f);
                }
                gemm.multiplySerial(t, hd, t, dp, 0, t, false, s.k, kOff, kvd, false, w.dQ, qOff, qd, false);
                gemm.multiplySerial(t, hd, t, dp, 0, t, true, s.q, qOff, qd, false, w.dK, kOff, kvd, !first);
            }
        });
    }

    // ---------------------------------------------------------------- kernels

    /** y = x·Wᵀ for a weight stored [out, in]. */
    private void linear(float[] x, int rows, Params.Param wt, float[] y) {
        int out = (int) wt.shape[0], in = (int) wt.shape[1];
        gemm.multiply(rows, out, in, x, 0, in, false, wt.data, 0, in, true, y, 0, out, false);
    }

    /** ∂W += dyᵀ·x for y = x·Wᵀ. */
    private void weightGrad(float[] dy, float[] x, int rows, Params.Param wt) {
        int out = (int) wt.shape[0], in = (int) wt.shape[1];
        gemm.multiply(out, in, rows, dy, 0, out, true, x, 0, in, false, wt.grad, 0, in, true);
    }

    private void scaleHeads(float[] u, int n, float[] mask) {
        forRows(n, (r0, r1) -> {
            for (int r = r0; r < r1; r++) {
                for (int j = 0; j < heads; j++) {
                    float m = mask[j];
                    int o = r * qd + j * hd;
                    for (int i = 0; i < hd; i++) u[o + i] *= m;
                }
            }
        });
    }

    /** h += c·(y ⊙ m_h). */
    private void residualWrite(float[] h, float[] y, int n, float gateC) {
        float[] m = p.hiddenMask;
        forRows(n, (r0, r1) -> {
            for (int r = r0; r < r1; r++) {
                int o = r * d;
                if (m == null && gateC == 1f) for (int c = 0; c < d; c++) h[o + c] += y[o + c];
                else if (m == null) for (int c = 0; c < d; c++) h[o + c] += gateC * y[o + c];
                else for (int c = 0; c < d; c++) h[o + c] += gateC * (y[o + c] * m[c]);
            }
        });
    }

    /** dy = c·(dh ⊙ m_h), the gradient reaching a residual write's branch. */
    private void residualGrad(float[] dh, float[] dy, int n, float gateC) {
        float[] m = p.hiddenMask;
        forRows(n, (r0, r1) -> {
            for (int r = r0; r < r1; r++) {
                int o = r * d;
                if (m == null) for (int c = 0; c < d; c++) dy[o + c] = gateC * dh[o + c];
                else for (int c = 0; c < d; c++) dy[o + c] = gateC * (dh[o + c] * m[c]);
            }
        });
    }

    /** MRMS(x; γ, m) row by row: out = γ ⊙ x·r, r = 1/sqrt(Σ m_j x_j² / Σ m_j + ε). */
    private void rmsNorm(float[] x, float[] out, int n, float[] gamma, float[] inv) {
        float[] m = p.hiddenMask;
        double count = m == null ? d : sum(m);
        forRows(n, (r0, r1) -> {
            for (int r = r0; r < r1; r++) {
                int o = r * d;
                double ss = m == null ? Kernels.dot(x, o, x, o, d) : Kernels.dot3(x, o, x, o, m, 0, d);
                float ri = (float) (1.0 / Math.sqrt(ss / count + eps));
                inv[r] = ri;
                Kernels.scaleRow(x, o, gamma, ri, out, d);
            }
        });
    }

    /**
     * Backward of MRMS: with y_i = γ_i·x_i·r and ∂r/∂x_i = −r³·m_i·x_i/M (M = Σ m),
     * ∂L/∂x_i = r·γ_i·dy_i − (r³/M)·m_i·x_i·Σ_j dy_j·γ_j·x_j, and ∂L/∂γ_i = Σ_rows dy_i·x_i·r.
     * dx is added into dxOut; the γ sums run over fixed row blocks, combined in block order.
     */
    private void rmsNormBackward(float[] dy, float[] x, float[] inv, Params.Param gamma, float[] dxOut, int n) {
        float[] m = p.hiddenMask;
        float[] gm = gamma.data;
        double count = m == null ? d : sum(m);
        int blocks = Math.ceilDiv(n, ROW_BLOCK);
        float[][] partial = tape.gammaPartial;
        gemm.parallelFor(blocks, (blk, th) -> {
            int r0 = blk * ROW_BLOCK, r1 = Math.min(n, r0 + ROW_BLOCK);
            float[] pg = partial[blk];
            Arrays.fill(pg, 0f);
            for (int r = r0; r < r1; r++) {
                int o = r * d;
                float ri = inv[r];
                double dot = Kernels.dot3(dy, o, gm, 0, x, o, d);
                float k = (float) ((double) ri * ri * ri * dot / count);
                Kernels.rmsNormBackwardRow(dy, x, o, gm, m, ri, k, dxOut, pg, d);
            }
        });
        float[] gg = gamma.grad;
        for (int blk = 0; blk < blocks; blk++) {
            float[] pg = partial[blk];
            for (int c = 0; c < d; c++) gg[c] += pg[c];
        }
    }

    private interface RowRange { void run(int r0, int r1); }

    /** Runs body over fixed blocks of rows in parallel. */
    private void forRows(int n, RowRange body) {
        int blocks = Math.ceilDiv(n, ROW_BLOCK);
        gemm.parallelFor(blocks, (blk, th) -> body.run(blk * ROW_BLOCK, Math.min(n, (blk + 1) * ROW_BLOCK)));
    }

    private static void mulRow(float[] x, int off, float[] m) {
        for (int c = 0; c < m.length; c++) x[off + c] *= m[c];
    }

    private static double sum(float[] a) {
        double s = 0;
        for (float x : a) s += x;
        return s;
    }

    // ---------------------------------------------------------------- buffers

    /** Activations of one layer, saved by the forward for the backward. */
    private final class LayerTape {
        final float[] hIn, inv1, a1, q, k, v, p, u, hMid, inv2, a2, g, up, z;

        LayerTape(int batch, int t) {
            int n = batch * t;
            hIn = new float[n * d];
            inv1 = new float[n];
            a1 = new float[n * d];
            q = new float[n * qd];
            k = new float[n * kvd];
            v = new float[n * kvd];
            p = new float[Math.multiplyExact(batch * heads, t * t)];
            u = new float[n * qd];
            hMid = new float[n * d];
            inv2 = new float[n];
            a2 = new float[n * d];
            g = new float[n * f];
            up = new float[n * f];
            z = new float[n * f];
        }
    }

    /** All buffers of one batch shape, reused while the shape stays the same. */
    private final class Tape {
        final int batch, t, n;
        final LayerTape[] layers;
        final float[] h, y, hFinal, nFinal, invFinal, logits;
        final double[] rowLoss;
        final float[] dh, dy, da, dz, dUp, dU, dQ, dK, dV;
        final float[][] scratch, gammaPartial;

        Tape(int batch, int t) {
            this.batch = batch;
            this.t = t;
            this.n = Math.multiplyExact(batch, t);
            layers = new LayerTape[layersCount];
            for (int l = 0; l < layersCount; l++) layers[l] = new LayerTape(batch, t);
            h = new float[n * d];
            y = new float[n * d];
            hFinal = new float[n * d];
            nFinal = new float[n * d];
            invFinal = new float[n];
            logits = new float[Math.multiplyExact(Math.min(n, LOGIT_ROWS), vocab)];
            rowLoss = new double[n];
            dh = new float[n * d];
            dy = new float[n * d];
            da = new float[n * d];
            dz = new float[n * f];
            dUp = new float[n * f];
            dU = new float[n * qd];
            dQ = new float[n * qd];
            dK = new float[n * kvd];
            dV = new float[n * kvd];
            scratch = new float[gemm.threads()][t * t];
            gammaPartial = new float[Math.ceilDiv(n, ROW_BLOCK)][d];
        }
    }
}
