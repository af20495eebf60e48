package dev.arbor.train;

import dev.arbor.format.ArborException;
import dev.arbor.format.DType;
import dev.arbor.format.LlamaConfig;
import dev.arbor.format.LlamaTensors;
import dev.arbor.format.ModelSource;
import dev.arbor.format.TensorEntry;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The trainable state of a LLaMA model: F32 master copies of every weight with a gradient
 * buffer each, and the MSG growth masks (GROWTH.md §2), which are not parameters: they get no
 * gradient, no optimizer state and no weight decay.
 */
final class Params {
    /** One named weight tensor and its gradient, both F32, row-major. */
    static final class Param {
        final String name;
        final long[] shape;
        final float[] data;
        final float[] grad;

        Param(String name, long[] shape, float[] data) {
            this.name = name;
            this.shape = shape.clone();
            this.data = data;
            this.grad = new float[data.length];
        }

        /** Matrix-like (embeddings, projections) versus vector-like (norm gains). */
        boolean isMatrix() { return shape.length >= 2; }
    }

    /** One decoder layer's parameters. */
    record Layer(Param inputNorm, Param q, Param k, Param v, Param o, Param postNorm, Param gate, Param up, Param down) {}

    static final String MASK_HIDDEN = "model.grow_mask.hidden";

    final LlamaConfig config;
    final int hidden, heads, kvHeads, headDim, ffn, vocab, numLayers;
    final Param embed, finalNorm, lmHead;
    final Layer[] layers;
    /** All parameters in checkpoint order; the tied LM head is not listed twice. */
    final List<Param> all = new ArrayList<>();

    // Masks: null means all ones (the plain model).
    float[] hiddenMask;
    final float[][] headMask;
    final float[][] ffnMask;
    final float[] layerGate;

    private Params(LlamaConfig cfg, Map<String, Param> byName) {
        this.config = cfg;
        hidden = cfg.hiddenSize();
        heads = cfg.numAttentionHeads();
        kvHeads = cfg.numKeyValueHeads();
        headDim = cfg.headDim();
        ffn = cfg.intermediateSize();
        vocab = cfg.vocabSize();
        numLayers = cfg.numHiddenLayers();
        layers = new Layer[numLayers];
        headMask = new float[numLayers][];
        ffnMask = new float[numLayers][];
        layerGate = new float[numLayers];
        Arrays.fill(layerGate, 1f);
        if (heads % kvHeads != 0) throw new ArborException("num_attention_heads must be a multiple of num_key_value_heads.");
        if (headDim % 2 != 0) throw new ArborException("head_dim " + headDim + " is odd; rotary embedding needs an even head_dim.");
        if ((long) vocab * hidden > Integer.MAX_VALUE || (long) ffn * hidden > Integer.MAX_VALUE) {
            throw new ArborException("A weight matrix has more than 2^31 elements, which the CPU trainer does not support.");
        }
        all.addAll(byName.values());
        embed = byName.get("model.embed_tokens.weight");
        finalNorm = byName.get("model.norm.weight");
        lmHead = cfg.tieWordEmbeddings() ? embed : byName.get("lm_head.weight");
        for (int l = 0; l < numLayers; l++) {
            layers[l] = new Layer(byName.get(LlamaTensors.layer(l, "input_layernorm.weight")),
                    byName.get(LlamaTensors.layer(l, "self_attn.q_proj.weight")),
                    byName.get(LlamaTensors.layer(l, "self_attn.k_proj.weight")),
                    byName.get(LlamaTensors.layer(l, "self_attn.v_proj.weight")),
                    byName.get(LlamaTensors.layer(l, "self_attn.o_proj.weight")),
                    byName.get(LlamaTensors.layer(l, "post_attention_layernorm.weight")),
                    byName.get(LlamaTensors.layer(l, "mlp.gate_proj.weight")),
                    byName.get(LlamaTensors.layer(l, "mlp.up_proj.weight")),
                    byName.get(LlamaTensors.layer(l, "mlp.down_proj.weight")));
        }
    }

