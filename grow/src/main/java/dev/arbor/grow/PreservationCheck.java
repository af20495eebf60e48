package dev.arbor.grow;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.arbor.format.ArborException;
import dev.arbor.format.ModelSource;
import dev.arbor.model.LlamaModel;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * The function-preservation check: parent and child (or any two models with the same
 * vocabulary) on one probe batch, with the engine's F32 forward; the figure is
 * max|Δlogits| / max|logits_parent| over every position, plus top-1 agreement.
 */
public final class PreservationCheck {
    public static final double DEFAULT_TOLERANCE = 1e-5;
    public static final int DEFAULT_TOKENS = 32;

    private PreservationCheck() {}

    public record Report(double maxRelative, double maxAbsDiff, double maxAbsRef, double top1Agreement,
                         int positions, int sequences) {
        public boolean passes(double tolerance) { return maxRelative <= tolerance; }

        public ObjectNode toJson() {
            ObjectNode o = GrowthPlan.JSON.createObjectNode();
            o.put("max_rel_logit_diff", maxRelative);
            o.put("max_abs_logit_diff", maxAbsDiff);
            o.put("max_abs_logit", maxAbsRef);
            o.put("top1_agreement", top1Agreement);
            o.put("positions", positions);
            o.put("sequences", sequences);
            o.put("precision", "f32");
            return o;
        }

        @Override public String toString() {
            return String.format("max|Δlogits|/max|logits| = %.3g, top-1 agreement %.2f%% over %d positions",
                    maxRelative, 100 * top1Agreement, positions);
        }
    }

    /** Two random sequences of {@code tokens} ids (seeded) plus any extra sequences (e.g. a text). */
    public static List<int[]> probe(int vocab, int tokens, long seed, List<int[]> extra) {
        if (tokens < 1) throw new ArborException("The probe needs at least 1 token.");
        SplittableRandom rng = new SplittableRandom(seed);
        List<int[]> out = new ArrayList<>();
        for (int s = 0; s < 2; s++) {
            int[] ids = new int[tokens];
            for (int i = 0; i < tokens; i++) ids[i] = rng.nextInt(vocab);
            out.add(ids);
        }
        for (int[] e : extra) if (e.length > 0) out.add(e);
        return out;
    }

    public static Report run(ModelSource parent, ModelSource child, int tokens) {
        return run(parent, child, probe(parent.requireConfig().vocabSize(), tokens, 1234, List.of()));
    }

    public static Report run(ModelSource parent, ModelSource child, List<int[]> probe) {
        int v = parent.requireConfig().vocabSize();
        if (child.requireConfig().vocabSize() != v) {
            throw new ArborException(child.describe() + " has vocabulary " + child.requireConfig().vocabSize()
                    + " but " + parent.describe() + " has " + v + "; the check compares logits over the same vocabulary.");
        }
        List<float[]> ref = new ArrayList<>(), got = new ArrayList<>();
        try (LlamaModel m = LlamaModel.load(parent)) {
            for (int[] ids : probe) ref.add(m.logits(ids));
        }
        try (LlamaModel m = LlamaModel.load(child)) {
            for (int[] ids : probe) got.add(m.logits(ids));
        }
        return compare(ref, got, v);
    }

    /** Compares logits [T·V] per sequence: the reference first. */
    public static Report compare(List<float[]> ref, List<float[]> got, int v) {
        double maxAbs = 0, maxDiff = 0;
        int agree = 0, positions = 0;
        for (int s = 0; s < ref.size(); s++) {
            float[] a = ref.get(s), b = got.get(s);
            if (a.length != b.length) throw new IllegalArgumentException("logit arrays differ in length");
            for (int t = 0; t < a.length / v; t++) {
                int ia = 0, ib = 0;
                for (int i = 0; i < v; i++) {
                    int k = t * v + i;
                    maxAbs = Math.max(maxAbs, Math.abs(a[k]));
                    maxDiff = Math.max(maxDiff, Math.abs((double) a[k] - b[k]));
                    if (a[k] > a[t * v + ia]) ia = i;
                    if (b[k] > b[t * v + ib]) ib = i;
                }
                if (ia == ib) agree++;
                positions++;
            }
        }
        return new Report(maxAbs == 0 ? maxDiff : maxDiff / maxAbs, maxDiff, maxAbs,
                positions == 0 ? 1 : (double) agree / positions, positions, ref.size());
    }
}
