package dev.arbor.grow;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.arbor.format.ArborException;
import dev.arbor.format.Checkpoint;
import dev.arbor.format.CheckpointWriter;
import dev.arbor.format.DType;
import dev.arbor.format.LlamaConfig;
import dev.arbor.format.LlamaTensors;
import dev.arbor.format.ModelSource;
import dev.arbor.format.TensorEntry;
import dev.arbor.format.TensorInfo;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

/**
 * Folds the MSG masks of a checkpoint into its weights and writes a plain HF checkpoint
 * (GROWTH.md §6), streaming row by row:
 * <ul>
 * <li>neuron mask m_f into down_proj columns, head mask m_q into o_proj column blocks, the gate
 *     c_l of an inserted layer into its o_proj and down_proj: exact at any mask value;</li>
 * <li>hidden mask m_h into the embedding columns and the o_proj/down_proj rows, and the masked
 *     RMSNorm into plain ones with every norm weight × sqrt(Σm/D) and rms_norm_eps × Σm/D: exact
 *     when m_h holds only 0s and 1s (at c = 0 and c = 1); mid-ramp it is not (a plain RMSNorm
 *     cannot weight dimensions), so it is refused unless approximate, and then the divergence is
 *     measured and reported.</li>
 * </ul>
 * Tensors scaled by a value other than 0 or 1 are written in F32 when stored in BF16/F16 (the
 * product would not round back exactly); F32 and F64 tensors keep their dtype.
 */
public final class Folder {
    private Folder() {}

    /** Which mask values to fold: as stored, all at their growth value (c=0), or the ramp finished (c=1). */
    public enum At { STORED, ZERO, ONE }

    public record Result(Path out, boolean exact, PreservationCheck.Report divergence, ObjectNode record) {}

    public static Result fold(ModelSource src, Path out, At at, boolean approximate) throws IOException {
        LlamaConfig c = src.requireConfig();
        c.requireLlama(src.describe());
        int d = c.hiddenSize(), layers = c.numHiddenLayers();
        try (RowReader rr = RowReader.of(src)) {
            double[] mh = mask(rr, Masks.HIDDEN, at);
            boolean hiddenBinary = true, hiddenOnes = true;
            double k = 0;
            if (mh != null) {
                for (double x : mh) {
                    k += x;
                    if (x != 0 && x != 1) hiddenBinary = false;
                    if (x != 1) hiddenOnes = false;
                }
                if (!(k > 0)) throw new ArborException(src.describe() + ": the hidden mask is all zeros.");
            }
            boolean exact = hiddenBinary;
            if (!exact && !approximate) {
                throw new ArborException(src.describe() + " is mid-ramp in hidden growth (hidden mask values between 0 and 1); "
                        + "a plain RMSNorm cannot compute the masked one, so folding is refused: finish the ramp, fold --at-zero, or pass --approximate to write it with the measured divergence.");
            }
            double ratio = mh == null || hiddenOnes ? 1.0 : k / d;
            double gammaScale = Math.sqrt(ratio);
            LlamaConfig outCfg = ratio == 1.0 ? c : c.with("rms_norm_eps", c.rmsNormEps() * ratio);

            CheckpointWriter w = new CheckpointWriter().config(outCfg).maxShardBytes(Grower.SHARD_BYTES)
                    .sidecars(Grower.sidecars(src));
            double[] hiddenRows = hiddenOnes ? null : mh;
            for (Map.Entry<String, long[]> e : LlamaTensors.expectedShapes(c).entrySet()) {
                String name = e.getKey();
                long[] shape = e.getValue();
                double[] rows = null, cols = null;
                if (name.equals("model.embed_tokens.weight")) {
                    cols = hiddenRows;
                    if (c.tieWordEmbeddings() && cols != null && !hiddenBinary) {
                        // the tied head reads the scaled embedding too: part of the approximation
                    }
                } else if (shape.length == 1) {
                    if (gammaScale != 1.0) cols = constant(d, gammaScale);
                } else if (name.endsWith("self_attn.o_proj.weight") || name.endsWith("mlp.down_proj.weight")) {
                    int l = layerOf(name);
                    double gate = 1;
                    double[] g = mask(rr, Masks.layerGate(l), at);
                    if (g != null) gate = g[0];
                    rows = hiddenRows == null ? (gate == 1 ? null : constant(d, gate)) : scaled(hiddenRows, gate);
                    if (name.endsWith("o_proj.weight")) {
                        double[] mq = mask(rr, Masks.heads(l), at);
                        if (mq != null) cols = expand(mq, c.headDim());
                    } else {
                        cols = mask(rr, Masks.ffn(l), at);
                    }
                }
                w.add(scaledEntry(rr, name, rr.info(name), rows, cols));
            }
            ObjectNode rec = GrowthPlan.JSON.createObjectNode();
            rec.put("kind", "fold");
            rec.put("at", at.name().toLowerCase(java.util.Locale.ROOT));
            rec.put("exact", exact);
            if (ratio != 1.0) {
                rec.put("norm_weight_scale", gammaScale);
                rec.put("rms_norm_eps", outCfg.rmsNormEps());
            }
            ArrayNode events = GrowthPlan.JSON.createArrayNode();
            Grower.previousEvents(src).forEach(events::add);
            events.add(rec);
            ObjectNode file = GrowthPlan.JSON.createObjectNode();
            file.set("events", events);
            w.file(Grower.EVENT_FILE, (GrowthPlan.JSON.writerWithDefaultPrettyPrinter().writeValueAsString(file) + "\n")
                    .getBytes(StandardCharsets.UTF_8));
            w.write(out);
            PreservationCheck.Report div = null;
            if (!exact) {
                try (Checkpoint folded = Checkpoint.open(out)) {
                    div = PreservationCheck.run(src, folded, PreservationCheck.DEFAULT_TOKENS);
                }
                rec.set("measured_divergence", div.toJson());
                Files.writeString(out.resolve(Grower.EVENT_FILE),
                        GrowthPlan.JSON.writerWithDefaultPrettyPrinter().writeValueAsString(file) + "\n");
            }
            return new Result(out, exact, div, rec);
        }
    }

