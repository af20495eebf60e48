package dev.arbor.model.sample;

import dev.arbor.model.LlamaModel;
import dev.arbor.model.Sequence;

import java.util.Arrays;
import java.util.function.Consumer;

/**
 * Generates one sequence: prefill the prompt, then sample and decode token by token with the
 * KV cache. Text is streamed in pieces that never end inside a possible stop string or an
 * unfinished UTF-8 character (a trailing U+FFFD is held back), and the pieces concatenate to
 * the final text.
 */
public final class Generator {
    private final LlamaModel model;

    public Generator(LlamaModel model) { this.model = model; }

    /**
     * @param detokenizer ids to text; may be null when no stop strings are given and onText is null
     * @param onText      receives text pieces as they become final; may be null
     */
    public Generation generate(int[] prompt, SamplingParams params, Detokenizer detokenizer, Consumer<String> onText) {
        if (prompt.length == 0) throw new dev.arbor.format.ArborException("The prompt is empty.");
        if (detokenizer == null && (onText != null || !params.stop().isEmpty())) {
            throw new IllegalArgumentException("stop strings and streaming need a detokenizer");
        }
        Sampler sampler = new Sampler(params);
        Sequence seq = model.newSequence();
        TextStream text = detokenizer == null ? null : new TextStream(detokenizer, params.stop());
        int[] out = new int[Math.max(params.maxTokens(), 1)];
        int n = 0;
        long t0 = System.nanoTime();
        float[] logits = params.maxTokens() > 0 ? model.step(seq, prompt) : null;
        long t1 = System.nanoTime();
        Generation.FinishReason reason = Generation.FinishReason.MAX_TOKENS;
        while (n < params.maxTokens()) {
            int id = sampler.sample(logits);
            if (params.eosIds().contains(id)) {
                reason = Generation.FinishReason.EOS;
                break;
            }
            out[n++] = id;
            sampler.accept(id);
            if (text != null) {
                emit(onText, text.push(id));
                if (text.stopped()) break;
            }
            if (n == params.maxTokens() || seq.length() >= model.maxPositions()) break;
            logits = model.step(seq, id);
        }
        if (text != null) {
            emit(onText, text.finish());   // a stop string may complete in the held-back text
            if (text.stopped()) reason = Generation.FinishReason.STOP_STRING;
        }
        long t2 = System.nanoTime();
        seq.release();
        return new Generation(Arrays.copyOf(out, n), text == null ? "" : text.text(), reason, t1 - t0, t2 - t1);
    }

    private static void emit(Consumer<String> onText, String piece) {
        if (onText != null && !piece.isEmpty()) onText.accept(piece);
    }
}
