package dev.arbor.model;

import com.fasterxml.jackson.databind.JsonNode;
import dev.arbor.format.LlamaConfig;
import dev.arbor.format.ModelSource;

/**
 * A deliberately plain float64 transcription of GROWTH.md §2's masked forward (and HF's
 * rope_scaling rules), written without any of the engine's code, for cases the Python reference
 * does not cover (growth masks, rope_scaling). Slow; for tiny models only.
 */
final class NaiveLlama {
    private NaiveLlama() {}

    static double[] logits(ModelSource src, int[] tokens) {
        LlamaConfig c = src.requireConfig();
        int d = c.hiddenSize(), h = c.numAttentionHeads(), g = c.numKeyValueHeads(), hd = c.headDim(),
                f = c.intermediateSize(), v = c.vocabSize(), layers = c.numHiddenLayers(), t = tokens.length;
        double eps = c.rmsNormEps();
        double[] mh = opt(src, "model.grow_mask.hidden", d);
        double[] emb = w(src, "model.embed_tokens.weight");
        double[] head = c.tieWordEmbeddings() ? emb : w(src, "lm_head.weight");
        double[] invFreq = invFreq(c);
        double[][] x = new double[t][d];
        for (int i = 0; i < t; i++) for (int j = 0; j < d; j++) x[i][j] = emb[tokens[i] * d + j] * mh[j];
        for (int l = 0; l < layers; l++) {
            String p = "model.layers." + l + ".";
            double[] mq = opt(src, p + "self_attn.grow_mask", h), mf = opt(src, p + "mlp.grow_mask", f);
            double cl = opt(src, p + "grow_mask", 1)[0];
            double[][] a = mrms(x, w(src, p + "input_layernorm.weight"), mh, eps);
            double[][] q = mm(a, w(src, p + "self_attn.q_proj.weight"), h * hd);
            double[][] k = mm(a, w(src, p + "self_attn.k_proj.weight"), g * hd);
            double[][] vv = mm(a, w(src, p + "self_attn.v_proj.weight"), g * hd);
            for (int i = 0; i < t; i++) {
                rope(q[i], h, hd, i, invFreq);
                rope(k[i], g, hd, i, invFreq);
            }
            double[][] u = new double[t][h * hd];
            for (int i = 0; i < t; i++) {
                for (int j = 0; j < h; j++) {
                    int kvh = j / (h / g);
                    double[] s = new double[i + 1];
                    double max = Double.NEGATIVE_INFINITY;
                    for (int s2 = 0; s2 <= i; s2++) {
                        double dot = 0;
                        for (int e = 0; e < hd; e++) dot += q[i][j * hd + e] * k[s2][kvh * hd + e];
                        s[s2] = dot / Math.sqrt(hd);
                        max = Math.max(max, s[s2]);
                    }
                    double z = 0;
                    for (int s2 = 0; s2 <= i; s2++) z += (s[s2] = Math.exp(s[s2] - max));
                    for (int e = 0; e < hd; e++) {
                        double o = 0;
                        for (int s2 = 0; s2 <= i; s2++) o += s[s2] / z * vv[s2][kvh * hd + e];
                        u[i][j * hd + e] = mq[j] * o;
                    }
                }
            }
            double[][] ao = mm(u, w(src, p + "self_attn.o_proj.weight"), d);
            for (int i = 0; i < t; i++) for (int j = 0; j < d; j++) x[i][j] += cl * ao[i][j] * mh[j];
            double[][] b = mrms(x, w(src, p + "post_attention_layernorm.weight"), mh, eps);
            double[][] gt = mm(b, w(src, p + "mlp.gate_proj.weight"), f), up = mm(b, w(src, p + "mlp.up_proj.weight"), f);
            double[][] zz = new double[t][f];
            for (int i = 0; i < t; i++) for (int j = 0; j < f; j++) zz[i][j] = gt[i][j] / (1 + Math.exp(-gt[i][j])) * up[i][j] * mf[j];
            double[][] dn = mm(zz, w(src, p + "mlp.down_proj.weight"), d);
            for (int i = 0; i < t; i++) for (int j = 0; j < d; j++) x[i][j] += cl * dn[i][j] * mh[j];
        }
        double[][] n = mrms(x, w(src, "model.norm.weight"), mh, eps);
        double[][] lg = mm(n, head, v);
        double[] out = new double[t * v];
        for (int i = 0; i < t; i++) System.arraycopy(lg[i], 0, out, i * v, v);
        return out;
    }

