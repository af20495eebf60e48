package dev.arbor.model.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.arbor.format.FormatException;
import org.junit.jupiter.api.Test;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.time.LocalDate;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * Chat templates against golden strings (test resources tokenizers/chat/chat_golden.jsonl). Each
 * golden was written by hand from reading the template and checked against Python Jinja2 in the
 * configuration transformers' apply_chat_template uses; gen_chat_golden.py beside it says how.
 */
class ChatTemplateTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @Test void goldenStrings() throws IOException {
        List<JsonNode> cases = new ArrayList<>();
        try (BufferedReader r = new BufferedReader(new InputStreamReader(
                TokenizerFixtures.resource("chat/chat_golden.jsonl"), StandardCharsets.UTF_8))) {
            for (String line; (line = r.readLine()) != null; ) if (!line.isBlank()) cases.add(JSON.readTree(line));
        }
        assertThat(cases).hasSizeGreaterThanOrEqualTo(14);
        int llama = 0, qwen = 0;
        for (JsonNode c : cases) {
            String template = c.get("template").asText();
            List<ChatMessage> messages = new ArrayList<>();
            c.get("messages").forEach(m -> messages.add(new ChatMessage(m.get("role").asText(), m.get("content").asText())));
            String got = chatTemplate(template).render(messages, c.get("add_generation_prompt").asBoolean());
            assertThat(got).as(template + "/" + c.get("name").asText()).isEqualTo(c.get("expected").asText());
            if (template.equals("llama3_1")) llama++;
            if (template.equals("qwen3")) qwen++;
        }
        assertThat(llama).isGreaterThanOrEqualTo(4);
        assertThat(qwen).isGreaterThanOrEqualTo(8);
    }

    @Test void raiseExceptionIsAClearError() {
        ChatTemplate t = ChatTemplate.of("{% if messages[0].role != 'user' %}{{ raise_exception('Conversations must start with a user message.') }}{% endif %}ok", Map.of());
        assertThat(t.render(List.of(new ChatMessage("user", "hi")), true)).isEqualTo("ok");
        assertThatThrownBy(() -> t.render(List.of(new ChatMessage("assistant", "hi")), true))
                .isInstanceOf(FormatException.class)
                .hasMessage("The chat template refused the conversation: Conversations must start with a user message.");
    }

    @Test void strftimeNowAndDateString() {
        ChatTemplate t = ChatTemplate.of("{{ strftime_now('%d %b %Y') }}", Map.of());
        String today = LocalDate.now().format(DateTimeFormatter.ofPattern("dd MMM yyyy", Locale.ENGLISH));
        assertThat(t.render(List.of(), true)).isIn(today, LocalDate.now().minusDays(1).format(DateTimeFormatter.ofPattern("dd MMM yyyy", Locale.ENGLISH)));
    }

    @Test void tojsonLikePythonJsonDumps() {
        ChatTemplate t = ChatTemplate.of("{{ x | tojson }}|{{ x | tojson(indent=2) }}|{{ [0.0001, 1e16, 1e-5, -3.0, 123456789012.5] | tojson }}|{{ 'é' | tojson(true) }}", Map.of());
        String x = "{% set x = {'b': [1, {'c': none}], 'a': 'q\"\\\\'} %}";
        assertThat(ChatTemplate.of(x + t.source(), Map.of()).render(List.of(), false)).isEqualTo(
                "{\"b\": [1, {\"c\": null}], \"a\": \"q\\\"\\\\\"}|{\n  \"b\": [\n    1,\n    {\n      \"c\": null\n    }\n  ],\n  \"a\": \"q\\\"\\\\\"\n}"
                        + "|[0.0001, 1e+16, 1e-05, -3.0, 123456789012.5]|\"\\u00e9\"");
    }

    @Test void pythonStringMethods() {
        assertThat(PyStrings.split("  a  b ", null, -1)).containsExactly("a", "b");
        assertThat(PyStrings.split("  a  b c ", null, 1)).containsExactly("a", "b c");
        assertThat(PyStrings.split("a,,b,", ",", -1)).containsExactly("a", "", "b", "");
        assertThat(PyStrings.strip("\u001f\u0085 x\u2003\u00a0", null, true, true)).isEqualTo("x");
        assertThat(PyStrings.strip("\u0000x", null, true, true)).isEqualTo("\u0000x");  // NUL is not whitespace
        assertThat(ChatTemplate.of("{{ '-'.join(['a', 'b']) }} {{ 'ab'.replace('', '-', 3) }} {{ 'hello world'.capitalize() }}", Map.of())
                .render(List.of(), false)).isEqualTo("a-b -a-b- Hello world");
    }

    private static ChatTemplate chatTemplate(String name) {
        if (name.equals("features")) {
            try (var in = TokenizerFixtures.resource("chat/features.jinja")) {
                return ChatTemplate.of(new String(in.readAllBytes(), StandardCharsets.UTF_8), Map.of("bos_token", "<s>", "eos_token", "</s>"));
            } catch (IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        }
        return TokenizerFixtures.tokenizer(name).chatTemplate();
    }
}
