package dev.arbor.grow;

import dev.arbor.format.ArborException;
import dev.arbor.format.LlamaConfig;

import java.util.ArrayList;
import java.util.List;

/**
 * A growth plan resolved against its parent: the child's shape and, for every dimension, the map
 * from child index to parent index (−1 for a new entry). Depth is applied first on the parent's
 * layer indexing, then the width maps apply to every layer, new ones included (GROWTH.md §3.5).
 */
public final class GrowthLayout {
    final LlamaConfig parent, child;
    final int d, d2, h, h2, g, g2, r, r2, hd, f, f2, l, l2;
    final int[] hiddenMap, headMap, kvMap, ffnMap;
    /** Child layer → parent layer; inserted[l'] marks copies. Null until the sources are known. */
    int[] layerMap;
    boolean[] inserted;
    List<Integer> sources = List.of();

    private GrowthLayout(LlamaConfig p, LlamaConfig c, int d2, int h2, int g2, int f2, int l2) {
        parent = p;
        child = c;
        d = p.hiddenSize();
        h = p.numAttentionHeads();
        g = p.numKeyValueHeads();
        r = h / g;
        hd = p.headDim();
        f = p.intermediateSize();
        l = p.numHiddenLayers();
        this.d2 = d2;
        this.h2 = h2;
        this.g2 = g2;
        this.r2 = h2 / g2;
        this.f2 = f2;
        this.l2 = l2;
        hiddenMap = prefix(d, d2);
        kvMap = prefix(g, g2);
        ffnMap = prefix(f, f2);
        headMap = new int[h2];
        // Option B first (more query heads per kv head, per-group re-layout), then option A
        // (whole new kv groups appended): child head j = group j/r2, slot j%r2.
        for (int j = 0; j < h2; j++) {
            int grp = j / r2, slot = j % r2;
            headMap[j] = grp < g && slot < r ? grp * r + slot : -1;
        }
    }

    private static int[] prefix(int n, int n2) {
        int[] m = new int[n2];
        for (int i = 0; i < n2; i++) m[i] = i < n ? i : -1;
        return m;
    }

    static GrowthLayout resolve(GrowthPlan plan, LlamaConfig p) {
        if (p.tieWordEmbeddings()) {
            // Tied embeddings are fine for every operator: the one matrix grows columns.
        }
        int d = p.hiddenSize(), h = p.numAttentionHeads(), g = p.numKeyValueHeads(), hd = p.headDim(),
                f = p.intermediateSize(), l = p.numHiddenLayers();
        int d2 = or(plan.hiddenSize(), d), h2 = or(plan.numHeads(), h), f2 = or(plan.intermediateSize(), f),
                l2 = or(plan.numLayers(), l);
        // kv heads: keep the parent's ratio when heads grow and kv heads are not given (MHA stays MHA).
        int g2;
        if (plan.numKvHeads() != null) g2 = plan.numKvHeads();
        else if (h2 == h) g2 = g;
        else if (g == h) g2 = h2;
        else if (h2 % (h / g) == 0) g2 = h2 / (h / g);
        else g2 = g;
        shrink("hidden_size", d, d2);
        shrink("num_attention_heads", h, h2);
        shrink("num_key_value_heads", g, g2);
        shrink("intermediate_size", f, f2);
        shrink("num_hidden_layers", l, l2);
        if (g2 <= 0 || h2 % g2 != 0) {
            throw new ArborException("num_key_value_heads (" + g2 + ") must divide num_attention_heads (" + h2 + ").");
        }
        if (h2 / g2 < h / g) {
            throw new ArborException("The plan lowers the query heads per kv head from " + (h / g) + " to " + (h2 / g2)
                    + ", which would need duplicated kv heads; keep num_attention_heads/num_key_value_heads ≥ " + (h / g) + ".");
        }
        if (plan.headDim() != null && plan.headDim() != hd) {
            throw new ArborException("The plan sets head_dim " + plan.headDim() + " but growth keeps the parent's head_dim " + hd + ".");
        }
        boolean explicitHd = p.hasExplicitHeadDim() || plan.headDim() != null;
        if (d2 != h2 * hd && !explicitHd && d2 % h2 != 0) {
            throw new ArborException("num_attention_heads (" + h2 + ") does not divide hidden_size (" + d2
                    + "); give head_dim (" + hd + ") explicitly in the plan or choose sizes with hidden_size = heads × " + hd + ".");
        }
        if (d2 == d && h2 == h && g2 == g && f2 == f && l2 == l) {
            throw new ArborException("The plan grows nothing: the target shape equals the parent's.");
        }
        LlamaConfig c = p.with("hidden_size", d2).with("num_attention_heads", h2).with("num_key_value_heads", g2)
                .with("intermediate_size", f2).with("num_hidden_layers", l2);
        if (d2 != h2 * hd || p.hasExplicitHeadDim() || plan.headDim() != null) c = c.with("head_dim", hd);
        GrowthLayout lay = new GrowthLayout(p, c, d2, h2, g2, f2, l2);
        if (plan.selection().metric() == GrowthPlan.Selection.Metric.EXPLICIT) {
            lay.setSources(plan.selection().sources());
        } else if (l2 == l) {
            lay.setSources(List.of());
        }
        return lay;
    }

