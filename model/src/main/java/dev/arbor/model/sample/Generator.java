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
        int[] out = new int[Math.max(params.maxTokens(), 1)];
        int n = 0;
        int emitted = 0;
        String text = "";
        int holdBack = 0;
        for (String s : params.stop()) holdBack = Math.max(holdBack, s.length() - 1);
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
            if (detokenizer != null) {
                text = detokenizer.decode(Arrays.copyOf(out, n));
                int cut = firstStop(text, params, emitted);
                if (cut >= 0) {
                    text = text.substring(0, cut);
                    reason = Generation.FinishReason.STOP_STRING;
                    break;
                }
                int safe = text.length() - holdBack;
                while (safe > emitted && text.charAt(safe - 1) == '\uFFFD') safe--;
                if (safe > emitted && Character.isHighSurrogate(text.charAt(safe - 1))) safe--;
                if (onText != null && safe > emitted) {
                    onText.accept(text.substring(emitted, safe));
                    emitted = safe;
                }
            }
            if (n == params.maxTokens() || seq.length() >= model.maxPositions()) break;
            logits = model.step(seq, id);
        }
        if (onText != null && text.length() > emitted) onText.accept(text.substring(emitted));
        long t2 = System.nanoTime();
        return new Generation(Arrays.copyOf(out, n), text, reason, t1 - t0, t2 - t1);
    }

    private static int firstStop(String text, SamplingParams p, int from) {
        int best = -1;
        for (String s : p.stop()) {
            int i = text.indexOf(s, Math.max(0, from - s.length() + 1));
            if (i >= 0 && (best < 0 || i < best)) best = i;
        }
        return best;
    }
}
