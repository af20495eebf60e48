package dev.arbor.model.sample;

/**
 * The result of one generation: the generated ids (without the prompt or the EOS token), their
 * text (cut before a stop string), why it ended, and how long prefill and decode took.
 */
public record Generation(int[] ids, String text, FinishReason finishReason, long promptNanos, long decodeNanos) {
    public enum FinishReason { EOS, STOP_STRING, MAX_TOKENS }
}
