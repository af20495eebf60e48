package dev.arbor.grow;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.arbor.format.ArborException;
import dev.arbor.format.Checkpoint;
import dev.arbor.format.CheckpointWriter;
import dev.arbor.format.DType;
import dev.arbor.format.LlamaConfig;
import dev.arbor.format.LlamaTensors;
import dev.arbor.format.ModelSource;
import dev.arbor.format.TensorInfo;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * MSG growth (GROWTH.md §3): streams a parent checkpoint into a grown child, tensor by tensor and
 * row by row, with the masks of §2 at 0 for every new part and 1 for every old one, so that the
 * child computes exactly its parent's function. Writes {@code growth.json} beside the weights
 * with the growth event (ops, new index ranges, plan, layer distances, seed, ramp length) after
 * the events of the parent's own {@code growth.json}, if any.
 */
public final class Grower {
    public static final String EVENT_FILE = "growth.json";
    static final long SHARD_BYTES = 5_000_000_000L;

    private Grower() {}

    /** What one growth produced. */
    public record Result(Path out, LlamaConfig child, ObjectNode event, LayerDistances distances) {}

    /** Grows parent by plan into the new directory out (written atomically). */
    public static Result grow(ModelSource parent, GrowthPlan plan, Path out) throws IOException {
        return grow(parent, plan, out, (a, b) -> { });
    }

    public static Result grow(ModelSource parent, GrowthPlan plan, Path out,
                              CheckpointWriter.ProgressListener progress) throws IOException {
        LlamaConfig pc = parent.requireConfig();
        pc.requireLlama(parent.describe());
        GrowthLayout lay = plan.validate(pc);
        checkParentTensors(parent, pc);
        LayerDistances dist = null;
        if (lay.needsSelection()) {
            dist = LayerDistances.compute(parent, plan);
            lay.setSources(dist.choose(lay.l2 - lay.l, plan.selection().largest()));
        }
        double std = plan.initStd() != null ? plan.initStd() : pc.initializerRange();
        ObjectNode event = event(lay, plan, std, dist);
        ArrayNode events = GrowthPlan.JSON.createArrayNode();
        previousEvents(parent).forEach(events::add);
        events.add(event);
        ObjectNode file = GrowthPlan.JSON.createObjectNode();
        file.set("events", events);

        try (RowReader reader = RowReader.of(parent)) {
            List<ChildTensor> specs = specs(lay, parent, std, plan.seed());
            CheckpointWriter w = new CheckpointWriter().config(lay.child).maxShardBytes(SHARD_BYTES).progress(progress)
                    .sidecars(sidecars(parent))
                    .file(EVENT_FILE, (GrowthPlan.JSON.writerWithDefaultPrettyPrinter().writeValueAsString(file) + "\n")
                            .getBytes(StandardCharsets.UTF_8));
            for (ChildTensor s : specs) w.add(s.entry(reader));
            w.write(out);
        }
        return new Result(out, lay.child, event, dist);
    }

    /** A grown child together with its preservation figure. */
    public record Checked(Result result, PreservationCheck.Report check) {}