    private static int layerOf(String name) {
        String rest = name.substring("model.layers.".length());
        return Integer.parseInt(rest.substring(0, rest.indexOf('.')));
    }

    private static double[] mask(RowReader rr, String name, At at) {
        if (!rr.contains(name)) return null;
        double[] m = rr.readAll(name);
        if (at == At.ONE) return null;
        if (at == At.ZERO) for (int i = 0; i < m.length; i++) if (m[i] < 1) m[i] = 0;
        return m;
    }

    private static double[] constant(int n, double v) {
        double[] a = new double[n];
        java.util.Arrays.fill(a, v);
        return a;
    }

    private static double[] scaled(double[] a, double s) {
        double[] o = a.clone();
        for (int i = 0; i < o.length; i++) o[i] *= s;
        return o;
    }

    private static double[] expand(double[] perHead, int hd) {
        double[] o = new double[perHead.length * hd];
        for (int j = 0; j < o.length; j++) o[j] = perHead[j / hd];
        return o;
    }

    private static boolean fractional(double[] f) {
        if (f == null) return false;
        for (double x : f) if (x != 0 && x != 1) return true;
        return false;
    }

    /** A tensor with entry (i, j) multiplied by rows[i]·cols[j] (null: 1), rounded once. */
    private static TensorEntry scaledEntry(RowReader rr, String name, TensorInfo info, double[] rows, double[] cols) {
        DType dt = info.dtype();
        if ((fractional(rows) || fractional(cols)) && (dt == DType.BF16 || dt == DType.F16)) dt = DType.F32;
        long[] shape = info.shape();
        int nr = shape.length == 1 ? 1 : (int) shape[0];
        int nc = (int) shape[shape.length - 1];
        return new TensorEntry(name, dt, shape, sink -> {
            double[] row = new double[nc];
            for (int i = 0; i < nr; i++) {
                rr.readRow(name, i, nc, row);
                double rf = rows == null ? 1 : rows[i];
                if (rf != 1 || cols != null) {
                    for (int j = 0; j < nc; j++) row[j] = row[j] * (rf * (cols == null ? 1 : cols[j]));
                }
                sink.putDoubles(row, 0, nc);
            }
        });
    }
}
