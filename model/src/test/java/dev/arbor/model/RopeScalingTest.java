package dev.arbor.model;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.arbor.format.Checkpoint;
import dev.arbor.format.LlamaConfig;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * rope_scaling (not covered by the Python reference): the engine against the f64 transcription
 * of HF's rules. The llama3 parameters are chosen so that low, medium and high frequencies all
 * occur with head_dim 8.
 */
class RopeScalingTest {

    @ParameterizedTest
    @ValueSource(strings = {
            "{\"rope_type\": \"linear\", \"factor\": 4.0}",
            "{\"type\": \"linear\", \"factor\": 2.0}",
            "{\"rope_type\": \"llama3\", \"factor\": 8.0, \"low_freq_factor\": 1.0, \"high_freq_factor\": 4.0, \"original_max_position_embeddings\": 64}"})
    void scaledRopeMatchesHfRules(String scaling) throws Exception {
        try (Checkpoint ck = Goldens.open("gqa_bf16")) {
            LlamaConfig c = ck.requireConfig().with("rope_scaling", new ObjectMapper().readTree(scaling));
            TestSources s = TestSources.over(ck).config(c);
            int[] tokens = Goldens.tokens("gqa_bf16");
            double[] ref = NaiveLlama.logits(s, tokens);
            double[] plainRef = NaiveLlama.logits(ck, tokens);
            try (LlamaModel m = LlamaModel.load(s, 2)) {
                float[] got = m.logits(tokens);
                assertThat(Goldens.maxRel(got, ref)).isLessThanOrEqualTo(1e-5);
                assertThat(Goldens.maxRel(got, plainRef)).as("scaling changes the result").isGreaterThan(1e-3);
            }
        }
    }

    @ParameterizedTest
    @ValueSource(ints = {0, 1, 2, 3})
    void llama3KeepsHighAndDividesLowFrequencies(int i) throws Exception {
        LlamaConfig c = LlamaConfig.create(64, 1, 8, 8, 64, 10).with("rope_scaling", new ObjectMapper().readTree(
                "{\"rope_type\": \"llama3\", \"factor\": 8.0, \"low_freq_factor\": 1.0, \"high_freq_factor\": 4.0, \"original_max_position_embeddings\": 64}"));
        double[] inv = NaiveLlama.invFreq(c);
        double plain = Math.pow(10000, -2.0 * i / 8), wavelen = 2 * Math.PI / plain;
        if (wavelen < 16) assertThat(inv[i]).isEqualTo(plain);
        else if (wavelen > 64) assertThat(inv[i]).isEqualTo(plain / 8);
        else assertThat(inv[i]).isBetween(plain / 8, plain);
    }
}