    private static int or(Integer v, int d) { return v == null ? d : v; }

    private static void shrink(String field, int from, int to) {
        if (to < from) throw new ArborException("The plan shrinks " + field + " from " + from + " to " + to + "; growth only adds.");
    }

    /** Sets the source layers of the inserted copies (each copy goes right after its source). */
    void setSources(List<Integer> src) {
        if (src.size() != l2 - l) {
            throw new ArborException("The plan adds " + (l2 - l) + " layer" + (l2 - l == 1 ? "" : "s") + " but names "
                    + src.size() + " source layer" + (src.size() == 1 ? "" : "s") + ".");
        }
        for (int s : src) {
            if (s < 0 || s >= l) throw new ArborException("Source layer " + s + " is out of range: the parent has layers 0.." + (l - 1) + ".");
        }
        List<Integer> sorted = new ArrayList<>(src);
        sorted.sort(null);
        sources = List.copyOf(sorted);
        layerMap = new int[l2];
        inserted = new boolean[l2];
        int c = 0;
        for (int p = 0; p < l; p++) {
            layerMap[c++] = p;
            for (int s : sorted) {
                if (s == p) {
                    inserted[c] = true;
                    layerMap[c++] = p;
                }
            }
        }
    }

    boolean needsSelection() { return layerMap == null; }

    public LlamaConfig parentConfig() { return parent; }

    public LlamaConfig childConfig() { return child; }

    /** The child index of each parent layer. */
    int[] parentToChild() {
        int[] out = new int[l];
        for (int c = 0; c < l2; c++) if (!inserted[c]) out[layerMap[c]] = c;
        return out;
    }

    /** Child indices of the inserted layers. */
    List<Integer> insertedLayers() {
        List<Integer> out = new ArrayList<>();
        for (int c = 0; c < l2; c++) if (inserted[c]) out.add(c);
        return out;
    }

    /** Child head indices that are new (option A and B). */
    List<Integer> newHeads() {
        List<Integer> out = new ArrayList<>();
        for (int j = 0; j < h2; j++) if (headMap[j] < 0) out.add(j);
        return out;
    }

    boolean growsHidden() { return d2 > d; }
    boolean growsHeads() { return h2 > h; }
    boolean growsFfn() { return f2 > f; }
    boolean growsDepth() { return l2 > l; }
    boolean relayoutHeads() { return r2 > r; }

    /** Expands a head/kv-head map to rows of head_dim (−1 stays −1). */
    int[] expand(int[] map) {
        int[] out = new int[map.length * hd];
        for (int j = 0; j < map.length; j++) {
            for (int i = 0; i < hd; i++) out[j * hd + i] = map[j] < 0 ? -1 : map[j] * hd + i;
        }
        return out;
    }
}
