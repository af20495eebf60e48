package dev.arbor.model.sample;

import dev.arbor.format.ArborException;

import java.util.List;

/**
 * How to pick tokens and when to stop. temperature 0 is greedy (argmax, lowest id on ties).
 * topK 0, topP 1 and minP 0 switch those filters off. Penalties follow OpenAI's definition and
 * count generated tokens only: logit −= presence·[count > 0] + frequency·count.
 * maxTokens caps the generated tokens; generation also stops at any of eosIds (not emitted)
 * or when the decoded text contains a stop string (the text is cut before it).
 */
public record SamplingParams(double temperature, int topK, double topP, double minP,
                             double presencePenalty, double frequencyPenalty,
                             int maxTokens, List<String> stop, List<Integer> eosIds, long seed) {

    public SamplingParams {
        if (!(temperature >= 0) || Double.isInfinite(temperature)) throw new ArborException("temperature must be a finite number >= 0.");
        if (topK < 0) throw new ArborException("top-k must be >= 0.");
        if (!(topP > 0 && topP <= 1)) throw new ArborException("top-p must be in (0, 1].");
        if (!(minP >= 0 && minP <= 1)) throw new ArborException("min-p must be in [0, 1].");
        if (maxTokens < 0) throw new ArborException("max tokens must be >= 0.");
        stop = List.copyOf(stop);
        eosIds = List.copyOf(eosIds);
        for (String s : stop) if (s.isEmpty()) throw new ArborException("A stop string must not be empty.");
    }

    /** Greedy decoding of up to maxTokens tokens, stopping at the given EOS ids. */
    public static SamplingParams greedy(int maxTokens, List<Integer> eosIds) {
        return new SamplingParams(0, 0, 1, 0, 0, 0, maxTokens, List.of(), eosIds, 0);
    }

    public SamplingParams withTemperature(double t) { return new SamplingParams(t, topK, topP, minP, presencePenalty, frequencyPenalty, maxTokens, stop, eosIds, seed); }
    public SamplingParams withTopK(int k) { return new SamplingParams(temperature, k, topP, minP, presencePenalty, frequencyPenalty, maxTokens, stop, eosIds, seed); }
    public SamplingParams withTopP(double p) { return new SamplingParams(temperature, topK, p, minP, presencePenalty, frequencyPenalty, maxTokens, stop, eosIds, seed); }
    public SamplingParams withMinP(double p) { return new SamplingParams(temperature, topK, topP, p, presencePenalty, frequencyPenalty, maxTokens, stop, eosIds, seed); }
    public SamplingParams withPenalties(double presence, double frequency) { return new SamplingParams(temperature, topK, topP, minP, presence, frequency, maxTokens, stop, eosIds, seed); }
    public SamplingParams withStop(List<String> s) { return new SamplingParams(temperature, topK, topP, minP, presencePenalty, frequencyPenalty, maxTokens, s, eosIds, seed); }
    public SamplingParams withSeed(long s) { return new SamplingParams(temperature, topK, topP, minP, presencePenalty, frequencyPenalty, maxTokens, stop, eosIds, s); }
    public SamplingParams withMaxTokens(int n) { return new SamplingParams(temperature, topK, topP, minP, presencePenalty, frequencyPenalty, n, stop, eosIds, seed); }
}