    /**
     * Grows into a hidden staging directory beside out, runs the preservation check (parent vs
     * child on a probe batch of random ids and any extra sequences), and publishes the child at out
     * only if max|Δlogits|/max|logits| ≤ tolerance; the figure goes into growth.json. A failing child
     * is deleted and refused with one sentence naming the figure.
     */
    public static Checked growChecked(ModelSource parent, GrowthPlan plan, Path out, double tolerance, int tokens,
                                      List<int[]> extraProbe, CheckpointWriter.ProgressListener progress) throws IOException {
        if (Files.exists(out)) throw new ArborException(out + " already exists; choose a new directory.");
        Path abs = out.toAbsolutePath().normalize();
        Path staging = abs.resolveSibling("." + abs.getFileName() + ".unchecked-" + ProcessHandle.current().pid());
        deleteTree(staging);
        boolean ok = false;
        try {
            Result r = grow(parent, plan, staging, progress);
            PreservationCheck.Report rep;
            try (Checkpoint child = Checkpoint.open(staging)) {
                rep = PreservationCheck.run(parent, child, PreservationCheck.probe(
                        parent.requireConfig().vocabSize(), tokens, plan.seed() + 1234, extraProbe));
            }
            if (!rep.passes(tolerance)) {
                throw new ArborException("The grown model fails the preservation check (" + rep + ", tolerance "
                        + tolerance + "); nothing was written.");
            }
            ObjectNode check = rep.toJson();
            check.put("tolerance", tolerance);
            r.event().set("preservation_check", check);
            Path ev = staging.resolve(EVENT_FILE);
            JsonNode file = GrowthPlan.JSON.readTree(Files.readString(ev));
            ArrayNode events = (ArrayNode) file.get("events");
            events.set(events.size() - 1, r.event());
            Files.writeString(ev, GrowthPlan.JSON.writerWithDefaultPrettyPrinter().writeValueAsString(file) + "\n");
            Files.move(staging, abs, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
            ok = true;
            return new Checked(new Result(out, r.child(), r.event(), r.distances()), rep);
        } finally {
            if (!ok) deleteTree(staging);
        }
    }

    static void deleteTree(Path p) throws IOException {
        if (!Files.exists(p)) return;
        try (var s = Files.walk(p)) {
            for (Path x : s.sorted(java.util.Comparator.reverseOrder()).toList()) Files.deleteIfExists(x);
        }
    }

    static List<Path> sidecars(ModelSource src) {
        List<Path> out = new ArrayList<>();
        for (String n : Checkpoint.SIDECAR_FILES) src.sideFile(n).ifPresent(out::add);
        return out;
    }

    /** The events recorded in a model's growth.json (empty when it has none). */
    public static List<JsonNode> previousEvents(ModelSource src) {
        Optional<Path> f = src.sideFile(EVENT_FILE);
        if (f.isEmpty() && src instanceof Checkpoint ck && Files.isDirectory(ck.path())) {
            Path p = ck.path().resolve(EVENT_FILE);
            if (Files.isRegularFile(p)) f = Optional.of(p);
        }
        List<JsonNode> out = new ArrayList<>();
        if (f.isEmpty()) return out;
        try {
            JsonNode n = GrowthPlan.JSON.readTree(Files.readString(f.get()));
            if (n != null && n.get("events") != null) n.get("events").forEach(out::add);
        } catch (IOException e) {
            throw new ArborException(f.get() + " cannot be read as JSON.");
        }
        return out;
    }

    private static void checkParentTensors(ModelSource src, LlamaConfig c) {
        Set<String> known = new HashSet<>(LlamaTensors.expectedShapes(c).keySet());
        for (Map.Entry<String, long[]> e : LlamaTensors.expectedShapes(c).entrySet()) {
            if (!src.contains(e.getKey())) throw new ArborException(src.describe() + " lacks tensor '" + e.getKey() + "'.");
            TensorInfo info = src.info(e.getKey());
            if (!java.util.Arrays.equals(info.shape(), e.getValue())) {
                throw new ArborException(src.describe() + ": tensor '" + e.getKey() + "' has shape " + info.shapeString()
                        + " but config.json implies " + java.util.Arrays.toString(e.getValue()) + ".");
            }
            if (!info.dtype().isFloatingPoint()) throw new ArborException(src.describe() + ": tensor '" + e.getKey() + "' is not a float tensor.");
        }
        known.add(Masks.HIDDEN);
        for (int l = 0; l < c.numHiddenLayers(); l++) {
            known.add(Masks.heads(l));
            known.add(Masks.ffn(l));
            known.add(Masks.layerGate(l));
        }
        for (String n : src.tensorNames()) {
            if (!known.contains(n) && !n.endsWith("rotary_emb.inv_freq")) {
                throw new ArborException(src.describe() + " holds tensor '" + n + "', which growth does not know how to grow.");
            }
        }
    }

    /** Every child tensor, in HF order, with its masks after the weights they belong to. */
    static List<ChildTensor> specs(GrowthLayout lay, ModelSource src, double std, long seed) {
        List<ChildTensor> out = new ArrayList<>();
        int[] identityV = identity(lay.child.vocabSize());
        out.add(weight(src, "model.embed_tokens.weight", "model.embed_tokens.weight", identityV, lay.hiddenMap, std, seed));
        int[] qRows = lay.expand(lay.headMap), kvRows = lay.expand(lay.kvMap);
        for (int c = 0; c < lay.l2; c++) {
            int p = lay.layerMap[c];
            String cp = "model.layers." + c + ".", pp = "model.layers." + p + ".";
            out.add(vector(src, cp + "input_layernorm.weight", pp + "input_layernorm.weight", lay.hiddenMap, 1.0, 1.0, seed));
            out.add(weight(src, cp + "self_attn.q_proj.weight", pp + "self_attn.q_proj.weight", qRows, lay.hiddenMap, std, seed));
            out.add(weight(src, cp + "self_attn.k_proj.weight", pp + "self_attn.k_proj.weight", kvRows, lay.hiddenMap, std, seed));
            out.add(weight(src, cp + "self_attn.v_proj.weight", pp + "self_attn.v_proj.weight", kvRows, lay.hiddenMap, std, seed));
            out.add(weight(src, cp + "self_attn.o_proj.weight", pp + "self_attn.o_proj.weight", lay.hiddenMap, qRows, std, seed));
            out.add(vector(src, cp + "post_attention_layernorm.weight", pp + "post_attention_layernorm.weight", lay.hiddenMap, 1.0, 1.0, seed));
            out.add(weight(src, cp + "mlp.gate_proj.weight", pp + "mlp.gate_proj.weight", lay.ffnMap, lay.hiddenMap, std, seed));
            out.add(weight(src, cp + "mlp.up_proj.weight", pp + "mlp.up_proj.weight", lay.ffnMap, lay.hiddenMap, std, seed));
            out.add(weight(src, cp + "mlp.down_proj.weight", pp + "mlp.down_proj.weight", lay.hiddenMap, lay.ffnMap, std, seed));
            if (lay.growsHeads() || src.contains(Masks.heads(p))) {
                out.add(mask(src, Masks.heads(c), Masks.heads(p), lay.headMap));
            }
            if (lay.growsFfn() || src.contains(Masks.ffn(p))) {
                out.add(mask(src, Masks.ffn(c), Masks.ffn(p), lay.ffnMap));
            }
            if (lay.inserted[c]) {
                out.add(mask(src, Masks.layerGate(c), null, new int[]{-1}));
            } else if (src.contains(Masks.layerGate(p))) {
                out.add(mask(src, Masks.layerGate(c), Masks.layerGate(p), new int[]{0}));
            }
        }
        out.add(vector(src, "model.norm.weight", "model.norm.weight", lay.hiddenMap, 1.0, 1.0, seed));
        if (!lay.child.tieWordEmbeddings()) {
            out.add(weight(src, "lm_head.weight", "lm_head.weight", identityV, lay.hiddenMap, std, seed));
        }
        if (lay.growsHidden() || src.contains(Masks.HIDDEN)) out.add(mask(src, Masks.HIDDEN, Masks.HIDDEN, lay.hiddenMap));
        return out;
    }

    private static int[] identity(int n) {
        int[] m = new int[n];
        for (int i = 0; i < n; i++) m[i] = i;
        return m;
    }

    private static ChildTensor weight(ModelSource src, String name, String parent, int[] rows, int[] cols, double std, long seed) {
        TensorInfo pi = src.info(parent);
        return new ChildTensor(name, parent, pi.dtype(), new long[]{rows.length, cols.length}, (int) pi.dim(1),
                rows, cols, std, 0.0, 0.0, ChildTensor.seedFor(seed, name));
    }

    private static ChildTensor vector(ModelSource src, String name, String parent, int[] map, double newValue, double oldValue, long seed) {
        TensorInfo pi = src.info(parent);
        return new ChildTensor(name, parent, pi.dtype(), new long[]{map.length}, (int) pi.dim(0),
                new int[]{0}, map, 0.0, newValue, oldValue, ChildTensor.seedFor(seed, name));
    }

    /** A mask: the parent's values (or 1 where the parent had none) on old entries, 0 on new ones. */
    private static ChildTensor mask(ModelSource src, String name, String parent, int[] map) {
        boolean has = parent != null && src.contains(parent);
        int pcols = has ? (int) src.info(parent).numel() : 0;
        return new ChildTensor(name, has ? parent : null, DType.F32, new long[]{map.length}, pcols,
                new int[]{0}, map, 0.0, 0.0, 1.0, 0L);
    }

    private static ObjectNode event(GrowthLayout lay, GrowthPlan plan, double std, LayerDistances dist) {
        ObjectNode e = GrowthPlan.JSON.createObjectNode();
        e.put("kind", "msg-growth");
        ArrayNode ops = e.putArray("ops");
        if (lay.growsDepth()) ops.add("depth");
        if (lay.growsHidden()) ops.add("hidden");
        if (lay.growsHeads()) ops.add("heads");
        if (lay.growsFfn()) ops.add("ffn");
        e.set("parent_shape", shape(lay.parent));
        e.set("child_shape", shape(lay.child));
        ObjectNode n = e.putObject("new");
        if (lay.growsHidden()) n.putArray("hidden").add(lay.d).add(lay.d2);
        if (lay.growsFfn()) n.putArray("ffn").add(lay.f).add(lay.f2);
        if (lay.growsHeads()) {
            ObjectNode h = n.putObject("heads");
            String layout = lay.g2 > lay.g && lay.r2 > lay.r ? "A+B" : lay.g2 > lay.g ? "A" : "B";
            h.put("gqa_option", layout);
            h.putArray("kv_heads").add(lay.g).add(lay.g2);
            h.putArray("heads_per_kv").add(lay.r).add(lay.r2);
            ArrayNode nh = h.putArray("new_heads");
            lay.newHeads().forEach(nh::add);
            ArrayNode moved = h.putArray("parent_head_to_child");
            int[] p2c = new int[lay.h];
            for (int j = 0; j < lay.h2; j++) if (lay.headMap[j] >= 0) p2c[lay.headMap[j]] = j;
            for (int x : p2c) moved.add(x);
        }
        if (lay.growsDepth()) {
            ObjectNode d = n.putObject("layers");
            ArrayNode ins = d.putArray("inserted");
            lay.insertedLayers().forEach(ins::add);
            ArrayNode src = d.putArray("sources");
            lay.sources.forEach(src::add);
            ArrayNode p2c = d.putArray("parent_to_child");
            for (int x : lay.parentToChild()) p2c.add(x);
        }
        e.set("plan", plan.toJson());
        ObjectNode sel = e.putObject("selection");
        sel.put("method", plan.selection().describe());
        if (dist != null) dist.writeTo(sel);
        e.put("init_std", std);
        e.put("seed", plan.seed());
        e.put("ramp_steps", plan.rampSteps());
        e.put("mask_value", 0.0);
        e.put("schedule", "c(k) = min(1, k/ramp_steps), k = optimizer steps since growth");
        return e;
    }

    static ObjectNode shape(LlamaConfig c) {
        ObjectNode o = GrowthPlan.JSON.createObjectNode();
        o.put("hidden_size", c.hiddenSize());
        o.put("num_attention_heads", c.numAttentionHeads());
        o.put("num_key_value_heads", c.numKeyValueHeads());
        o.put("head_dim", c.headDim());
        o.put("intermediate_size", c.intermediateSize());
        o.put("num_hidden_layers", c.numHiddenLayers());
        o.put("vocab_size", c.vocabSize());
        o.put("parameters", c.parameterCount());
        return o;
    }
}
