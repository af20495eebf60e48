package dev.arbor.train;

import dev.arbor.model.Gemm;
import dev.arbor.format.ArborException;
import dev.arbor.format.DType;
import dev.arbor.format.SafetensorsFile;
import dev.arbor.format.TensorEntry;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * AdamW as {@code torch.optim.AdamW} (foreach=False, amsgrad off), with decoupled weight decay,
 * F32 moments, and two parameter groups: matrix-like tensors (embeddings, projections) and
 * vector-like ones (norm gains), each with its own learning rate, as Tele-FLM does. Growth masks
 * are not parameters and never reach the optimizer.
 *
 * <p>For each tensor, in torch's order and precision:
 * <pre>
 *   θ ← θ·(1 − lr·λ)                         (if this tensor decays)
 *   m ← β1·m + (1 − β1)·g
 *   v ← β2·v + (1 − β2)·g²
 *   θ ← θ − (lr / (1 − β1^t)) · m / (√v / √(1 − β2^t) + ε)
 * </pre>
 */
final class AdamW {
    /** Hyperparameters; decayVectors=false decays matrices only (not the norm gains). */
    record Settings(double beta1, double beta2, double eps, double weightDecay, boolean decayVectors) {
        Settings {
            if (!(beta1 >= 0 && beta1 < 1) || !(beta2 >= 0 && beta2 < 1)) throw new ArborException("Adam betas must be in [0, 1).");
            if (!(eps > 0)) throw new ArborException("Adam epsilon must be positive.");
            if (!(weightDecay >= 0)) throw new ArborException("Weight decay must be zero or positive.");
        }
    }

    private final Settings s;
    private final List<Params.Param> params;
    private final float[][] expAvg, expAvgSq;
    private long step;

    AdamW(Params p, Settings s) {
        this.s = s;
        this.params = p.all;
        expAvg = new float[params.size()][];
        expAvgSq = new float[params.size()][];
        for (int i = 0; i < params.size(); i++) {
            expAvg[i] = new float[params.get(i).data.length];
            expAvgSq[i] = new float[params.get(i).data.length];
        }
    }

    long step() { return step; }

    /** One update of every parameter from its .grad, lrMatrix for matrices and lrVector for vectors. */
    void update(Gemm pool, double lrMatrix, double lrVector) {
        step++;
        double bc1 = 1 - StrictMath.pow(s.beta1, step);
        double bc2Sqrt = Math.sqrt(1 - StrictMath.pow(s.beta2, step));
        float b1 = (float) s.beta1, b2 = (float) s.beta2, oneMinusB1 = (float) (1 - s.beta1), oneMinusB2 = (float) (1 - s.beta2);
        float eps = (float) s.eps;
        pool.parallelFor(params.size(), (i, th) -> {
            Params.Param p = params.get(i);
            boolean matrix = p.isMatrix();
            double lr = matrix ? lrMatrix : lrVector;
            boolean decays = s.weightDecay > 0 && (matrix || s.decayVectors);
            float decay = (float) (1 - lr * s.weightDecay);
            float stepSize = (float) (lr / bc1);
            float bc2 = (float) bc2Sqrt;
            float[] w = p.data, g = p.grad, m = expAvg[i], v = expAvgSq[i];
            for (int j = 0; j < w.length; j++) {
                float gj = g[j];
                if (decays) w[j] *= decay;
                m[j] = m[j] * b1 + gj * oneMinusB1;
                v[j] = v[j] * b2 + oneMinusB2 * gj * gj;
                float denom = (float) Math.sqrt(v[j]) / bc2 + eps;
                w[j] -= stepSize * (m[j] / denom);
            }
        });
    }

    /** The optimizer state in the reference's layout: {@code <name>.exp_avg}, {@code <name>.exp_avg_sq}. */
    List<TensorEntry> stateTensors() {
        List<TensorEntry> out = new ArrayList<>();
        for (int i = 0; i < params.size(); i++) {
            Params.Param p = params.get(i);
            out.add(TensorEntry.ofFloats(p.name + ".exp_avg", DType.F32, p.shape, expAvg[i]));
            out.add(TensorEntry.ofFloats(p.name + ".exp_avg_sq", DType.F32, p.shape, expAvgSq[i]));
        }
        return out;
    }

    Map<String, String> stateMetadata() { return Map.of("step", Long.toString(step)); }

    /** Restores moments and step count saved by {@link #stateTensors}; tensors absent from the file start at zero. */
    void restore(SafetensorsFile f) {
        String st = f.metadata().get("step");
        if (st == null) throw new ArborException(f.path() + " has no optimizer step in its metadata.");
        step = Long.parseLong(st);
        for (int i = 0; i < params.size(); i++) {
            Params.Param p = params.get(i);
            if (!f.contains(p.name + ".exp_avg")) continue;
            f.tensor(p.name + ".exp_avg").readFloats(0, expAvg[i], 0, expAvg[i].length);
            f.tensor(p.name + ".exp_avg_sq").readFloats(0, expAvgSq[i], 0, expAvgSq[i].length);
        }
    }

    /**
     * torch.nn.utils.clip_grad_norm_: the global 2-norm of all gradients; when maxNorm > 0 every
     * gradient is scaled by min(1, maxNorm / (norm + 1e-6)). Returns the norm before clipping.
     */
    static double clipGradients(Params p, double maxNorm) {
        double total = 0;
        for (Params.Param q : p.all) {
            double s = 0;
            for (float g : q.grad) s += (double) g * g;
            total += s;
        }
        double norm = Math.sqrt(total);
        if (maxNorm > 0) {
            float coef = (float) Math.min(1.0, maxNorm / (norm + 1e-6));
            if (coef < 1f) for (Params.Param q : p.all) for (int j = 0; j < q.grad.length; j++) q.grad[j] *= coef;
        }
        return norm;
    }
}