    /** HF's default, linear and llama3 inverse frequencies, written as HF writes them. */
    static double[] invFreq(LlamaConfig c) {
        int hd = c.headDim();
        double[] inv = new double[hd / 2];
        for (int i = 0; i < hd / 2; i++) inv[i] = 1.0 / Math.pow(c.ropeTheta(), (2.0 * i) / hd);
        JsonNode rs = c.ropeScaling();
        if (rs == null) return inv;
        String type = rs.has("rope_type") ? rs.get("rope_type").asText() : rs.get("type").asText();
        double factor = rs.get("factor").asDouble();
        if (type.equals("linear")) {
            for (int i = 0; i < inv.length; i++) inv[i] /= factor;
        } else if (type.equals("llama3")) {
            double lowF = rs.get("low_freq_factor").asDouble(), highF = rs.get("high_freq_factor").asDouble();
            double old = rs.get("original_max_position_embeddings").asDouble();
            double lowWl = old / lowF, highWl = old / highF;
            for (int i = 0; i < inv.length; i++) {
                double wl = 2 * Math.PI / inv[i];
                double scaled = wl > lowWl ? inv[i] / factor : inv[i];
                double smooth = (old / wl - lowF) / (highF - lowF);
                double smoothed = (1 - smooth) * scaled / factor + smooth * scaled;
                boolean medium = !(wl < highWl) && !(wl > lowWl);
                inv[i] = medium ? smoothed : scaled;
            }
        }
        return inv;
    }

    private static void rope(double[] x, int heads, int hd, int pos, double[] inv) {
        for (int j = 0; j < heads; j++) {
            double[] rot = new double[hd];
            for (int e = 0; e < hd; e++) rot[e] = e < hd / 2 ? -x[j * hd + e + hd / 2] : x[j * hd + e - hd / 2];
            for (int e = 0; e < hd; e++) {
                double ang = pos * inv[e % (hd / 2)];
                rot[e] = x[j * hd + e] * Math.cos(ang) + rot[e] * Math.sin(ang);
            }
            System.arraycopy(rot, 0, x, j * hd, hd);
        }
    }

    private static double[][] mrms(double[][] x, double[] gamma, double[] m, double eps) {
        double[][] out = new double[x.length][];
        for (int i = 0; i < x.length; i++) {
            double num = 0, den = 0;
            for (int j = 0; j < gamma.length; j++) {
                num += m[j] * x[i][j] * x[i][j];
                den += m[j];
            }
            double r = 1 / Math.sqrt(num / den + eps);
            out[i] = new double[gamma.length];
            for (int j = 0; j < gamma.length; j++) out[i][j] = gamma[j] * x[i][j] * r;
        }
        return out;
    }

    private static double[][] mm(double[][] x, double[] w, int n) {
        int k = x[0].length;
        double[][] y = new double[x.length][n];
        for (int i = 0; i < x.length; i++) {
            for (int o = 0; o < n; o++) {
                double s = 0;
                for (int e = 0; e < k; e++) s += x[i][e] * w[o * k + e];
                y[i][o] = s;
            }
        }
        return y;
    }

    private static double[] w(ModelSource src, String name) { return src.tensor(name).toDoubleArray(); }

    private static double[] opt(ModelSource src, String name, int n) {
        if (src.contains(name)) return w(src, name);
        double[] ones = new double[n];
        java.util.Arrays.fill(ones, 1);
        return ones;
    }
}
