package dev.arbor.model;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.arbor.format.ArborException;
import dev.arbor.format.Checkpoint;
import dev.arbor.format.LlamaConfig;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** Bad input gets one clear sentence (an ArborException), never a stack trace from deep inside. */
class BadInputTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @Test
    void anUnknownArchitectureIsRefused() {
        try (Checkpoint ck = Goldens.open("mha_f32")) {
            LlamaConfig c = ck.requireConfig().with("architectures", JSON.createArrayNode().add("GPT2LMHeadModel"));
            assertThatThrownBy(() -> LlamaModel.load(TestSources.over(ck).config(c)))
                    .isInstanceOf(ArborException.class).hasMessageContaining("GPT2LMHeadModel");
        }
    }

    @Test
    void anUnsupportedRopeScalingIsRefused() throws Exception {
        try (Checkpoint ck = Goldens.open("mha_f32")) {
            LlamaConfig c = ck.requireConfig().with("rope_scaling", JSON.readTree("{\"rope_type\": \"yarn\", \"factor\": 4.0}"));
            assertThatThrownBy(() -> LlamaModel.load(TestSources.over(ck).config(c)))
                    .isInstanceOf(ArborException.class)
                    .hasMessageContaining("rope_scaling type 'yarn' is not supported; Arbor supports llama3 and linear");
        }
    }

    @Test
    void tokenIdsOutsideTheVocabularyAreRefused() {
        try (Checkpoint ck = Goldens.open("mha_f32"); LlamaModel m = LlamaModel.load(ck, 1)) {
            assertThatThrownBy(() -> m.logits(new int[]{1, 48})).isInstanceOf(ArborException.class)
                    .hasMessage("Token id 48 is outside the vocabulary (size 48).");
            assertThatThrownBy(() -> m.logits(new int[]{-1})).isInstanceOf(ArborException.class);
            Sequence s = m.newSequence();
            assertThatThrownBy(() -> m.step(s, 3, 99)).isInstanceOf(ArborException.class);
            assertThat(s.length()).as("a refused step leaves the sequence unchanged").isZero();
        }
    }

    @Test
    void aPromptLongerThanMaxPositionEmbeddingsIsRefused() {
        try (Checkpoint ck = Goldens.open("mha_f32")) {
            LlamaConfig c = ck.requireConfig().with("max_position_embeddings", 16);
            try (LlamaModel m = LlamaModel.load(TestSources.over(ck).config(c), 1)) {
                assertThat(m.logits(new int[16])).hasSize(16 * 48);
                assertThatThrownBy(() -> m.logits(new int[17])).isInstanceOf(ArborException.class)
                        .hasMessageContaining("more than max_position_embeddings (16)");
                Sequence s = m.newSequence();
                m.step(s, new int[15]);
                m.step(s, 1);
                assertThatThrownBy(() -> m.step(s, 1)).isInstanceOf(ArborException.class);
            }
        }
    }

    @Test
    void missingOrMisshapenTensorsAreNamed() {
        try (Checkpoint ck = Goldens.open("mha_f32")) {
            LlamaConfig wider = ck.requireConfig().with("intermediate_size", 41);
            assertThatThrownBy(() -> LlamaModel.load(TestSources.over(ck).config(wider)))
                    .isInstanceOf(ArborException.class).hasMessageContaining("model.layers.0.mlp.gate_proj.weight")
                    .hasMessageContaining("[40, 24]");
            LlamaConfig deeper = ck.requireConfig().with("num_hidden_layers", 3);
            assertThatThrownBy(() -> LlamaModel.load(TestSources.over(ck).config(deeper)))
                    .isInstanceOf(ArborException.class).hasMessageContaining("lacks tensor 'model.layers.2.");
        }
    }

    @Test
    void eosIdsComeFromTheConfigWithoutGenerationConfig() {
        try (Checkpoint ck = Goldens.open("mha_f32"); LlamaModel m = LlamaModel.load(ck, 1)) {
            assertThat(m.eosIds()).isEqualTo(List.of(2));
        }
    }
}
