package dev.arbor.model.tokenizer;

import java.util.Arrays;

/**
 * Turns generated token ids into text one id at a time, for streaming.
 *
 * <p>A token can end in the middle of a UTF-8 character (byte-level BPE, SentencePiece byte
 * fallback), and SentencePiece decoders strip the leading space of the first token of whatever they
 * decode. So each step decodes a short window of ids twice, with and without the ids not yet
 * shown, and emits only the difference, holding it back while it ends in U+FFFD (an incomplete
 * byte sequence) or in a byte-fallback token (HF decodes a run of {@code <0xNN>} tokens as a whole:
 * a later byte can turn the run into U+FFFDs). The window starts at the previous piece, which gives
 * the decoder its context. This is the scheme of HF's text-generation-inference, made exact.
 *
 * <p>Invariant (checked by the tests for every fixture case): the pieces from {@link #push} plus
 * {@link #flush} concatenate to {@link Tokenizer#decode} of all ids. Not thread-safe: one per stream.
 */
public final class StreamDecoder implements dev.arbor.model.sample.Detokenizer.Stream {
    private final Tokenizer tokenizer;
    private final boolean skipSpecialTokens;
    private int[] ids = new int[64];
    private int count;
    private int prefix;         // window start: the ids of the last emitted piece begin here
    private int read;           // ids before this have been emitted
    private String shown;       // decode(ids[prefix, read)), cached until the window moves

    StreamDecoder(Tokenizer tokenizer, boolean skipSpecialTokens) {
        this.tokenizer = tokenizer;
        this.skipSpecialTokens = skipSpecialTokens;
    }

    /** Adds one id and returns the text it completes: often one token's text, sometimes "" (held back). */
    @Override public String push(int id) {
        tokenizer.checkId(id);
        if (count == ids.length) ids = Arrays.copyOf(ids, count * 2);
        ids[count++] = id;
        return next(false);
    }

    /** Returns whatever is held back (an incomplete character comes out as U+FFFD, as decode gives it). */
    @Override public String flush() {
        return next(true);
    }

    /** All ids pushed so far. */
    public int[] ids() { return Arrays.copyOf(ids, count); }

    private String next(boolean force) {
        if (read == count) return "";
        if (shown == null) shown = decode(prefix, read);
        String now = decode(prefix, count);
        if (!force && (now.length() <= shown.length() || now.endsWith("\uFFFD") || !now.startsWith(shown)
                || tokenizer.isByteToken(ids[count - 1]))) return "";
        // HF's decoders are prefix-stable (decode(a + b) starts with decode(a)); if one were not,
        // emit from the first difference rather than repeat text.
        int common = commonPrefix(shown, now);
        String piece = now.substring(common);
        prefix = read;
        read = count;
        shown = null;
        return piece;
    }

    private String decode(int from, int to) {
        return from == to ? "" : tokenizer.decode(Arrays.copyOfRange(ids, from, to), skipSpecialTokens);
    }

    private static int commonPrefix(String a, String b) {
        int n = Math.min(a.length(), b.length()), i = 0;
        while (i < n && a.charAt(i) == b.charAt(i)) i++;
        // never cut a surrogate pair
        if (i > 0 && i < b.length() && Character.isHighSurrogate(b.charAt(i - 1))) i--;
        return i;
    }
}
