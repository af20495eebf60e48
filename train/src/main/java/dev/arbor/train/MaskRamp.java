package dev.arbor.train;

import java.util.Arrays;

/**
 * The MSG mask ramp (GROWTH.md §2, §5): after a growth event every new entry of every mask is
 * c(k) = min(1, k/N), k the optimizer steps completed since the growth, computed in double and
 * rounded once to f32 (never accumulated: pitfall P7). Entries that are 1 belong to the parent
 * and stay 1. When c reaches 1 the masks are folded away: a mask of ones is the plain model
 * exactly, so folding is dropping them.
 *
 * <p>Which entries are new is read from the masks themselves: the entries below 1. A ramp that
 * starts from masks already at c (a checkpoint saved mid-ramp) resumes at k = round(c·N).
 */
final class MaskRamp {
    private final Params p;
    private final int steps;
    private final boolean[] hiddenNew;
    private final boolean[][] headNew, ffnNew;
    private final boolean[] gateNew;
    private final boolean ramping;
    private long k;

    /** The ramp state; {@code k} completed steps of {@code steps}. */
    record State(long k, int steps) {}

    MaskRamp(Params p, int steps, Long resumeK) {
        if (steps < 1) throw new dev.arbor.format.ArborException("The ramp needs at least one step.");
        this.p = p;
        this.steps = steps;
        hiddenNew = below1(p.hiddenMask);
        headNew = new boolean[p.numLayers][];
        ffnNew = new boolean[p.numLayers][];
        gateNew = new boolean[p.numLayers];
        float c = 0;
        boolean any = false;
        for (float[] m : allMasks()) {
            if (m == null) continue;
            for (float x : m) if (x < 1f) { c = Math.max(c, x); any = true; }
        }
        for (int l = 0; l < p.numLayers; l++) {
            headNew[l] = below1(p.headMask[l]);
            ffnNew[l] = below1(p.ffnMask[l]);
            gateNew[l] = p.layerGate[l] < 1f;
            if (gateNew[l]) { c = Math.max(c, p.layerGate[l]); any = true; }
        }
        ramping = p.hasMasks();
        k = resumeK != null ? resumeK : any ? Math.round((double) c * steps) : steps;
        apply();
    }

    private java.util.List<float[]> allMasks() {
        java.util.List<float[]> out = new java.util.ArrayList<>();
        out.add(p.hiddenMask);
        out.addAll(Arrays.asList(p.headMask));
        out.addAll(Arrays.asList(p.ffnMask));
        return out;
    }

    private static boolean[] below1(float[] m) {
        if (m == null) return null;
        boolean[] b = new boolean[m.length];
        for (int i = 0; i < m.length; i++) b[i] = m[i] < 1f;
        return b;
    }

    /** c(k) = min(1, k/N) in double, rounded once to f32. */
    static float value(long k, int steps) { return (float) Math.min(1.0, (double) k / steps); }

    float current() { return value(k, steps); }

    /** Whether masks are pending now. */
    boolean active() { return p.hasMasks(); }

    /** Whether this run started with masks (a ramp, possibly finished and folded since). */
    boolean ramping() { return ramping; }

    State state() { return new State(k, steps); }

    /** Call after each optimizer step: advances k and sets the masks, folding them at c = 1. */
    void advance() {
        if (!active()) return;
        k++;
        apply();
    }

    private void apply() {
        float c = current();
        if (c >= 1f) {
            // Fold: every mask is exactly 1 now, which is the plain model.
            p.hiddenMask = null;
            Arrays.fill(p.headMask, null);
            Arrays.fill(p.ffnMask, null);
            Arrays.fill(p.layerGate, 1f);
            return;
        }
        set(p.hiddenMask, hiddenNew, c);
        for (int l = 0; l < p.numLayers; l++) {
            set(p.headMask[l], headNew[l], c);
            set(p.ffnMask[l], ffnNew[l], c);
            if (gateNew[l]) p.layerGate[l] = c;
        }
    }

    private static void set(float[] m, boolean[] isNew, float c) {
        if (m == null) return;
        for (int i = 0; i < m.length; i++) if (isNew[i]) m[i] = c;
    }
}
