package dev.arbor.model;

import dev.arbor.format.ArborException;
import dev.arbor.format.Checkpoint;
import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.SplittableRandom;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** The MSG masked forward of GROWTH.md §2. */
class MaskedForwardTest {
    private static final String NAME = "gqa_bf16";   // D 48, H 6, G 2, F 88, 2 layers
    private final int[] tokens = Arrays.copyOf(Goldens.tokens(NAME), 20);

    private static float[] filled(int n, float v) {
        float[] a = new float[n];
        Arrays.fill(a, v);
        return a;
    }

    private static TestSources allMasks(Checkpoint ck, float hidden, float head, float ffn, float gate) {
        TestSources s = TestSources.over(ck).with(LlamaModel.MASK_HIDDEN, filled(48, hidden));
        for (int l = 0; l < 2; l++) {
            s.with("model.layers." + l + ".self_attn.grow_mask", filled(6, head))
             .with("model.layers." + l + ".mlp.grow_mask", filled(88, ffn))
             .with("model.layers." + l + ".grow_mask", gate);
        }
        return s;
    }

    @Test
    void masksOfOnesComputeThePlainModel() {
        try (Checkpoint ck = Goldens.open(NAME); LlamaModel plain = LlamaModel.load(ck, 2);
             LlamaModel masked = LlamaModel.load(allMasks(ck, 1, 1, 1, 1), 2)) {
            assertThat(plain.hasGrowthMasks()).isFalse();
            // masks of ones are the plain model (GROWTH.md §6), so the engine drops them and runs
            // the plain kernels: the end of a ramp computes bit for bit what its folded export does
            assertThat(masked.hasGrowthMasks()).isFalse();
            float[] a = plain.logits(tokens), b = masked.logits(tokens);
            assertThat(b).containsExactly(a);
        }
    }

    @Test
    void fractionalMasksMatchTheFormulasOfGrowthMd() {
        SplittableRandom r = new SplittableRandom(7);
        try (Checkpoint ck = Goldens.open(NAME)) {
            TestSources s = TestSources.over(ck).with(LlamaModel.MASK_HIDDEN, random(r, 48));
            for (int l = 0; l < 2; l++) {
                s.with("model.layers." + l + ".self_attn.grow_mask", random(r, 6))
                 .with("model.layers." + l + ".mlp.grow_mask", random(r, 88))
                 .with("model.layers." + l + ".grow_mask", (float) r.nextDouble());
            }
            double[] ref = NaiveLlama.logits(s, tokens);
            try (LlamaModel m = LlamaModel.load(s, 2)) {
                double rel = Goldens.maxRel(m.logits(tokens), ref);
                System.out.printf("masked forward (random masks in [0,1]) vs f64 transcription: %.3g%n", rel);
                assertThat(rel).isLessThanOrEqualTo(1e-5);
            }
        }
    }

    @Test
    void aZeroLayerGateSkipsTheLayer() {
        // c_l = 0 on layer 1 leaves only layer 0: the same as a model whose layer 1 writes nothing.
        try (Checkpoint ck = Goldens.open(NAME);
             LlamaModel gated = LlamaModel.load(TestSources.over(ck).with("model.layers.1.grow_mask", 0f), 2);
             LlamaModel plain = LlamaModel.load(ck, 2)) {
            double[] ref = NaiveLlama.logits(TestSources.over(ck).with("model.layers.1.grow_mask", 0f), tokens);
            assertThat(Goldens.maxRel(gated.logits(tokens), ref)).isLessThanOrEqualTo(1e-5);
            assertThat(Goldens.maxRel(gated.logits(tokens), plain.logits(tokens))).isGreaterThan(1e-2);
        }
    }

    @Test
    void masksOutsideTheUnitIntervalOrOfTheWrongShapeAreRefused() {
        try (Checkpoint ck = Goldens.open(NAME)) {
            assertThatThrownBy(() -> LlamaModel.load(TestSources.over(ck).with("model.layers.0.mlp.grow_mask", filled(88, 1.5f))))
                    .isInstanceOf(ArborException.class).hasMessageContaining("outside [0, 1]");
            assertThatThrownBy(() -> LlamaModel.load(TestSources.over(ck).with("model.layers.0.self_attn.grow_mask", filled(5, 1f))))
                    .isInstanceOf(ArborException.class).hasMessageContaining("shape [6]");
        }
    }

    private static float[] random(SplittableRandom r, int n) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float) r.nextDouble();
        a[0] = 1f;   // the mask of a grown model always keeps some parent structure at 1
        return a;
    }
}
