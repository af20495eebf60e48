package dev.arbor.model.sample;

import dev.arbor.format.Checkpoint;
import dev.arbor.model.LlamaModel;
import org.junit.jupiter.api.Test;

import java.net.URISyntaxException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/** Stopping and streaming on a tiny model, with a detokenizer that spells each id as "<id>". */
class GeneratorTest {
    private static final Detokenizer SPELL = Detokenizer.whole(ids -> {
        StringBuilder sb = new StringBuilder();
        for (int id : ids) sb.append('<').append(id).append('>');
        return sb.toString();
    });
    private static final int[] PROMPT = {7, 11, 10, 46, 21, 39, 32, 27};   // greedy continues 40 40 60 40 6 54 ...

    private static Checkpoint open() throws URISyntaxException {
        return Checkpoint.open(Path.of(GeneratorTest.class.getResource("/golden/gqa_bf16/config.json").toURI()).getParent());
    }

    @Test
    void stopsAtEosWithoutEmittingIt() throws Exception {
        try (Checkpoint ck = open(); LlamaModel m = LlamaModel.load(ck, 2)) {
            Generation g = new Generator(m).generate(PROMPT, SamplingParams.greedy(20, List.of(60)), SPELL, null);
            assertThat(g.ids()).containsExactly(40, 40);
            assertThat(g.finishReason()).isEqualTo(Generation.FinishReason.EOS);
        }
    }

    @Test
    void stopStringsCutTheTextAndStreamedPiecesAddUpToIt() throws Exception {
        try (Checkpoint ck = open(); LlamaModel m = LlamaModel.load(ck, 2)) {
            List<String> pieces = new ArrayList<>();
            SamplingParams p = SamplingParams.greedy(20, List.of()).withStop(List.of("<6><5", "<99>"));
            Generation g = new Generator(m).generate(PROMPT, p, SPELL, pieces::add);
            assertThat(g.text()).isEqualTo("<40><40><60><40>");
            assertThat(g.finishReason()).isEqualTo(Generation.FinishReason.STOP_STRING);
            assertThat(String.join("", pieces)).isEqualTo(g.text());
            assertThat(pieces).hasSizeGreaterThan(1);
        }
    }

    @Test
    void maxTokensBoundsTheOutput() throws Exception {
        try (Checkpoint ck = open(); LlamaModel m = LlamaModel.load(ck, 2)) {
            Generation g = new Generator(m).generate(PROMPT, SamplingParams.greedy(3, List.of()), SPELL, null);
            assertThat(g.ids()).containsExactly(40, 40, 60);
            assertThat(g.text()).isEqualTo("<40><40><60>");
        }
    }
}
