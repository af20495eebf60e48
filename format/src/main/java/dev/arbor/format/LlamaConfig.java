package dev.arbor.format;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.util.DefaultIndenter;
import com.fasterxml.jackson.core.util.DefaultPrettyPrinter;
import com.fasterxml.jackson.core.util.Separators;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * An HF {@code config.json} for {@code LlamaForCausalLM}, read with LlamaConfig's defaults. The
 * underlying JSON is kept whole, so fields Arbor does not know survive a round trip.
 * Instances are immutable; {@link #with} returns a modified copy.
 */
public final class LlamaConfig {
    public static final String FILE_NAME = "config.json";
    static final ObjectMapper JSON = new ObjectMapper();
    private static final DefaultPrettyPrinter PRETTY = new DefaultPrettyPrinter()
            .withSeparators(Separators.createDefaultInstance()
                    .withObjectFieldValueSpacing(Separators.Spacing.AFTER))
            .withArrayIndenter(DefaultIndenter.SYSTEM_LINEFEED_INSTANCE.withIndent("  "))
            .withObjectIndenter(DefaultIndenter.SYSTEM_LINEFEED_INSTANCE.withIndent("  "));

    private final ObjectNode json;

    private LlamaConfig(ObjectNode json) { this.json = json; }

    public static LlamaConfig fromJson(String where, String text) {
        JsonNode n;
        try {
            n = JSON.readTree(text);
        } catch (JsonProcessingException e) {
            throw new FormatException(where + " is not valid JSON (" + e.getOriginalMessage() + ").");
        }
        if (n == null || !n.isObject()) throw new FormatException(where + " is not a JSON object.");
        LlamaConfig c = new LlamaConfig((ObjectNode) n);
        c.checkFields(where);
        return c;
    }

    public static LlamaConfig read(Path file) {
        try {
            return fromJson(file.toString(), Files.readString(file, StandardCharsets.UTF_8));
        } catch (NoSuchFileException e) {
            throw new FormatException(file + " does not exist.");
        } catch (IOException e) {
            throw new FormatException(file + " cannot be read: " + e.getMessage() + ".");
        }
    }

    /** A new LLaMA config with the given shape and HF defaults for everything else. */
    public static LlamaConfig create(int hidden, int layers, int heads, int kvHeads, int ffn, int vocab) {
        ObjectNode o = JSON.createObjectNode();
        o.putArray("architectures").add("LlamaForCausalLM");
        o.put("model_type", "llama");
        o.put("hidden_size", hidden);
        o.put("intermediate_size", ffn);
        o.put("num_hidden_layers", layers);
        o.put("num_attention_heads", heads);
        o.put("num_key_value_heads", kvHeads);
        o.put("hidden_act", "silu");
        o.put("rms_norm_eps", 1e-6);
        o.put("rope_theta", 10000.0);
        o.putNull("rope_scaling");
        o.put("vocab_size", vocab);
        o.put("max_position_embeddings", 2048);
        o.put("tie_word_embeddings", false);
        o.put("attention_bias", false);
        o.put("mlp_bias", false);
        o.put("initializer_range", 0.02);
        o.put("bos_token_id", 1);
        o.put("eos_token_id", 2);
        o.put("use_cache", true);
        o.put("torch_dtype", "float32");
        LlamaConfig c = new LlamaConfig(o);
        c.checkFields("the new config");
        return c;
    }

    /** A copy with one field set (numbers, strings, booleans, null or JSON nodes). */
    public LlamaConfig with(String field, Object value) {
        ObjectNode o = json.deepCopy();
        switch (value) {
            case null -> o.putNull(field);
            case Integer i -> o.put(field, i);
            case Long l -> o.put(field, l);
            case Double d -> o.put(field, d);
            case Float f -> o.put(field, f.doubleValue());
            case Boolean b -> o.put(field, b);
            case String s -> o.put(field, s);
            case JsonNode j -> o.set(field, j);
            default -> throw new IllegalArgumentException("unsupported value type " + value.getClass());
        }
        return new LlamaConfig(o);
    }

    public LlamaConfig without(String field) {
        ObjectNode o = json.deepCopy();
        o.remove(field);
        return new LlamaConfig(o);
    }

    private void checkFields(String where) {
        for (String f : new String[]{"hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "vocab_size"}) {
            JsonNode v = json.get(f);
            if (v == null || !v.canConvertToInt() || !v.isIntegralNumber()) {
                throw new FormatException(where + " lacks the integer field '" + f + "'.");
            }
            if (v.intValue() <= 0) throw new FormatException(where + ": '" + f + "' must be positive.");
        }
        if (headDim() <= 0 || numKeyValueHeads() <= 0) throw new FormatException(where + ": head_dim and num_key_value_heads must be positive.");
        if (numAttentionHeads() % numKeyValueHeads() != 0) {
            throw new FormatException(where + ": num_key_value_heads (" + numKeyValueHeads()
                    + ") must divide num_attention_heads (" + numAttentionHeads() + ").");
        }
        if (!json.hasNonNull("head_dim") && hiddenSize() % numAttentionHeads() != 0) {
            throw new FormatException(where + ": num_attention_heads (" + numAttentionHeads()
                    + ") must divide hidden_size (" + hiddenSize() + ") unless head_dim is given.");
        }
    }

    /**
     * Refuses configs that are not plain LLaMA (another architecture, an activation other than
     * SiLU, biases), with one sentence naming what is unsupported.
     */
    public void requireLlama(String where) {
        JsonNode arch = json.get("architectures");
        if (arch != null && arch.isArray()) {
            for (JsonNode a : arch) {
                String s = a.asText();
                if (!s.equals("LlamaForCausalLM") && !s.equals("MistralForCausalLM")) {
                    throw new FormatException(where + ": architecture '" + s + "' is not supported; Arbor runs LlamaForCausalLM.");
                }
            }
        }
        String mt = string("model_type", "llama");
        if (!mt.equals("llama") && !mt.equals("mistral")) {
            throw new FormatException(where + ": model_type '" + mt + "' is not supported; Arbor runs llama.");
        }
        if (!string("hidden_act", "silu").equals("silu")) {
            throw new FormatException(where + ": hidden_act '" + string("hidden_act", "") + "' is not supported; only silu.");
        }
        if (bool("attention_bias", false) || bool("mlp_bias", false)) {
            throw new FormatException(where + ": linear biases (attention_bias/mlp_bias) are not supported.");
        }
        JsonNode sw = json.get("sliding_window");
        if (sw != null && !sw.isNull()) {
            throw new FormatException(where + ": sliding-window attention is not supported.");
        }
    }

    public int hiddenSize() { return json.get("hidden_size").intValue(); }
    public int intermediateSize() { return json.get("intermediate_size").intValue(); }
    public int numHiddenLayers() { return json.get("num_hidden_layers").intValue(); }
    public int numAttentionHeads() { return json.get("num_attention_heads").intValue(); }
    public int numKeyValueHeads() { return integer("num_key_value_heads", numAttentionHeads()); }
    public int headDim() { return integer("head_dim", hiddenSize() / numAttentionHeads()); }
    public int vocabSize() { return json.get("vocab_size").intValue(); }
    public int maxPositionEmbeddings() { return integer("max_position_embeddings", 2048); }
    public double rmsNormEps() { return number("rms_norm_eps", 1e-6); }
    public double ropeTheta() { return number("rope_theta", 10000.0); }
    public boolean tieWordEmbeddings() { return bool("tie_word_embeddings", false); }
    public double initializerRange() { return number("initializer_range", 0.02); }
    /** Whether config.json carries head_dim explicitly. */
    public boolean hasExplicitHeadDim() { return json.hasNonNull("head_dim"); }

    /** {@code rope_scaling} as JSON, or null when absent. */
    public JsonNode ropeScaling() {
        JsonNode n = json.get("rope_scaling");
        return n == null || n.isNull() ? null : n.deepCopy();
    }

    public String torchDtype() { return string("torch_dtype", null); }

    /** End-of-sequence ids ({@code eos_token_id} may be a number or a list). */
    public List<Integer> eosTokenIds() { return ids(json.get("eos_token_id")); }

    public Integer bosTokenId() {
        JsonNode n = json.get("bos_token_id");
        return n != null && n.canConvertToInt() && n.isIntegralNumber() ? n.intValue() : null;
    }

    static List<Integer> ids(JsonNode n) {
        List<Integer> out = new ArrayList<>();
        if (n == null || n.isNull()) return out;
        if (n.isArray()) {
            for (JsonNode x : n) if (x.isIntegralNumber()) out.add(x.intValue());
        } else if (n.isIntegralNumber()) {
            out.add(n.intValue());
        }
        return out;
    }

    /** Parameter count by the formula of GROWTH.md §1. */
    public long parameterCount() {
        long d = hiddenSize(), h = numAttentionHeads(), g = numKeyValueHeads(), hd = headDim(),
                f = intermediateSize(), v = vocabSize(), l = numHiddenLayers();
        long perLayer = 2 * d * h * hd + 2 * d * g * hd + 3 * d * f + 2 * d;
        return l * perLayer + (tieWordEmbeddings() ? 1 : 2) * v * d + d;
    }

    public int integer(String field, int dflt) {
        JsonNode n = json.get(field);
        return n == null || n.isNull() ? dflt : n.asInt(dflt);
    }

    public double number(String field, double dflt) {
        JsonNode n = json.get(field);
        return n == null || !n.isNumber() ? dflt : n.doubleValue();
    }

    public boolean bool(String field, boolean dflt) {
        JsonNode n = json.get(field);
        return n == null || !n.isBoolean() ? dflt : n.booleanValue();
    }

    public String string(String field, String dflt) {
        JsonNode n = json.get(field);
        return n == null || !n.isTextual() ? dflt : n.textValue();
    }

    public boolean has(String field) { return json.has(field); }

    /** A deep copy of the JSON object. */
    public ObjectNode toJsonNode() { return json.deepCopy(); }

    /** Pretty JSON with a trailing newline, the way HF writes config.json. */
    public String toJson() {
        try {
            return JSON.writer(PRETTY).writeValueAsString(json) + "\n";
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    @Override public boolean equals(Object o) { return o instanceof LlamaConfig c && c.json.equals(json); }
    @Override public int hashCode() { return json.hashCode(); }
    @Override public String toString() { return json.toString(); }

}
