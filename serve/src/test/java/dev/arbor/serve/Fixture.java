package dev.arbor.serve;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.arbor.format.DType;
import dev.arbor.format.LlamaConfig;
import dev.arbor.format.RandomInit;
import dev.arbor.model.LlamaModel;
import dev.arbor.model.sample.Generation;
import dev.arbor.model.sample.Generator;
import dev.arbor.model.sample.SamplingParams;
import dev.arbor.model.tokenizer.ChatMessage;
import dev.arbor.model.tokenizer.Tokenizer;
import dev.arbor.versioning.Store;
import dev.arbor.versioning.StoredModel;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.zip.GZIPInputStream;

/**
 * A store with two versions of a tiny random model ("tiny@1" tagged prod, "tiny@2") that share the
 * mistral7b fixture tokenizer (with a small chat template added), built once per JVM, and the
 * reference outputs of {@link Generator} for them.
 */
final class Fixture {
    static final ObjectMapper JSON = new ObjectMapper();
    static final String TEMPLATE = "{% for m in messages %}<|{{ m.role }}|>\n{{ m.content }}</s>\n{% endfor %}{% if add_generation_prompt %}<|assistant|>\n{% endif %}";
    static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();
    private static Fixture instance;

    final Path root;
    final Store store;
    final Tokenizer tokenizer;
    private final Map<String, LlamaModel> models = new HashMap<>();
    private final Map<String, Generation> cache = new HashMap<>();

    private Fixture(Path root) throws IOException {
        this.root = root;
        Path tok = Files.createDirectories(root.resolve("tokenizer"));
        try (InputStream in = new GZIPInputStream(resource("tokenizer.json.gz"))) {
            Files.copy(in, tok.resolve("tokenizer.json"), StandardCopyOption.REPLACE_EXISTING);
        }
        ObjectNode cfg;
        try (InputStream in = resource("tokenizer_config.json")) {
            cfg = (ObjectNode) JSON.readTree(in);
        }
        cfg.put("chat_template", TEMPLATE);
        Files.write(tok.resolve("tokenizer_config.json"), JSON.writeValueAsBytes(cfg));
        tokenizer = Tokenizer.load(tok);
        LlamaConfig c = LlamaConfig.create(64, 2, 4, 2, 128, 32000);
        List<Path> side = List.of(tok.resolve("tokenizer.json"), tok.resolve("tokenizer_config.json"));
        store = Store.init(root.resolve("store"));
        for (int seed = 1; seed <= 2; seed++) {
            Path dir = root.resolve("ck" + seed);
            RandomInit.write(c, seed, 0.2, DType.F32, dir, side, 0, (a, b) -> {});
            store.importCheckpoint(dir, "tiny", "seed " + seed, seed == 1 ? List.of("prod") : List.of(), "test");
        }
    }

    static synchronized Fixture get() {
        if (instance == null) {
            try {
                Path root = Path.of("target", "serve-fixture").toAbsolutePath();
                if (Files.exists(root)) {
                    try (var s = Files.walk(root)) {
                        s.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
                    }
                }
                instance = new Fixture(Files.createDirectories(root));
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
        return instance;
    }

    private static InputStream resource(String name) {
        InputStream in = Fixture.class.getResourceAsStream("/tokenizers/mistral7b/" + name);
        if (in == null) throw new IllegalStateException("missing test resource " + name);
        return in;
    }

    Catalog catalog() { return new Catalog.StoreCatalog(store, "tiny"); }

    synchronized LlamaModel model(String version) {
        return models.computeIfAbsent(version, v -> {
            StoredModel src = store.openModel(v);
            return LlamaModel.load(src, 1);
        });
    }

    /** What Generator gives for a greedy completion of text (encoded with special tokens, as the CLI does). */
    synchronized Generation greedy(String version, String prompt, int maxTokens, List<String> stop) {
        return cache.computeIfAbsent(version + "\u0000" + prompt + "\u0000" + maxTokens + "\u0000" + stop,
                k -> generate(version, tokenizer.encode(prompt, true), maxTokens, stop));
    }

    synchronized Generation greedyChat(String version, List<ChatMessage> messages, int maxTokens) {
        int[] ids = tokenizer.encode(tokenizer.chatTemplate().render(messages, true), false);
        return generate(version, ids, maxTokens, List.of());
    }

    private Generation generate(String version, int[] prompt, int maxTokens, List<String> stop) {
        LlamaModel m = model(version);
        List<Integer> eos = new ArrayList<>(m.eosIds());
        for (int id : tokenizer.eosIds()) if (!eos.contains(id)) eos.add(id);
        SamplingParams p = SamplingParams.greedy(maxTokens, eos).withStop(stop);
        return new Generator(m).generate(prompt, p, tokenizer.detokenizer(true), null);
    }

    // ------------------------------------------------------------------ HTTP helpers

    record Reply(int status, Map<String, List<String>> headers, String body) {
        JsonNode json() {
            try {
                return JSON.readTree(body);
            } catch (IOException e) {
                throw new AssertionError("not JSON: " + body, e);
            }
        }

        String header(String name) {
            for (var e : headers.entrySet()) if (e.getKey().equalsIgnoreCase(name)) return e.getValue().getFirst();
            return null;
        }

        /** The data: payloads of an SSE body. */
        List<String> events() {
            List<String> out = new ArrayList<>();
            for (String line : body.split("\n")) if (line.startsWith("data: ")) out.add(line.substring(6));
            return out;
        }
    }

    static Reply post(int port, String path, String body, String... headers) {
        return send(port, path, HttpRequest.BodyPublishers.ofString(body), "POST", headers);
    }

    static Reply postBytes(int port, String path, byte[] body, String... headers) {
        return send(port, path, HttpRequest.BodyPublishers.ofByteArray(body), "POST", headers);
    }

    static Reply get(int port, String path, String... headers) {
        return send(port, path, HttpRequest.BodyPublishers.noBody(), "GET", headers);
    }

    private static Reply send(int port, String path, HttpRequest.BodyPublisher body, String method, String... headers) {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path))
                .timeout(Duration.ofSeconds(60)).method(method, body).header("Content-Type", "application/json");
        for (int i = 0; i < headers.length; i += 2) b.header(headers[i], headers[i + 1]);
        try {
            HttpResponse<String> r = HTTP.send(b.build(), HttpResponse.BodyHandlers.ofString());
            return new Reply(r.statusCode(), r.headers().map(), r.body());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
    }

    static String json(Object... kv) {
        ObjectNode o = JSON.createObjectNode();
        for (int i = 0; i < kv.length; i += 2) o.set((String) kv[i], JSON.valueToTree(kv[i + 1]));
        return o.toString();
    }
}
