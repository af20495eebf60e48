package dev.arbor.model;

import dev.arbor.format.ArborException;

import java.util.List;

/**
 * Compares what two models do on the same probe sequences: at every position, whether their
 * next-token argmax agrees and the KL divergence KL(P_a ‖ P_b) of their next-token
 * distributions. Used by {@code arbor diff --probe} to say how far a version moved from another.
 */
public final class BehaviourProbe {
    private BehaviourProbe() {}

    /** Agreement over all probe positions; KL in nats. */
    public record Result(int positions, double top1Agreement, double meanKl, double maxKl, double maxRelLogitDiff) {}

    public static Result compare(LlamaModel a, LlamaModel b, List<int[]> sequences) {
        if (a.vocabSize() != b.vocabSize()) {
            throw new ArborException("The models have different vocabularies (" + a.vocabSize() + " and " + b.vocabSize()
                    + " ids), so their next-token distributions cannot be compared.");
        }
        int v = a.vocabSize();
        int positions = 0, agree = 0;
        double klSum = 0, klMax = 0, maxAbs = 0, maxRef = 0;
        for (int[] seq : sequences) {
            float[] la = a.logits(seq), lb = b.logits(seq);
            for (int t = 0; t < seq.length; t++) {
                int off = t * v;
                double[] pa = logSoftmax(la, off, v), pb = logSoftmax(lb, off, v);
                double kl = 0;
                int argA = 0, argB = 0;
                for (int i = 0; i < v; i++) {
                    kl += Math.exp(pa[i]) * (pa[i] - pb[i]);
                    if (la[off + i] > la[off + argA]) argA = i;
                    if (lb[off + i] > lb[off + argB]) argB = i;
                    maxAbs = Math.max(maxAbs, Math.abs(la[off + i] - lb[off + i]));
                    maxRef = Math.max(maxRef, Math.abs(la[off + i]));
                }
                kl = Math.max(0, kl);   // rounding can make an exact 0 slightly negative
                klSum += kl;
                klMax = Math.max(klMax, kl);
                if (argA == argB) agree++;
                positions++;
            }
        }
        return new Result(positions, positions == 0 ? 1 : (double) agree / positions, positions == 0 ? 0 : klSum / positions,
                klMax, maxRef == 0 ? maxAbs : maxAbs / maxRef);
    }

    private static double[] logSoftmax(float[] logits, int off, int v) {
        double max = Double.NEGATIVE_INFINITY;
        for (int i = 0; i < v; i++) max = Math.max(max, logits[off + i]);
        double sum = 0;
        for (int i = 0; i < v; i++) sum += Math.exp(logits[off + i] - max);
        double lse = max + Math.log(sum);
        double[] out = new double[v];
        for (int i = 0; i < v; i++) out[i] = logits[off + i] - lse;
        return out;
    }
}
