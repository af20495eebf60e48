package dev.arbor.model;

import dev.arbor.format.Checkpoint;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import static org.assertj.core.api.Assertions.assertThat;

/** F32 logits against the reference's f64 forward (std-0.2 weights, so RoPE and attention matter). */
class ForwardGoldenTest {

    @ParameterizedTest
    @ValueSource(strings = {"mha_f32", "gqa_bf16", "mqa_f16_3sh", "tied_hd12", "long_t520"})
    void logitsMatchTheF64Reference(String name) {
        int[] tokens = Goldens.tokens(name);
        double[] ref = Goldens.logits(name);
        try (Checkpoint ck = Goldens.open(name); LlamaModel m = LlamaModel.load(ck, 2)) {
            float[] got = m.logits(tokens);
            double rel = Goldens.maxRel(got, ref);
            System.out.printf("golden %-12s T=%3d max|Δ|/max|ref| = %.3g%n", name, tokens.length, rel);
            assertThat(rel).isLessThanOrEqualTo(1e-5);
        }
    }
}
