package dev.arbor.serve;

import com.fasterxml.jackson.databind.JsonNode;
import dev.arbor.model.sample.Generation;
import dev.arbor.model.tokenizer.ChatMessage;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** The official openai npm SDK against the server (installed with npm into target/; skipped when npm cannot). */
@Timeout(180)
class OpenAiClientTest {
    static final String SDK = "openai@5.23.2";

    @Test void officialNodeClient() throws Exception {
        Path dir = Path.of("target", "openai-node").toAbsolutePath();
        Files.createDirectories(dir);
        if (!Files.isRegularFile(dir.resolve("node_modules/openai/package.json"))) {
            Files.writeString(dir.resolve("package.json"), "{\"name\":\"arbor-openai-test\",\"private\":true}");
            int rc = run(dir, 120, "npm", "install", "--no-audit", "--no-fund", "--silent", SDK).exit;
            assumeTrue(rc == 0 && Files.isRegularFile(dir.resolve("node_modules/openai/package.json")), "npm install " + SDK + " failed");
        }
        try (InputStream in = OpenAiClientTest.class.getResourceAsStream("/openai/client.mjs")) {
            Files.copy(in, dir.resolve("client.mjs"), StandardCopyOption.REPLACE_EXISTING);
        }
        Fixture fx = Fixture.get();
        String prompt = "Tell me about trees";
        int max = 16;
        ServeOptions o = ServeOptions.defaults().withPort(0).withThreads(1).withApiKey("test-key");
        try (ArborServer server = ArborServer.start(fx.catalog(), "tiny@1", o)) {
            Result r = run(dir, 90, "node", "client.mjs", "http://127.0.0.1:" + server.port() + "/v1", prompt, Integer.toString(max));
            assertThat(r.exit).as(r.output).isZero();
            JsonNode j = Fixture.JSON.readTree(r.output.lines().filter(l -> l.startsWith("{")).reduce((a, b) -> b).orElseThrow());
            Generation chat = fx.greedyChat("tiny@1", List.of(new ChatMessage("user", prompt)), max);
            Generation comp = fx.greedy("tiny@1", prompt, max, List.of());
            assertThat(j.path("models").toString()).contains("tiny");
            assertThat(j.at("/chat/text").asText()).isEqualTo(chat.text());
            assertThat(j.at("/chat/fingerprint").asText()).isEqualTo("tiny@1");
            assertThat(j.at("/chat/usage/completion_tokens").asInt()).isEqualTo(chat.ids().length);
            assertThat(j.at("/chatStream/text").asText()).isEqualTo(chat.text());
            assertThat(j.at("/chatStream/finish").asText()).isEqualTo(j.at("/chat/finish").asText());
            assertThat(j.at("/chatStream/usage/completion_tokens").asInt()).isEqualTo(chat.ids().length);
            assertThat(j.at("/completion/text").asText()).isEqualTo(comp.text());
            assertThat(j.at("/completionStream/text").asText()).isEqualTo(comp.text());
            assertThat(j.at("/error/status").asInt()).isEqualTo(404);
            assertThat(j.at("/error/code").asText()).isEqualTo("model_not_found");
        }
    }

    record Result(int exit, String output) {}

    static Result run(Path dir, int seconds, String... cmd) throws IOException, InterruptedException {
        Process p;
        try {
            p = new ProcessBuilder(cmd).directory(dir.toFile()).redirectErrorStream(true).start();
        } catch (IOException e) {
            assumeTrue(false, cmd[0] + " is not available: " + e.getMessage());
            throw e;
        }
        byte[][] out = new byte[1][];
        Thread reader = Thread.ofPlatform().start(() -> {
            try {
                out[0] = p.getInputStream().readAllBytes();
            } catch (IOException e) {
                out[0] = new byte[0];
            }
        });
        if (!p.waitFor(seconds, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            reader.join(5000);
            return new Result(124, out[0] == null ? "" : new String(out[0], StandardCharsets.UTF_8));
        }
        reader.join(5000);
        return new Result(p.exitValue(), out[0] == null ? "" : new String(out[0], StandardCharsets.UTF_8));
    }
}
