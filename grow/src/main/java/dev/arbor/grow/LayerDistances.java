package dev.arbor.grow;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.arbor.format.ArborException;
import dev.arbor.format.ModelSource;
import dev.arbor.model.tokenizer.Tokenizer;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import java.util.SplittableRandom;

/**
 * Per-layer distances for depth growth (GROWTH.md §3.4): d_l = mean_t(1 − cos(h^l_t, h^{l+1}_t))
 * (cosine) or mean_t ‖h^{l+1}_t − h^l_t‖ / ‖h^l_t‖ (relative), averaged over every position of
 * a calibration set, with the parent's forward in float64. The calibration set is a text file
 * tokenized with the parent's tokenizer, or seeded random ids when no file is given.
 */
public record LayerDistances(String metric, double[] distances, String calibration, int sequences, int tokens) {

    public static LayerDistances compute(ModelSource parent, GrowthPlan plan) {
        boolean cosine = plan.selection().metric() != GrowthPlan.Selection.Metric.RELATIVE;
        List<int[]> batch = new ArrayList<>();
        String what;
        int vocab = parent.requireConfig().vocabSize();
        if (plan.calibrationFile() != null) {
            Path f = plan.calibrationFile();
            String text;
            try {
                text = Files.readString(f);
            } catch (IOException e) {
                throw new ArborException("The calibration file " + f + " cannot be read: " + e.getMessage() + ".");
            }
            Optional<Path> tok = parent.sideFile("tokenizer.json");
            if (tok.isEmpty()) throw new ArborException(parent.describe() + " has no tokenizer.json to tokenize the calibration text with.");
            int[] ids;
            try (Tokenizer t = Tokenizer.load(tok.get().getParent())) {
                ids = t.encode(text, false);
            }
            int n = plan.calibrationTokens();
            for (int s = 0; s < plan.calibrationSequences() && (long) (s + 1) * n <= ids.length; s++) {
                batch.add(Arrays.copyOfRange(ids, s * n, (s + 1) * n));
            }
            if (batch.isEmpty()) {
                if (ids.length < 2) throw new ArborException("The calibration file " + f + " gives fewer than 2 tokens.");
                batch.add(Arrays.copyOf(ids, Math.min(ids.length, n)));
            }
            for (int[] b : batch) for (int id : b) {
                if (id >= vocab) throw new ArborException("The calibration text has token id " + id + ", outside the model's vocabulary.");
            }
            what = f.toString();
        } else {
            SplittableRandom rng = new SplittableRandom(plan.seed() ^ 0x5DEECE66DL);
            for (int s = 0; s < plan.calibrationSequences(); s++) {
                int[] ids = new int[plan.calibrationTokens()];
                for (int i = 0; i < ids.length; i++) ids[i] = rng.nextInt(vocab);
                batch.add(ids);
            }
            what = "random ids (seed " + plan.seed() + ")";
        }
        int layers = parent.requireConfig().numHiddenLayers();
        double[] sum = new double[layers];
        long count = 0;
        try (RowReader rr = RowReader.of(parent)) {
            ReferenceForward fw = new ReferenceForward(rr);
            for (int[] ids : batch) {
                List<double[][]> hs = fw.run(ids, true).hidden();
                for (int l = 0; l < layers; l++) {
                    double[][] a = hs.get(l), b = hs.get(l + 1);
                    for (int t = 0; t < ids.length; t++) sum[l] += cosine ? 1 - cos(a[t], b[t]) : rel(a[t], b[t]);
                }
                count += ids.length;
            }
        }
        for (int l = 0; l < layers; l++) sum[l] /= count;
        int toks = batch.stream().mapToInt(b -> b.length).max().orElse(0);
        return new LayerDistances(cosine ? "cosine" : "relative", sum, what, batch.size(), toks);
    }

    static double cos(double[] a, double[] b) {
        double ab = 0, aa = 0, bb = 0;
        for (int i = 0; i < a.length; i++) {
            ab += a[i] * b[i];
            aa += a[i] * a[i];
            bb += b[i] * b[i];
        }
        if (aa == 0 || bb == 0) return aa == bb ? 1 : 0;
        return ab / Math.sqrt(aa * bb);
    }

    static double rel(double[] a, double[] b) {
        double dd = 0, aa = 0;
        for (int i = 0; i < a.length; i++) {
            dd += (b[i] - a[i]) * (b[i] - a[i]);
            aa += a[i] * a[i];
        }
        return aa == 0 ? (dd == 0 ? 0 : Double.POSITIVE_INFINITY) : Math.sqrt(dd / aa);
    }

    /**
     * The k source layers: smallest (or largest) distance first, ties to the lower index; when k
     * exceeds the layer count the order repeats.
     */
    public List<Integer> choose(int k, boolean largest) {
        Integer[] idx = new Integer[distances.length];
        for (int i = 0; i < idx.length; i++) idx[i] = i;
        Arrays.sort(idx, (x, y) -> {
            int c = Double.compare(distances[x], distances[y]);
            if (largest) c = -c;
            return c != 0 ? c : Integer.compare(x, y);
        });
        List<Integer> out = new ArrayList<>();
        for (int i = 0; i < k; i++) out.add(idx[i % idx.length]);
        return out;
    }

    void writeTo(ObjectNode o) {
        o.put("metric", metric);
        ArrayNode a = o.putArray("distances");
        for (double x : distances) a.add(x);
        o.put("calibration", calibration);
        o.put("calibration_sequences", sequences);
        o.put("calibration_tokens", tokens);
        o.put("precision", "f64");
    }
}
