package dev.arbor.model.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import dev.arbor.model.sample.TextStream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.FieldSource;

import java.util.ArrayList;
import java.util.List;

import static dev.arbor.model.tokenizer.TokenizerFixtures.ints;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * A generation's text built id by id with the tokenizer's incremental detokenizer, against the
 * decode of all ids at once: the same text, cut before the first stop string, and released
 * pieces that add up to it (nothing past a stop string is ever released).
 */
class TextStreamTest {
    static final List<String> NAMES = TokenizerFixtures.NAMES;

    @ParameterizedTest @FieldSource("NAMES")
    void givesTheFullDecodeCutBeforeTheFirstStopString(String name) {
        Tokenizer tok = TokenizerFixtures.tokenizer(name);
        List<String> wrong = new ArrayList<>();
        int stopsSeen = 0;
        for (JsonNode c : TokenizerFixtures.expected(name)) {
            int[] ids = ints(c.get("ids"));
            String full = tok.decode(ids, true);
            // no stop strings: everything; then a stop string taken from the middle of the text
            List<List<String>> stopLists = new ArrayList<>(List.of(List.of()));
            int mid = full.length() / 2;
            if (full.length() >= 4 && !Character.isLowSurrogate(full.charAt(mid))) {
                stopLists.add(List.of("\u0000never", full.substring(mid, Math.min(full.length(), mid + 3))));
            }
            for (List<String> stops : stopLists) {
                TextStream t = new TextStream(tok.detokenizer(true), stops);
                StringBuilder released = new StringBuilder();
                for (int id : ids) {
                    released.append(t.push(id));
                    if (t.stopped()) break;
                }
                released.append(t.finish());
                int cut = stops.isEmpty() ? -1 : full.indexOf(stops.get(1));
                String want = cut < 0 ? full : full.substring(0, cut);
                if (cut >= 0) stopsSeen++;
                if (!t.text().equals(want) || !released.toString().equals(want) || t.stopped() != (cut >= 0)) {
                    wrong.add(c.get("id").asText() + " stops " + stops + ": text '" + t.text() + "', released '" + released + "', want '" + want + "'");
                }
            }
        }
        assertThat(wrong).as(name).isEmpty();
        assertThat(stopsSeen).as("cases that stopped").isPositive();
    }
}
