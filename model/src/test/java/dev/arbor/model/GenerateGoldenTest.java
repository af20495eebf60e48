package dev.arbor.model;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.arbor.format.Checkpoint;
import dev.arbor.model.sample.Generation;
import dev.arbor.model.sample.Generator;
import dev.arbor.model.sample.SamplingParams;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/** Greedy generation against the reference's ids (which it prints with each step's top-2 margin). */
class GenerateGoldenTest {

    @Test
    void greedyIdsMatchTheReferenceWhereTheMarginIsClear() throws Exception {
        JsonNode ref = new ObjectMapper().readTree(Files.readString(Goldens.dir("gqa_bf16").resolve("generate.json")));
        int[] prompt = new int[ref.get("prompt").size()];
        for (int i = 0; i < prompt.length; i++) prompt[i] = ref.get("prompt").get(i).intValue();
        JsonNode steps = ref.get("steps");
        try (Checkpoint ck = Goldens.open("gqa_bf16"); LlamaModel m = LlamaModel.load(ck, 2)) {
            Generation g = new Generator(m).generate(prompt, SamplingParams.greedy(steps.size(), List.of()), null, null);
            assertThat(g.ids()).hasSize(steps.size());
            int compared = 0;
            for (int i = 0; i < steps.size(); i++) {
                if (steps.get(i).get("margin").doubleValue() <= 1e-4) break;   // after a near-tie the paths may part
                assertThat(g.ids()[i]).as("step %d", i).isEqualTo(steps.get(i).get("id").intValue());
                compared++;
            }
            assertThat(compared).isGreaterThan(10);
            assertThat(g.finishReason()).isEqualTo(Generation.FinishReason.MAX_TOKENS);
        }
    }
}
