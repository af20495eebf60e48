package dev.arbor.model.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.FieldSource;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import static dev.arbor.model.tokenizer.TokenizerFixtures.ints;
import static org.assertj.core.api.Assertions.assertThat;

/** Streaming detokenization: pieces concatenate to the full decode and never split a character. */
class TokenizerStreamDecoderTest {
    static final List<String> NAMES = TokenizerFixtures.NAMES;

    @ParameterizedTest @FieldSource("NAMES")
    void piecesConcatenateToTheFullDecodeForEveryCase(String name) {
        Tokenizer tok = TokenizerFixtures.tokenizer(name);
        List<String> wrong = new ArrayList<>();
        for (JsonNode c : TokenizerFixtures.expected(name)) {
            for (String field : List.of("ids", "ids_with_special")) {
                for (boolean skip : new boolean[] {false, true}) {
                    String problem = check(tok, ints(c.get(field)), skip);
                    if (problem != null) wrong.add(c.get("id").asText() + " " + field + (skip ? " skip" : "") + ": " + problem);
                }
            }
        }
        assertThat(wrong).as(name).isEmpty();
    }

    /** Random id sequences hit byte tokens, special tokens and odd joins that real text may not. */
    @ParameterizedTest @FieldSource("NAMES")
    void piecesConcatenateForRandomIds(String name) {
        Tokenizer tok = TokenizerFixtures.tokenizer(name);
        Random rnd = new Random(42);
        List<String> wrong = new ArrayList<>();
        for (int n = 0; n < 300; n++) {
            int[] ids = new int[1 + rnd.nextInt(40)];
            for (int i = 0; i < ids.length; i++) {
                // mostly low ids: in these vocabularies the byte tokens and short pieces live there
                ids[i] = rnd.nextInt(4) == 0 ? rnd.nextInt(tok.vocabSize()) : rnd.nextInt(600);
            }
            String problem = check(tok, ids, n % 2 == 1);
            if (problem != null) wrong.add(java.util.Arrays.toString(ids) + ": " + problem);
        }
        assertThat(wrong).as(name).isEmpty();
    }

    @Test void holdsBackAnIncompleteCharacter() {
        Tokenizer qwen = TokenizerFixtures.tokenizer("qwen3");
        int[] ids = qwen.encode("\uD840\uDC00", false);          // U+20000 (CJK Ext-B): several byte-level tokens
        assertThat(ids.length).isGreaterThan(1);
        StreamDecoder d = qwen.streamDecoder();
        StringBuilder out = new StringBuilder();
        for (int i = 0; i < ids.length - 1; i++) assertThat(d.push(ids[i])).isEmpty();
        out.append(d.push(ids[ids.length - 1]));
        assertThat(out.toString()).isEqualTo("\uD840\uDC00");
        assertThat(d.flush()).isEmpty();

        Tokenizer mistral = TokenizerFixtures.tokenizer("mistral7b");
        StreamDecoder m = mistral.streamDecoder();
        int[] hello = mistral.encode("Hello world", false);
        assertThat(m.push(hello[0])).isEqualTo("Hello");
        assertThat(m.push(hello[1])).isEqualTo(" world");       // the SentencePiece space survives
    }

    @Test void flushGivesAnUnfinishedCharacterAsDecodeDoes() {
        Tokenizer llama = TokenizerFixtures.tokenizer("llama3_1");
        int[] ids = llama.encode("中", false);
        int[] partial = llama.encode("\uD840\uDC00", false);
        StreamDecoder d = llama.streamDecoder();
        StringBuilder out = new StringBuilder();
        for (int id : ids) out.append(d.push(id));
        out.append(d.push(partial[0]));
        out.append(d.flush());
        int[] all = java.util.stream.IntStream.concat(java.util.Arrays.stream(ids), java.util.stream.IntStream.of(partial[0])).toArray();
        assertThat(out.toString()).isEqualTo(llama.decode(all, false)).startsWith("中").endsWith("\uFFFD");
    }

    /** Null when the pieces are right, else what is wrong. */
    static String check(Tokenizer tok, int[] ids, boolean skip) {
        String full = tok.decode(ids, skip);
        StreamDecoder d = tok.streamDecoder(skip);
        StringBuilder all = new StringBuilder();
        for (int id : ids) {
            String piece = d.push(id);
            if (!full.contains("\uFFFD") && piece.contains("\uFFFD")) return "piece with U+FFFD: " + piece;
            if (!piece.isEmpty() && Character.isLowSurrogate(piece.charAt(0))) return "split surrogate pair";
            all.append(piece);
        }
        all.append(d.flush());
        return all.toString().equals(full) ? null : "concatenation " + all + " != decode " + full;
    }
}
