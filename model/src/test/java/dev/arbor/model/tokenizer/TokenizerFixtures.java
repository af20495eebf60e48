package dev.arbor.model.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.zip.GZIPInputStream;

/**
 * The tokenizer fixtures, copied from shared/fixtures/tokenizers/ into test resources
 * (tokenizers/NAME/{tokenizer.json.gz, tokenizer_config.json, expected.jsonl.gz}) and unpacked here
 * into target/ once per JVM, so tests never need shared/ at run time.
 */
public final class TokenizerFixtures {
    public static final List<String> NAMES = List.of("llama3_1", "mistral7b", "qwen3");
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Map<String, Path> DIRS = new HashMap<>();
    private static final Map<String, Tokenizer> LOADED = new HashMap<>();

    private TokenizerFixtures() {}

    /** A directory holding NAME's tokenizer.json and tokenizer_config.json. */
    public static synchronized Path dir(String name) {
        return DIRS.computeIfAbsent(name, n -> {
            try {
                Path dir = Files.createDirectories(Path.of("target", "test-tokenizers", n)).toAbsolutePath();
                try (InputStream in = new GZIPInputStream(resource(n + "/tokenizer.json.gz"))) {
                    Files.copy(in, dir.resolve("tokenizer.json"), StandardCopyOption.REPLACE_EXISTING);
                }
                try (InputStream in = resource(n + "/tokenizer_config.json")) {
                    Files.copy(in, dir.resolve("tokenizer_config.json"), StandardCopyOption.REPLACE_EXISTING);
                }
                return dir;
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        });
    }

    /** NAME's tokenizer, loaded once and shared by the tests (it is immutable). */
    public static synchronized Tokenizer tokenizer(String name) {
        return LOADED.computeIfAbsent(name, n -> Tokenizer.load(dir(n)));
    }

    /** NAME's expected.jsonl: {"id","text","ids","ids_with_special","tokens","decoded"} per case. */
    public static List<JsonNode> expected(String name) {
        List<JsonNode> out = new ArrayList<>();
        try (BufferedReader r = new BufferedReader(new InputStreamReader(
                new GZIPInputStream(resource(name + "/expected.jsonl.gz")), StandardCharsets.UTF_8))) {
            for (String line; (line = r.readLine()) != null; ) if (!line.isBlank()) out.add(JSON.readTree(line));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return out;
    }

    public static int[] ints(JsonNode array) {
        int[] out = new int[array.size()];
        for (int i = 0; i < out.length; i++) out[i] = array.get(i).asInt();
        return out;
    }

    static InputStream resource(String path) {
        InputStream in = TokenizerFixtures.class.getResourceAsStream("/tokenizers/" + path);
        if (in == null) throw new IllegalStateException("missing test resource tokenizers/" + path);
        return in;
    }
}
