package dev.arbor.grow;

import dev.arbor.format.LlamaConfig;
import dev.arbor.format.LlamaTensors;
import dev.arbor.format.ModelSource;

import java.util.ArrayList;
import java.util.List;
import java.util.stream.IntStream;

/**
 * The masked forward of GROWTH.md §2 in float64, written out plainly (no KV cache, one
 * sequence): the residual stream entering every layer and the logits. Weights are read one row at
 * a time through a {@link RowReader}, so memory is the activations plus one row per thread.
 * Growth uses it for layer distances (§3.4); tests use it for the f64 checks (T1, T6, T8).
 * RoPE tables are exact float64 (rope_scaling is not applied; distances only).
 */
final class ReferenceForward {
    private final RowReader rr;
    private final LlamaConfig c;
    private final int d, h, g, hd, f, v, layers;
    private final double eps, theta;
    private final double[] mh;
    private final double mhSum;

    ReferenceForward(RowReader reader) {
        this.rr = reader;
        this.c = reader.source().requireConfig();
        d = c.hiddenSize();
        h = c.numAttentionHeads();
        g = c.numKeyValueHeads();
        hd = c.headDim();
        f = c.intermediateSize();
        v = c.vocabSize();
        layers = c.numHiddenLayers();
        eps = c.rmsNormEps();
        theta = c.ropeTheta();
        mh = reader.contains(Masks.HIDDEN) ? reader.readAll(Masks.HIDDEN) : null;
        double s = d;
        if (mh != null) {
            s = 0;
            for (double x : mh) s += x;
        }
        mhSum = s;
    }

    /** hidden.get(l) is the residual stream entering layer l ([T][D]); hidden.get(L) the last. */
    record Result(double[][] logits, List<double[][]> hidden) {}

    Result run(int[] tokens, boolean keepHidden) {
        int t = tokens.length;
        double[][] x = new double[t][d];
        for (int i = 0; i < t; i++) {
            rr.readRow("model.embed_tokens.weight", tokens[i], d, x[i]);
            if (mh != null) for (int j = 0; j < d; j++) x[i][j] *= mh[j];
        }
        List<double[][]> hidden = new ArrayList<>();
        if (keepHidden) hidden.add(copy(x));
        double[][] cos = new double[t][hd / 2], sin = new double[t][hd / 2];
        for (int p = 0; p < t; p++) {
            for (int i = 0; i < hd / 2; i++) {
                double ang = p * Math.pow(theta, -2.0 * i / hd);
                cos[p][i] = Math.cos(ang);
                sin[p][i] = Math.sin(ang);
            }
        }
        int r = h / g;
        for (int l = 0; l < layers; l++) {
            String pre = "model.layers." + l + ".";
            double[] mq = rr.contains(Masks.heads(l)) ? rr.readAll(Masks.heads(l)) : null;
            double[] mf = rr.contains(Masks.ffn(l)) ? rr.readAll(Masks.ffn(l)) : null;
            double gate = rr.contains(Masks.layerGate(l)) ? rr.readAll(Masks.layerGate(l))[0] : 1.0;
            double[][] a = norm(x, rr.readAll(pre + "input_layernorm.weight"));
            double[][] q = matmul(a, pre + "self_attn.q_proj.weight", h * hd);
            double[][] k = matmul(a, pre + "self_attn.k_proj.weight", g * hd);
            double[][] vv = matmul(a, pre + "self_attn.v_proj.weight", g * hd);
            for (int p = 0; p < t; p++) {
                rope(q[p], h, cos[p], sin[p]);
                rope(k[p], g, cos[p], sin[p]);
            }
            double[][] u = new double[t][h * hd];
            double scale = 1.0 / Math.sqrt(hd);
            for (int p = 0; p < t; p++) {
                for (int j = 0; j < h; j++) {
                    int kv = j / r;
                    double[] sc = new double[p + 1];
                    double max = Double.NEGATIVE_INFINITY;
                    for (int s = 0; s <= p; s++) {
                        double dot = 0;
                        for (int i = 0; i < hd; i++) dot += q[p][j * hd + i] * k[s][kv * hd + i];
                        sc[s] = dot * scale;
                        max = Math.max(max, sc[s]);
                    }
                    double sum = 0;
                    for (int s = 0; s <= p; s++) {
                        sc[s] = Math.exp(sc[s] - max);
                        sum += sc[s];
                    }
                    double m = mq == null ? 1.0 : mq[j];
                    for (int i = 0; i < hd; i++) {
                        double o = 0;
                        for (int s = 0; s <= p; s++) o += sc[s] * vv[s][kv * hd + i];
                        u[p][j * hd + i] = m * (o / sum);
                    }
                }
            }
            write(x, matmul(u, pre + "self_attn.o_proj.weight", d), gate);
            double[][] b = norm(x, rr.readAll(pre + "post_attention_layernorm.weight"));
            double[][] gg = matmul(b, pre + "mlp.gate_proj.weight", f);
            double[][] up = matmul(b, pre + "mlp.up_proj.weight", f);
            for (int p = 0; p < t; p++) {
                for (int j = 0; j < f; j++) {
                    double z = gg[p][j] / (1 + Math.exp(-gg[p][j])) * up[p][j];
                    gg[p][j] = mf == null ? z : z * mf[j];
                }
            }
            write(x, matmul(gg, pre + "mlp.down_proj.weight", d), gate);
            if (keepHidden) hidden.add(copy(x));
        }
        double[][] n = norm(x, rr.readAll("model.norm.weight"));
        String head = c.tieWordEmbeddings() ? "model.embed_tokens.weight" : "lm_head.weight";
        return new Result(matmul(n, head, v), hidden);
    }