    /** Reads every weight (widened to F32) and every growth mask from a checkpoint. */
    static Params load(ModelSource src) {
        LlamaConfig cfg = src.requireConfig();
        cfg.requireLlama(src.describe());
        Map<String, long[]> expected = LlamaTensors.expectedShapes(cfg);
        Map<String, Param> byName = new LinkedHashMap<>();
        for (Map.Entry<String, long[]> e : expected.entrySet()) {
            String name = e.getKey();
            if (!src.contains(name)) throw new ArborException(src.describe() + " lacks tensor '" + name + "'.");
            long[] shape = src.info(name).shape();
            if (!Arrays.equals(shape, e.getValue())) {
                throw new ArborException(src.describe() + ": tensor '" + name + "' has shape " + Arrays.toString(shape)
                        + " but config.json implies " + Arrays.toString(e.getValue()) + ".");
            }
            byName.put(name, new Param(name, shape, src.tensor(name).toFloatArray()));
        }
        Params p = new Params(cfg, byName);
        p.hiddenMask = readMask(src, MASK_HIDDEN, p.hidden);
        for (int l = 0; l < p.numLayers; l++) {
            p.headMask[l] = readMask(src, LlamaTensors.layer(l, "self_attn.grow_mask"), p.heads);
            p.ffnMask[l] = readMask(src, LlamaTensors.layer(l, "mlp.grow_mask"), p.ffn);
            float[] gate = readMask(src, LlamaTensors.layer(l, "grow_mask"), 1);
            if (gate != null) p.layerGate[l] = gate[0];
        }
        return p;
    }

    private static float[] readMask(ModelSource src, String name, int size) {
        if (!src.contains(name)) return null;
        var info = src.info(name);
        if (!Arrays.equals(info.shape(), new long[]{size}) || !info.dtype().isFloatingPoint()) {
            throw new ArborException(src.describe() + ": growth mask '" + name + "' must be a float tensor of shape [" + size + "].");
        }
        float[] m = src.tensor(name).toFloatArray();
        for (float x : m) {
            if (!(x >= 0f && x <= 1f)) throw new ArborException(src.describe() + ": growth mask '" + name + "' holds " + x + ", outside [0, 1].");
        }
        return m;
    }

    Param byName(String name) {
        for (Param p : all) if (p.name.equals(name)) return p;
        return null;
    }

    boolean hasMasks() {
        if (hiddenMask != null) return true;
        for (int l = 0; l < numLayers; l++) if (headMask[l] != null || ffnMask[l] != null || layerGate[l] != 1f) return true;
        return false;
    }

    /** The checkpoint tensors: weights in the given dtype, then the masks that are still pending (F32). */
    List<TensorEntry> tensors(DType dtype) {
        List<TensorEntry> out = new ArrayList<>();
        for (Param p : all) out.add(TensorEntry.ofFloats(p.name, dtype, p.shape, p.data));
        if (hiddenMask != null) out.add(TensorEntry.ofFloats(MASK_HIDDEN, DType.F32, new long[]{hidden}, hiddenMask));
        for (int l = 0; l < numLayers; l++) {
            if (headMask[l] != null) out.add(TensorEntry.ofFloats(LlamaTensors.layer(l, "self_attn.grow_mask"), DType.F32, new long[]{heads}, headMask[l]));
            if (ffnMask[l] != null) out.add(TensorEntry.ofFloats(LlamaTensors.layer(l, "mlp.grow_mask"), DType.F32, new long[]{ffn}, ffnMask[l]));
            if (layerGate[l] != 1f) out.add(TensorEntry.ofFloats(LlamaTensors.layer(l, "grow_mask"), DType.F32, new long[]{1}, new float[]{layerGate[l]}));
        }
        return out;
    }

    void zeroGrads() { for (Param p : all) Arrays.fill(p.grad, 0f); }

    long count() {
        long n = 0;
        for (Param p : all) n += p.data.length;
        return n;
    }
}
