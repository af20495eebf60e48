package dev.arbor.model.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import dev.arbor.format.FormatException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.FieldSource;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static dev.arbor.model.tokenizer.TokenizerFixtures.ints;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** Exactness against the reference ids of shared/fixtures/tokenizers (HF Rust tokenizers 0.21.4). */
class TokenizerTest {
    static final List<String> NAMES = TokenizerFixtures.NAMES;

    @ParameterizedTest @FieldSource("NAMES")
    void everyFixtureCaseIsExact(String name) {
        Tokenizer tok = TokenizerFixtures.tokenizer(name);
        List<JsonNode> cases = TokenizerFixtures.expected(name);
        assertThat(cases).hasSize(325);
        List<String> wrong = new ArrayList<>();
        for (JsonNode c : cases) {
            String id = c.get("id").asText(), text = c.get("text").asText();
            int[] ids = ints(c.get("ids"));
            if (!Arrays.equals(tok.encode(text, false), ids)) wrong.add(id + " ids");
            if (!Arrays.equals(tok.encode(text, true), ints(c.get("ids_with_special")))) wrong.add(id + " ids_with_special");
            if (!tok.decode(ids, false).equals(c.get("decoded").asText())) wrong.add(id + " decoded");
            List<String> tokens = new ArrayList<>();
            c.get("tokens").forEach(t -> tokens.add(t.asText()));
            if (!Arrays.asList(tok.tokens(ids)).equals(tokens)) wrong.add(id + " tokens");
        }
        assertThat(wrong).as(name + " cases that differ from the reference").isEmpty();
    }

    @Test void specialTokensAndSizes() {
        Tokenizer llama = TokenizerFixtures.tokenizer("llama3_1");
        assertThat(llama.vocabSize()).isEqualTo(128256);
        assertThat(llama.bosId()).isEqualTo(128000);
        assertThat(llama.eosIds()).containsExactly(128009);           // <|eot_id|>
        assertThat(llama.chatTemplate()).isNotNull();
        assertThat(llama.isSpecial(128009)).isTrue();
        assertThat(llama.isSpecial(9906)).isFalse();

        Tokenizer qwen = TokenizerFixtures.tokenizer("qwen3");
        assertThat(qwen.vocabSize()).isEqualTo(151669);
        assertThat(qwen.bosId()).isNull();
        assertThat(qwen.eosIds()).containsExactly(151645);            // <|im_end|>
        assertThat(qwen.tokens(new int[] {151645})).containsExactly("<|im_end|>");

        Tokenizer mistral = TokenizerFixtures.tokenizer("mistral7b");
        assertThat(mistral.vocabSize()).isEqualTo(32000);
        assertThat(mistral.bosId()).isEqualTo(1);
        assertThat(mistral.eosIds()).containsExactly(2);
        assertThat(mistral.chatTemplate()).isNull();
    }

    @Test void skipSpecialTokensDropsThem() {
        Tokenizer llama = TokenizerFixtures.tokenizer("llama3_1");
        int[] ids = llama.encode("<|begin_of_text|>Hi<|eot_id|>", false);
        assertThat(ids).containsExactly(128000, 13347, 128009);
        assertThat(llama.decode(ids, false)).isEqualTo("<|begin_of_text|>Hi<|eot_id|>");
        assertThat(llama.decode(ids, true)).isEqualTo("Hi");
    }

    @Test void longInputsAreNotTruncated() {
        Tokenizer qwen = TokenizerFixtures.tokenizer("qwen3");
        String text = "word ".repeat(5000);
        int[] ids = qwen.encode(text, false);
        assertThat(ids.length).isGreaterThan(4000);
        assertThat(qwen.decode(ids, false)).isEqualTo(text);
    }

    @Test void badInputIsOneClearSentence(@TempDir Path tmp) throws IOException {
        assertThatThrownBy(() -> Tokenizer.load(tmp))
                .isInstanceOf(FormatException.class).hasMessage(tmp + " has no tokenizer.json.");
        Files.writeString(tmp.resolve("tokenizer.json"), "{\"model\": ");
        assertThatThrownBy(() -> Tokenizer.load(tmp))
                .isInstanceOf(FormatException.class).hasMessageStartingWith(tmp.resolve("tokenizer.json") + " is not valid JSON");
        Files.writeString(tmp.resolve("tokenizer.json"), "{\"model\": {\"type\": \"Nope\", \"vocab\": {\"a\": 0}}}");
        assertThatThrownBy(() -> Tokenizer.load(tmp))
                .isInstanceOf(FormatException.class).hasMessageContaining("is not a tokenizer the HF tokenizers library accepts");

        Path dir = Files.createDirectories(tmp.resolve("t"));
        Files.copy(TokenizerFixtures.dir("mistral7b").resolve("tokenizer.json"), dir.resolve("tokenizer.json"));
        Files.writeString(dir.resolve("tokenizer_config.json"), "{\"eos_token\": \"<nope>\"}");
        assertThatThrownBy(() -> Tokenizer.load(dir))
                .isInstanceOf(FormatException.class).hasMessageContaining("names eos_token <nope>, which is not in tokenizer.json");
        Files.writeString(dir.resolve("tokenizer_config.json"), "[1,");
        assertThatThrownBy(() -> Tokenizer.load(dir))
                .isInstanceOf(FormatException.class).hasMessageContaining("tokenizer_config.json is not valid JSON");

        Tokenizer mistral = TokenizerFixtures.tokenizer("mistral7b");
        assertThatThrownBy(() -> mistral.tokens(new int[] {32000}))
                .isInstanceOf(FormatException.class).hasMessage("Token id 32000 is outside this tokenizer's vocabulary of 32000.");
    }

    @Test void loadsWithoutConfigAndPrefersChatTemplateJinja(@TempDir Path tmp) throws IOException {
        Files.copy(TokenizerFixtures.dir("qwen3").resolve("tokenizer.json"), tmp.resolve("tokenizer.json"));
        try (Tokenizer t = Tokenizer.load(tmp)) {
            assertThat(t.bosId()).isNull();
            assertThat(t.eosIds()).isEmpty();
            assertThat(t.chatTemplate()).isNull();
            assertThat(t.encode("Hello", true)).containsExactly(9707);
        }
        Files.writeString(tmp.resolve("chat_template.jinja"), "{% for m in messages %}[{{ m.role }}]{{ m.content }}{% endfor %}");
        try (Tokenizer t = Tokenizer.load(tmp)) {
            assertThat(t.chatTemplate().render(List.of(new ChatMessage("user", "hi")), true)).isEqualTo("[user]hi");
        }
    }
}