    private void write(double[][] x, double[][] y, double gate) {
        for (int p = 0; p < x.length; p++) {
            for (int j = 0; j < d; j++) {
                double w = y[p][j];
                if (mh != null) w *= mh[j];
                x[p][j] += gate * w;
            }
        }
    }

    private double[][] norm(double[][] x, double[] gamma) {
        double[][] out = new double[x.length][d];
        for (int p = 0; p < x.length; p++) {
            double ss = 0;
            for (int j = 0; j < d; j++) ss += (mh == null ? 1.0 : mh[j]) * x[p][j] * x[p][j];
            double inv = 1.0 / Math.sqrt(ss / mhSum + eps);
            for (int j = 0; j < d; j++) out[p][j] = gamma[j] * (x[p][j] * inv);
        }
        return out;
    }

    private void rope(double[] q, int heads, double[] cos, double[] sin) {
        int half = hd / 2;
        for (int j = 0; j < heads; j++) {
            int o = j * hd;
            for (int i = 0; i < half; i++) {
                double a = q[o + i], b = q[o + i + half];
                q[o + i] = a * cos[i] - b * sin[i];
                q[o + i + half] = b * cos[i] + a * sin[i];
            }
        }
    }

    /** y = x·Wᵀ for W [out, in], rows of W read on demand, in parallel over output rows. */
    private double[][] matmul(double[][] x, String name, int out) {
        int t = x.length, in = x[0].length;
        double[][] y = new double[t][out];
        int chunk = Math.max(1, out / (4 * Runtime.getRuntime().availableProcessors()));
        IntStream.range(0, (out + chunk - 1) / chunk).parallel().forEach(ci -> {
            double[] row = new double[in];
            for (int o = ci * chunk; o < Math.min(out, (ci + 1) * chunk); o++) {
                rr.readRow(name, o, in, row);
                for (int p = 0; p < t; p++) {
                    double[] xp = x[p];
                    double s = 0;
                    for (int i = 0; i < in; i++) s += xp[i] * row[i];
                    y[p][o] = s;
                }
            }
        });
        return y;
    }

    private static double[][] copy(double[][] x) {
        double[][] o = new double[x.length][];
        for (int i = 0; i < x.length; i++) o[i] = x[i].clone();
        return o;
    }

    static String layer(int l, String rest) { return LlamaTensors.layer(l, rest); }
}
