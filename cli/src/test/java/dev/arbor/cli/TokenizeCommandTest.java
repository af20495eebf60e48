package dev.arbor.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * {@code arbor tokenize} on the shared tokenizer fixtures (skipped where shared/ is absent; the
 * model module's tests cover the tokenizer itself from committed copies).
 */
class TokenizeCommandTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    static Path fixtures;

    @BeforeAll static void findFixtures() {
        fixtures = Path.of(System.getProperty("arbor.shared", "../../shared"), "fixtures", "tokenizers");
        assumeTrue(Files.isRegularFile(fixtures.resolve("llama3_1/tokenizer.json")), "shared tokenizer fixtures not present");
    }

    @Test void textGivesIdsAsAJsonArray() {
        CliHarness.Result r = CliHarness.run("tokenize", "--tokenizer", fixtures.resolve("llama3_1").toString(), "--text", "Hello, world!");
        assertThat(r.exitCode()).as(r.err()).isZero();
        assertThat(r.out()).isEqualTo("[9906,11,1917,0]\n");
        r = CliHarness.run("tokenize", "--tokenizer", fixtures.resolve("llama3_1").toString(), "--text", "Hello, world!", "--special");
        assertThat(r.out()).isEqualTo("[128000,9906,11,1917,0]\n");
    }

    @Test void jsonlFileMatchesTheReferenceForEveryCase() throws IOException {
        for (String name : List.of("llama3_1", "mistral7b", "qwen3")) {
            CliHarness.Result r = CliHarness.run("tokenize", "--tokenizer", fixtures.resolve(name).toString(),
                    "--file", fixtures.resolve("cases.jsonl").toString(), "--special");
            assertThat(r.exitCode()).as(r.err()).isZero();
            List<String> expected = new ArrayList<>();
            for (String line : Files.readAllLines(fixtures.resolve(name + "/expected.jsonl")))
                expected.add(JSON.writeValueAsString(JSON.readTree(line).get("ids_with_special")));
            assertThat(r.out().lines().toList()).as(name).isEqualTo(expected);
        }
    }

    @Test void jsonOutputAndPlainTextFile(@TempDir Path tmp) throws IOException {
        Path f = tmp.resolve("in.txt");
        Files.writeString(f, "Hello world\nünï 中\n");
        CliHarness.Result r = CliHarness.run("tokenize", "--tokenizer", fixtures.resolve("qwen3").toString(), "--file", f.toString(), "--json");
        assertThat(r.exitCode()).as(r.err()).isZero();
        List<String> lines = r.out().lines().toList();
        assertThat(lines).hasSize(2);
        JsonNode first = JSON.readTree(lines.get(0)), second = JSON.readTree(lines.get(1));
        assertThat(first.get("text").asText()).isEqualTo("Hello world");
        assertThat(first.get("ids").toString()).isEqualTo("[9707,1879]");
        assertThat(first.get("tokens").toString()).isEqualTo("[\"Hello\",\"Ġworld\"]");
        assertThat(second.get("text").asText()).isEqualTo("ünï 中");
        assertThat(lines.get(1)).matches("\\p{ASCII}*");
    }

    @Test void badInputIsExitOneWithOneSentence(@TempDir Path tmp) throws IOException {
        CliHarness.Result r = CliHarness.run("tokenize", "--tokenizer", tmp.toString(), "--text", "x");
        assertThat(r.exitCode()).isEqualTo(1);
        assertThat(r.err()).isEqualTo("error: " + tmp + " has no tokenizer.json.\n");
        Path f = tmp.resolve("bad.jsonl");
        Files.writeString(f, "{\"text\": \"ok\"}\n{\"id\": 1}\n");
        r = CliHarness.run("tokenize", "--tokenizer", fixtures.resolve("qwen3").toString(), "--file", f.toString());
        assertThat(r.exitCode()).isEqualTo(1);
        assertThat(r.err()).isEqualTo("error: " + f + " line 2 has no \"text\" string.\n");
        r = CliHarness.run("tokenize", "--tokenizer", fixtures.resolve("qwen3").toString());
        assertThat(r.exitCode()).isEqualTo(2);
    }
}
