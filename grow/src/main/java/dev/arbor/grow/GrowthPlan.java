package dev.arbor.grow;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.arbor.format.ArborException;
import dev.arbor.format.LlamaConfig;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Set;

/**
 * One MSG growth event as data (GROWTH.md §3–§5): the target shape (null fields keep the parent's
 * value), how inserted layers pick their sources, the init std of new entries, the seed and the
 * ramp length. Read from JSON ({@link #fromJson}) or built from CLI flags; checked against a
 * parent with {@link #validate}, which refuses invalid plans with one clear sentence.
 */
public record GrowthPlan(Integer hiddenSize, Integer numHeads, Integer numKvHeads, Integer intermediateSize,
                         Integer numLayers, Integer headDim, Selection selection, Double initStd, long seed,
                         int rampSteps, Path calibrationFile, int calibrationSequences, int calibrationTokens) {

    public static final int DEFAULT_RAMP_STEPS = 1000;
    public static final int DEFAULT_CALIBRATION_SEQUENCES = 4;
    public static final int DEFAULT_CALIBRATION_TOKENS = 128;
    static final ObjectMapper JSON = new ObjectMapper();

    /** How inserted layers choose their source layers (GROWTH.md §3.4). */
    public record Selection(Metric metric, boolean largest, List<Integer> sources) {
        public enum Metric { COSINE, RELATIVE, EXPLICIT }

        public Selection {
            sources = sources == null ? List.of() : List.copyOf(sources);
        }

        public static Selection cosine() { return new Selection(Metric.COSINE, false, List.of()); }

        public static Selection explicit(List<Integer> sources) { return new Selection(Metric.EXPLICIT, false, sources); }

        /** "cosine", "relative", "cosine:largest", "explicit:3,5,5". */
        public static Selection parse(String s) {
            String t = s.trim().toLowerCase(Locale.ROOT);
            if (t.startsWith("explicit")) {
                String rest = t.substring("explicit".length());
                if (!rest.startsWith(":") || rest.length() == 1) {
                    throw new ArborException("Explicit layer selection needs source layers, such as explicit:3,5.");
                }
                List<Integer> src = new ArrayList<>();
                for (String p : rest.substring(1).split("[,\\s]+")) {
                    if (p.isEmpty()) continue;
                    try {
                        src.add(Integer.parseInt(p));
                    } catch (NumberFormatException e) {
                        throw new ArborException("Source layer '" + p + "' in '" + s + "' is not an integer.");
                    }
                }
                return explicit(src);
            }
            String[] parts = t.split(":");
            Metric m = switch (parts[0]) {
                case "cosine" -> Metric.COSINE;
                case "relative" -> Metric.RELATIVE;
                default -> throw new ArborException("Unknown layer selection '" + s + "': use cosine, relative or explicit:S1,S2,...");
            };
            boolean largest = false;
            if (parts.length == 2) {
                if (parts[1].equals("largest")) largest = true;
                else if (!parts[1].equals("smallest")) throw new ArborException("Layer selection '" + s + "' must end in :smallest or :largest.");
            } else if (parts.length > 2) {
                throw new ArborException("Cannot read layer selection '" + s + "'.");
            }
            return new Selection(m, largest, List.of());
        }

        public String describe() {
            if (metric == Metric.EXPLICIT) return "explicit:" + String.join(",", sources.stream().map(String::valueOf).toList());
            return metric.name().toLowerCase(Locale.ROOT) + (largest ? ":largest" : ":smallest");
        }
    }

    public GrowthPlan {
        if (selection == null) selection = Selection.cosine();
        if (rampSteps <= 0) throw new ArborException("The ramp length (ramp_steps) must be at least 1 step.");
        if (initStd != null && !(initStd >= 0 && Double.isFinite(initStd))) {
            throw new ArborException("The init std must be a finite number ≥ 0.");
        }
        if (calibrationSequences <= 0 || calibrationTokens < 2) {
            throw new ArborException("The calibration set needs at least 1 sequence of at least 2 tokens.");
        }
    }

    /** A plan that grows to this shape (nulls keep the parent's), with every default. */
    public static GrowthPlan toShape(Integer hidden, Integer heads, Integer kvHeads, Integer ffn, Integer layers) {
        return new GrowthPlan(hidden, heads, kvHeads, ffn, layers, null, Selection.cosine(), null, 0L,
                DEFAULT_RAMP_STEPS, null, DEFAULT_CALIBRATION_SEQUENCES, DEFAULT_CALIBRATION_TOKENS);
    }

    public GrowthPlan withSelection(Selection s) {
        return new GrowthPlan(hiddenSize, numHeads, numKvHeads, intermediateSize, numLayers, headDim, s, initStd, seed,
                rampSteps, calibrationFile, calibrationSequences, calibrationTokens);
    }

    public GrowthPlan withInitStd(Double std) {
        return new GrowthPlan(hiddenSize, numHeads, numKvHeads, intermediateSize, numLayers, headDim, selection, std, seed,
                rampSteps, calibrationFile, calibrationSequences, calibrationTokens);
    }

    public GrowthPlan withSeed(long s) {
        return new GrowthPlan(hiddenSize, numHeads, numKvHeads, intermediateSize, numLayers, headDim, selection, initStd, s,
                rampSteps, calibrationFile, calibrationSequences, calibrationTokens);
    }

    public GrowthPlan withRampSteps(int n) {
        return new GrowthPlan(hiddenSize, numHeads, numKvHeads, intermediateSize, numLayers, headDim, selection, initStd, seed,
                n, calibrationFile, calibrationSequences, calibrationTokens);
    }

    public GrowthPlan withHeadDim(Integer hd) {
        return new GrowthPlan(hiddenSize, numHeads, numKvHeads, intermediateSize, numLayers, hd, selection, initStd, seed,
                rampSteps, calibrationFile, calibrationSequences, calibrationTokens);
    }

    public GrowthPlan withCalibration(Path file, int sequences, int tokens) {
        return new GrowthPlan(hiddenSize, numHeads, numKvHeads, intermediateSize, numLayers, headDim, selection, initStd, seed,
                rampSteps, file, sequences, tokens);
    }

    private static final Set<String> KEYS = Set.of("hidden_size", "num_attention_heads", "num_key_value_heads",
            "intermediate_size", "num_hidden_layers", "head_dim", "select", "sources", "prefer", "init_std", "seed",
            "ramp_steps", "calibration");

    /** Reads a plan file: JSON, or YAML when it ends in .yaml/.yml (same fields; see {@link #toJson}). */
    public static GrowthPlan read(Path file) {
        String text;
        try {
            text = Files.readString(file);
        } catch (IOException e) {
            throw new ArborException("The plan " + file + " cannot be read: " + e.getMessage() + ".");
        }
        String fn = file.getFileName().toString().toLowerCase(java.util.Locale.ROOT);
        if (fn.endsWith(".yaml") || fn.endsWith(".yml")) {
            try {
                return fromNode(file.toString(), YAML.readTree(text));
            } catch (IOException e) {
                throw new ArborException("The plan " + file + " is not valid YAML.");
            }
        }
        return fromJson(file.toString(), text);
    }

    static final ObjectMapper YAML = new com.fasterxml.jackson.dataformat.yaml.YAMLMapper();

    public static GrowthPlan fromJson(String where, String text) {
        JsonNode n;
        try {
            n = JSON.readTree(text);
        } catch (IOException e) {
            throw new ArborException("The plan " + where + " is not valid JSON.");
        }
        return fromNode(where, n);
    }

    private static GrowthPlan fromNode(String where, JsonNode n) {
        if (n == null || !n.isObject()) throw new ArborException("The plan " + where + " is not an object of fields.");
        var it = n.fieldNames();
        while (it.hasNext()) {
            String k = it.next();
            if (!KEYS.contains(k)) throw new ArborException("The plan " + where + " has an unknown field '" + k + "'; known: " + new java.util.TreeSet<>(KEYS) + ".");
        }
        Selection sel;
        String select = text(n, where, "select", null);
        List<Integer> sources = new ArrayList<>();
        if (n.has("sources")) {
            if (!n.get("sources").isArray()) throw new ArborException("The plan " + where + ": 'sources' must be a list of layer indices.");
            for (JsonNode x : n.get("sources")) {
                if (!x.isIntegralNumber()) throw new ArborException("The plan " + where + ": 'sources' must hold integers.");
                sources.add(x.intValue());
            }
        }
        if (select == null) select = n.has("sources") ? "explicit" : "cosine";
        String prefer = text(n, where, "prefer", "smallest");
        if (!prefer.equals("smallest") && !prefer.equals("largest")) {
            throw new ArborException("The plan " + where + ": 'prefer' must be smallest or largest.");
        }
        if (select.equals("explicit")) {
            if (sources.isEmpty()) throw new ArborException("The plan " + where + " selects layers explicitly but lists no 'sources'.");
            sel = Selection.explicit(sources);
        } else {
            if (!sources.isEmpty()) throw new ArborException("The plan " + where + " lists 'sources' but selects layers by " + select + ".");
            sel = Selection.parse(select + ":" + prefer);
        }
        Path calib = null;
        int seqs = DEFAULT_CALIBRATION_SEQUENCES, toks = DEFAULT_CALIBRATION_TOKENS;
        JsonNode c = n.get("calibration");
        if (c != null && !c.isNull()) {
            if (!c.isObject()) throw new ArborException("The plan " + where + ": 'calibration' must be an object {file, sequences, tokens}.");
            if (c.hasNonNull("file")) calib = Path.of(c.get("file").asText());
            seqs = intField(c, where, "sequences", seqs);
            toks = intField(c, where, "tokens", toks);
        }
        Double std = null;
        if (n.hasNonNull("init_std")) {
            if (!n.get("init_std").isNumber()) throw new ArborException("The plan " + where + ": 'init_std' must be a number.");
            std = n.get("init_std").doubleValue();
        }
        long seed = 0;
        if (n.hasNonNull("seed")) {
            if (!n.get("seed").isIntegralNumber()) throw new ArborException("The plan " + where + ": 'seed' must be an integer.");
            seed = n.get("seed").longValue();
        }
        return new GrowthPlan(intOrNull(n, where, "hidden_size"), intOrNull(n, where, "num_attention_heads"),
                intOrNull(n, where, "num_key_value_heads"), intOrNull(n, where, "intermediate_size"),
                intOrNull(n, where, "num_hidden_layers"), intOrNull(n, where, "head_dim"), sel, std, seed,
                intField(n, where, "ramp_steps", DEFAULT_RAMP_STEPS), calib, seqs, toks);
    }

    private static String text(JsonNode n, String where, String f, String dflt) {
        JsonNode v = n.get(f);
        if (v == null || v.isNull()) return dflt;
        if (!v.isTextual()) throw new ArborException("The plan " + where + ": '" + f + "' must be a string.");
        return v.textValue().toLowerCase(Locale.ROOT);
    }

    private static Integer intOrNull(JsonNode n, String where, String f) {
        JsonNode v = n.get(f);
        if (v == null || v.isNull()) return null;
        if (!v.isIntegralNumber() || !v.canConvertToInt()) throw new ArborException("The plan " + where + ": '" + f + "' must be an integer.");
        return v.intValue();
    }

    private static int intField(JsonNode n, String where, String f, int dflt) {
        Integer v = intOrNull(n, where, f);
        return v == null ? dflt : v;
    }

    /** The plan as JSON (the fields {@link #fromJson} reads). */
    public ObjectNode toJson() {
        ObjectNode o = JSON.createObjectNode();
        if (hiddenSize != null) o.put("hidden_size", hiddenSize);
        if (numHeads != null) o.put("num_attention_heads", numHeads);
        if (numKvHeads != null) o.put("num_key_value_heads", numKvHeads);
        if (intermediateSize != null) o.put("intermediate_size", intermediateSize);
        if (numLayers != null) o.put("num_hidden_layers", numLayers);
        if (headDim != null) o.put("head_dim", headDim);
        if (selection.metric() == Selection.Metric.EXPLICIT) {
            o.put("select", "explicit");
            ArrayNode a = o.putArray("sources");
            selection.sources().forEach(a::add);
        } else {
            o.put("select", selection.metric().name().toLowerCase(Locale.ROOT));
            o.put("prefer", selection.largest() ? "largest" : "smallest");
        }
        if (initStd != null) o.put("init_std", initStd);
        o.put("seed", seed);
        o.put("ramp_steps", rampSteps);
        ObjectNode c = o.putObject("calibration");
        if (calibrationFile != null) c.put("file", calibrationFile.toString());
        c.put("sequences", calibrationSequences);
        c.put("tokens", calibrationTokens);
        return o;
    }

    /**
     * Resolves this plan against a parent config: the child shape and the per-dimension index
     * maps. Refuses, with one sentence, plans that shrink anything, GQA shapes that cannot be
     * reached, heads that do not divide the hidden size without an explicit head_dim, and
     * explicit source layers out of range or of the wrong count.
     */
    public GrowthLayout validate(LlamaConfig parent) {
        return GrowthLayout.resolve(this, parent);
    }
}
