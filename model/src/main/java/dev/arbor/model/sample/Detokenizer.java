package dev.arbor.model.sample;

/** Turns generated ids into text, for stop strings and streaming (e.g. a Tokenizer's decode). */
@FunctionalInterface
public interface Detokenizer {
    String decode(int[] ids);
}
