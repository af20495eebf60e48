package dev.arbor.train.data;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.arbor.model.tokenizer.Tokenizer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

class ByteTokenizerTest {
    @TempDir static Path dir;
    static Tokenizer tok;

    @BeforeAll static void load() {
        ByteTokenizer.writeTo(dir);
        tok = Tokenizer.load(dir);
    }

    @AfterAll static void close() { tok.close(); }

    @Test void vocabularyAndSpecialTokens() {
        assertThat(tok.vocabSize()).isEqualTo(ByteTokenizer.VOCAB_SIZE).isEqualTo(260);
        assertThat(tok.bosId()).isEqualTo(ByteTokenizer.BOS_ID);
        assertThat(tok.eosIds()).containsExactly(ByteTokenizer.EOS_ID);
        assertThat(tok.isSpecial(256)).isTrue();
        assertThat(tok.isSpecial(259)).isTrue();
        assertThat(tok.isSpecial(255)).isFalse();
        assertThat(tok.decode(new int[] {256, 257, 258, 259}, false)).isEqualTo("<s></s><pad><unk>");
        assertThat(tok.decode(new int[] {256, 'h', 'i', 257}, true)).isEqualTo("hi");
    }

    @Test void idsAreTheUtf8Bytes() {
        for (String s : List.of("Hello, world!", "café crème brûlée", "naïve Ærøskøbing", "🙂👍🏽 emoji", "日本語のテキスト",
                "tabs\tand\r\nnewlines\n\n  spaces  ", "\u0000\u0001\u007f control", "Ġ and Ċ are bytes too")) {
            byte[] utf8 = s.getBytes(StandardCharsets.UTF_8);
            int[] expected = new int[utf8.length];
            for (int i = 0; i < utf8.length; i++) expected[i] = utf8[i] & 0xFF;
            assertThat(tok.encode(s, false)).as(s).containsExactly(expected);
        }
    }

    @Test void everyByteIsItsOwnToken() {
        // ASCII characters are single bytes; bytes 128..255 only occur inside multi-byte characters.
        for (int b = 0; b < 128; b++) {
            assertThat(tok.encode(String.valueOf((char) b), false)).containsExactly(b);
            assertThat(tok.decode(new int[] {b}, false)).isEqualTo(String.valueOf((char) b));
        }
        assertThat(tok.decode(new int[] {0xC3, 0xA9}, false)).isEqualTo("é");
    }

    @Test void roundTripsAnyText() {
        for (String s : List.of("", "a", "plain ASCII text.", "accented: àéîõü ÀÉÎÕÜ ñ ç ß", "emoji: 🙂🚀👩‍👩‍👧 flags 🇫🇷",
                "mixed 中文, العربية, עברית, Ελληνικά", "  leading and trailing  ", "line\nbreaks\r\nand\ttabs")) {
            assertThat(tok.decode(tok.encode(s, false), false)).as(s).isEqualTo(s);
        }
    }

    @Test void addSpecialTokensPrependsBos() {
        assertThat(tok.encode("ab", true)).containsExactly(256, 'a', 'b');
        assertThat(tok.decode(tok.encode("ab", true), true)).isEqualTo("ab");
    }

    @Test void writesConfigWithBosAndEos() throws Exception {
        JsonNode config = new ObjectMapper().readTree(dir.resolve("tokenizer_config.json").toFile());
        assertThat(config.get("bos_token").asText()).isEqualTo("<s>");
        assertThat(config.get("eos_token").asText()).isEqualTo("</s>");
        assertThat(config.get("pad_token").asText()).isEqualTo("<pad>");
        try (var files = Files.list(dir)) {
            // no temporary files left behind
            assertThat(files.map(p -> p.getFileName().toString()).sorted().toList())
                    .containsExactly("tokenizer.json", "tokenizer_config.json");
        }
        // Writing again over existing files works and gives identical bytes.
        byte[] before = Files.readAllBytes(dir.resolve("tokenizer.json"));
        ByteTokenizer.writeTo(dir);
        assertThat(Files.readAllBytes(dir.resolve("tokenizer.json"))).isEqualTo(before);
    }
}
