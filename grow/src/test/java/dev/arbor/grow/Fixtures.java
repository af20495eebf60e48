package dev.arbor.grow;

import dev.arbor.format.Checkpoint;
import dev.arbor.format.CheckpointWriter;
import dev.arbor.format.DType;
import dev.arbor.format.LlamaConfig;
import dev.arbor.format.LlamaTensors;
import dev.arbor.format.TensorEntry;
import dev.arbor.format.TensorInfo;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/** Small random parents: weights N(0, std²) (std 0.2, README pitfall 4), norm weights 1 + 0.1·N(0,1). */
final class Fixtures {
    private Fixtures() {}

    static final int V = 50, D = 16, HD = 4, F = 24, L = 3, H = 4;

    /** variant: "mha" (G=4), "gqa" (G=2, r=2), "mqa" (G=1). */
    static LlamaConfig config(String variant) {
        int g = switch (variant) {
            case "mha" -> 4;
            case "gqa" -> 2;
            case "mqa" -> 1;
            default -> throw new IllegalArgumentException(variant);
        };
        return LlamaConfig.create(D, L, H, g, F, V).with("rms_norm_eps", 1e-5).with("max_position_embeddings", 256);
    }

    static Path write(Path dir, LlamaConfig c, DType dtype, long seed, double std) throws IOException {
        CheckpointWriter w = new CheckpointWriter().config(c.with("torch_dtype", dtype.torchName()));
        SplittableRandom rng = new SplittableRandom(seed);
        for (Map.Entry<String, long[]> e : LlamaTensors.expectedShapes(c).entrySet()) {
            long[] s = e.getValue();
            float[] v = new float[(int) TensorInfo.numel(s)];
            for (int i = 0; i < v.length; i++) v[i] = s.length == 1 ? (float) (1 + 0.1 * rng.nextGaussian()) : (float) (std * rng.nextGaussian());
            w.add(TensorEntry.ofFloats(e.getKey(), dtype, s, v));
        }
        w.write(dir);
        return dir;
    }

    static Path parent(Path tmp, String variant) throws IOException {
        Path p = tmp.resolve("parent-" + variant);
        synchronized (Fixtures.class) {
            if (java.nio.file.Files.exists(p)) return p;
            return write(p, config(variant), DType.F32, 7, 0.2);
        }
    }

    static int[] tokens(int n, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        int[] t = new int[n];
        for (int i = 0; i < n; i++) t[i] = r.nextInt(V);
        return t;
    }

    /** f64 logits of the masked forward. */
    static double[][] logits64(Path model, int[] ids) {
        try (Checkpoint ck = Checkpoint.open(model); RowReader rr = RowReader.of(ck)) {
            return new ReferenceForward(rr).run(ids, false).logits();
        }
    }

    static double maxRel(double[][] ref, double[][] got) {
        double m = 0, d = 0;
        for (int i = 0; i < ref.length; i++) {
            for (int j = 0; j < ref[i].length; j++) {
                m = Math.max(m, Math.abs(ref[i][j]));
                d = Math.max(d, Math.abs(ref[i][j] - got[i][j]));
            }
        }
        return d / m;
    }

    /** The engine's own f32 error vs the f64 forward on the check's probe (max rel). */
    static double f32Error(Path model, int tokens) {
        double worst = 0;
        try (Checkpoint ck = Checkpoint.open(model); dev.arbor.model.LlamaModel m = dev.arbor.model.LlamaModel.load(ck, 2)) {
            for (long seed : new long[]{11, 12}) {
                int[] ids = tokens(tokens, seed);
                float[] f = m.logits(ids);
                double[][] ref = logits64(model, ids);
                double[][] got = new double[ids.length][V];
                for (int t = 0; t < ids.length; t++) for (int i = 0; i < V; i++) got[t][i] = f[t * V + i];
                worst = Math.max(worst, maxRel(ref, got));
            }
        }
        return worst;
    }

    /** A copy of a masked checkpoint with every mask entry below 1 set to c (the ramp at c). */
    static Path withMasksAt(Path src, double c, Path out) throws IOException {
        try (Checkpoint ck = Checkpoint.open(src)) {
            CheckpointWriter w = new CheckpointWriter().config(ck.requireConfig());
            for (String n : ck.tensorNames()) {
                var t = ck.tensor(n);
                double[] v = t.toDoubleArray();
                if (Masks.isMask(n)) for (int i = 0; i < v.length; i++) if (v[i] < 1) v[i] = c;
                w.add(new TensorEntry(n, t.dtype(), t.shape(), sink -> sink.putDoubles(v, 0, v.length)));
            }
            w.write(out);
        }
        return out;
    }

    /** A copy of a checkpoint with some tensors rewritten (values as doubles) and a new config. */
    static Path rewrite(Path src, Path out, java.util.function.UnaryOperator<LlamaConfig> cfg,
                        Map<String, java.util.function.UnaryOperator<double[]>> edits) throws IOException {
        try (Checkpoint ck = Checkpoint.open(src)) {
            CheckpointWriter w = new CheckpointWriter().config(cfg.apply(ck.requireConfig()));
            for (String n : ck.tensorNames()) {
                var t = ck.tensor(n);
                double[] v = t.toDoubleArray();
                double[] nv = edits.containsKey(n) ? edits.get(n).apply(v) : v;
                w.add(new TensorEntry(n, t.dtype(), t.shape(), sink -> sink.putDoubles(nv, 0, nv.length)));
            }
            w.write(out);
        }
        return out;
    }

    static Grower.Result grow(Path parent, GrowthPlan plan, Path out) throws IOException {
        try (Checkpoint ck = Checkpoint.open(parent)) {
            return Grower.grow(ck, plan, out);
        }
    }

    static PreservationCheck.Report check32(Path a, Path b, int tokens) {
        try (Checkpoint x = Checkpoint.open(a); Checkpoint y = Checkpoint.open(b)) {
            return PreservationCheck.run(x, y, List.of(tokens(tokens, 11), tokens(tokens, 12)));
        }
    }
}
