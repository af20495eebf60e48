package dev.arbor.model.sample;

import java.util.Arrays;
import java.util.function.Function;

/**
 * Turns one generation's ids into text as they are sampled, for stop strings and streaming. A
 * tokenizer's is {@code Tokenizer.detokenizer}, whose steps decode a short window of ids each.
 */
@FunctionalInterface
public interface Detokenizer {
    /** A fresh decoder for one generation. */
    Stream start();

    /** The text of one generation's ids, a piece per id: the pieces and then {@link #flush} concatenate to the decode of all ids. */
    interface Stream {
        /** Adds an id; returns the text it completes ("" while a character is unfinished). */
        String push(int id);

        /** Returns the text still held back (an unfinished character decodes as U+FFFD). */
        String flush();
    }

    /**
     * A detokenizer from a function that decodes whole id arrays: each step decodes every id so
     * far (its cost grows with the length) and holds back a trailing U+FFFD. For simple decoders
     * and tests; assumes decode(a + b) starts with decode(a).
     */
    static Detokenizer whole(Function<int[], String> decode) {
        return () -> new Stream() {
            private int[] ids = new int[16];
            private int n, shown;

            @Override public String push(int id) {
                if (n == ids.length) ids = Arrays.copyOf(ids, 2 * n);
                ids[n++] = id;
                String now = decode.apply(Arrays.copyOf(ids, n));
                if (now.endsWith("\uFFFD")) return "";
                return take(now);
            }

            @Override public String flush() { return take(decode.apply(Arrays.copyOf(ids, n))); }

            private String take(String now) {
                String piece = now.length() > shown ? now.substring(shown) : "";
                shown = Math.max(shown, now.length());
                return piece;
            }
        };
    }
}
