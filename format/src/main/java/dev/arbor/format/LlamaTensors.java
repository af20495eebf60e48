package dev.arbor.format;

import java.util.LinkedHashMap;
import java.util.Map;

/** Tensor names and shapes of HF {@code LlamaForCausalLM} for a config (GROWTH.md §1). */
public final class LlamaTensors {
    private LlamaTensors() {}

    public static String layer(int l, String rest) { return "model.layers." + l + "." + rest; }

    /** Every weight's name and shape in HF order (embedding, layers, final norm, head). */
    public static Map<String, long[]> expectedShapes(LlamaConfig c) {
        long d = c.hiddenSize(), q = (long) c.numAttentionHeads() * c.headDim(),
                kv = (long) c.numKeyValueHeads() * c.headDim(), f = c.intermediateSize(), v = c.vocabSize();
        Map<String, long[]> m = new LinkedHashMap<>();
        m.put("model.embed_tokens.weight", new long[]{v, d});
        for (int l = 0; l < c.numHiddenLayers(); l++) {
            m.put(layer(l, "input_layernorm.weight"), new long[]{d});
            m.put(layer(l, "self_attn.q_proj.weight"), new long[]{q, d});
            m.put(layer(l, "self_attn.k_proj.weight"), new long[]{kv, d});
            m.put(layer(l, "self_attn.v_proj.weight"), new long[]{kv, d});
            m.put(layer(l, "self_attn.o_proj.weight"), new long[]{d, q});
            m.put(layer(l, "post_attention_layernorm.weight"), new long[]{d});
            m.put(layer(l, "mlp.gate_proj.weight"), new long[]{f, d});
            m.put(layer(l, "mlp.up_proj.weight"), new long[]{f, d});
            m.put(layer(l, "mlp.down_proj.weight"), new long[]{d, f});
        }
        m.put("model.norm.weight", new long[]{d});
        if (!c.tieWordEmbeddings()) m.put("lm_head.weight", new long[]{v, d});
        return m;
    }
}
