package dev.arbor.grow;

import dev.arbor.format.LlamaTensors;

/** Names of the MSG mask tensors (GROWTH.md §2). They are F32, never trained, absent = all ones. */
public final class Masks {
    private Masks() {}

    /** m_h, shape [D]. */
    public static final String HIDDEN = "model.grow_mask.hidden";

    /** m_q of layer l, one entry per query head, shape [H]. */
    public static String heads(int l) { return LlamaTensors.layer(l, "self_attn.grow_mask"); }

    /** m_f of layer l, one entry per neuron, shape [F]. */
    public static String ffn(int l) { return LlamaTensors.layer(l, "mlp.grow_mask"); }

    /** c_l, the gate of an inserted layer, shape [1]. */
    public static String layerGate(int l) { return LlamaTensors.layer(l, "grow_mask"); }

    public static boolean isMask(String name) { return name.contains("grow_mask"); }
}
