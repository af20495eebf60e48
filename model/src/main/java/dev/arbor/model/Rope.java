package dev.arbor.model;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;
import com.fasterxml.jackson.databind.JsonNode;
import dev.arbor.format.ArborException;
import dev.arbor.format.LlamaConfig;

/**
 * Rotary position embedding in HF's rotate_half layout: inside each head, dimension i is paired
 * with i + hd/2 and turned by the angle pos·inv_freq[i], inv_freq[i] = θ^(−2i/hd):
 * <pre>  x'[i] = x[i]·cos − x[i+hd/2]·sin,   x'[i+hd/2] = x[i+hd/2]·cos + x[i]·sin</pre>
 *
 * <p>Convention: inv_freq, the angles and cos/sin are computed in double and rounded once to
 * float. This is the reference's {@code --rope exact} mode. HF itself builds the tables in
 * float32 (the reference's {@code --rope hf}), which moves logits by ~3e-5 relative at
 * positions near 2k; the exact tables are the more accurate of the two.
 *
 * <p>rope_scaling: {@code linear} divides every frequency by the factor; {@code llama3}
 * (LLaMA 3.1) divides the low frequencies by the factor, keeps the high ones and interpolates
 * between, as HF's {@code _compute_llama3_parameters}. Tables grow on demand up to
 * max_position_embeddings.
 *
 * <p>Public because training needs the same tables (and {@link #applyInverse}, the transpose of
 * the rotation, for the backward pass).
 */
public final class Rope {
    private final int half;
    private final double[] invFreq;
    private final int maxPositions;
    private volatile float[] cos = new float[0];
    private volatile float[] sin = new float[0];

    public Rope(LlamaConfig cfg, String where) {
        int hd = cfg.headDim();
        if (hd % 2 != 0) throw new ArborException(where + ": head_dim " + hd + " is odd; rotary embedding needs an even head_dim.");
        half = hd / 2;
        maxPositions = cfg.maxPositionEmbeddings();
        double theta = cfg.ropeTheta();
        invFreq = new double[half];
        for (int i = 0; i < half; i++) invFreq[i] = StrictMath.pow(theta, -2.0 * i / hd);
        applyScaling(cfg.ropeScaling(), where);
    }

    private void applyScaling(JsonNode rs, String where) {
        if (rs == null) return;
        String type = rs.hasNonNull("rope_type") ? rs.get("rope_type").asText() : rs.hasNonNull("type") ? rs.get("type").asText() : "default";
        switch (type) {
            case "default" -> { }
            case "linear" -> {
                double factor = positive(rs, "factor", where);
                for (int i = 0; i < half; i++) invFreq[i] /= factor;
            }
            case "llama3" -> {
                double factor = positive(rs, "factor", where);
                double low = positive(rs, "low_freq_factor", where);
                double high = positive(rs, "high_freq_factor", where);
                double oldContext = positive(rs, "original_max_position_embeddings", where);
                if (high <= low) throw new ArborException(where + ": rope_scaling needs high_freq_factor > low_freq_factor.");
                double lowWavelen = oldContext / low, highWavelen = oldContext / high;
                for (int i = 0; i < half; i++) {
                    double wavelen = 2 * Math.PI / invFreq[i];
                    if (wavelen > lowWavelen) {
                        invFreq[i] /= factor;
                    } else if (wavelen >= highWavelen) {
                        double smooth = (oldContext / wavelen - low) / (high - low);
                        invFreq[i] = (1 - smooth) * invFreq[i] / factor + smooth * invFreq[i];
                    }
                }
            }
            default -> throw new ArborException(where + ": rope_scaling type '" + type
                    + "' is not supported; Arbor supports llama3 and linear.");
        }
    }

    private static double positive(JsonNode rs, String field, String where) {
        JsonNode n = rs.get(field);
        if (n == null || !n.isNumber() || !(n.doubleValue() > 0)) {
            throw new ArborException(where + ": rope_scaling needs a positive number '" + field + "'.");
        }
        return n.doubleValue();
    }

    public int maxPositions() { return maxPositions; }

    /** Makes sure the tables cover positions [0, n). */
    public void ensure(int n) {
        if (cos.length >= n * half) return;
        synchronized (this) {
            if (cos.length >= n * half) return;
            int cap = Math.min(maxPositions, Math.max(n, Math.max(256, 2 * cos.length / Math.max(half, 1))));
            cap = Math.max(cap, n);
            float[] c = new float[cap * half], s = new float[cap * half];
            for (int p = 0; p < cap; p++) {
                for (int i = 0; i < half; i++) {
                    double angle = p * invFreq[i];
                    c[p * half + i] = (float) StrictMath.cos(angle);
                    s[p * half + i] = (float) StrictMath.sin(angle);
                }
            }
            sin = s;
            cos = c;
        }
    }

    /** Rotates `heads` heads of width 2·half stored at x[off...] for position pos. */
    public void apply(float[] x, int off, int heads, int pos) { rotate(x, off, heads, pos, 1f); }

    /**
     * The transpose of {@link #apply} (a rotation by −angle): maps the gradient with respect to
     * the rotated vector to the gradient with respect to the unrotated one.
     */
    public void applyInverse(float[] x, int off, int heads, int pos) { rotate(x, off, heads, pos, -1f); }

    /**
     * x'[i] = x[i]·cos − x[i+half]·(±sin), x'[i+half] = x[i+half]·cos + x[i]·(±sin). Vectors of
     * {@link #V} pairs, then single pairs: the same roundings either way (no fused operations).
     */
    private void rotate(float[] x, int off, int heads, int pos, float direction) {
        float[] c = cos, s = sin;
        int tab = pos * half;
        int hd = 2 * half;
        int bound = V.loopBound(half);
        for (int h = 0; h < heads; h++) {
            int b = off + h * hd;
            int i = 0;
            for (; i < bound; i += V.length()) {
                FloatVector x1 = FloatVector.fromArray(V, x, b + i), x2 = FloatVector.fromArray(V, x, b + i + half);
                FloatVector ci = FloatVector.fromArray(V, c, tab + i), si = FloatVector.fromArray(V, s, tab + i).mul(direction);
                x1.mul(ci).sub(x2.mul(si)).intoArray(x, b + i);
                x2.mul(ci).add(x1.mul(si)).intoArray(x, b + i + half);
            }
            for (; i < half; i++) {
                float x1 = x[b + i], x2 = x[b + i + half];
                float ci = c[tab + i], si = direction * s[tab + i];
                x[b + i] = x1 * ci - x2 * si;
                x[b + i + half] = x2 * ci + x1 * si;
            }
        }
    }

    private static final VectorSpecies<Float> V = FloatVector.SPECIES_256;
}
