package dev.arbor.serve;

import com.fasterxml.jackson.databind.JsonNode;
import dev.arbor.format.ArborException;
import dev.arbor.model.sample.Generation;
import dev.arbor.model.tokenizer.ChatMessage;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;

import static dev.arbor.serve.Fixture.get;
import static dev.arbor.serve.Fixture.json;
import static dev.arbor.serve.Fixture.post;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

@Timeout(120)
class ServerTest {
    static Fixture fx;
    static ArborServer server;
    static int port;

    @BeforeAll static void start() {
        fx = Fixture.get();
        ServeOptions o = ServeOptions.defaults().withPort(0).withBatch(8, 32).withThreads(1)
                .withLimits(64 * 1024, 4096, 1024, 16);
        server = ArborServer.start(fx.catalog(), "tiny:prod", o);
        port = server.port();
    }

    @AfterAll static void stop() {
        if (server != null) server.close();
    }

    @Test void completionGreedyEqualsGenerator() {
        Generation g = fx.greedy("tiny@1", "The quick brown fox", 24, List.of());
        Fixture.Reply r = post(port, "/v1/completions", json("model", "tiny", "prompt", "The quick brown fox", "max_tokens", 24, "temperature", 0));
        assertThat(r.status()).as(r.body()).isEqualTo(200);
        JsonNode j = r.json();
        assertThat(j.path("object").asText()).isEqualTo("text_completion");
        assertThat(j.path("id").asText()).startsWith("cmpl-");
        assertThat(j.path("model").asText()).isEqualTo("tiny");
        assertThat(j.path("system_fingerprint").asText()).isEqualTo("tiny@1");
        assertThat(r.header("X-Arbor-Version")).isEqualTo("tiny@1");
        assertThat(j.at("/choices/0/text").asText()).isEqualTo(g.text());
        assertThat(j.at("/choices/0/finish_reason").asText()).isEqualTo(g.finishReason() == Generation.FinishReason.MAX_TOKENS ? "length" : "stop");
        assertThat(j.at("/usage/completion_tokens").asInt()).isEqualTo(g.ids().length);
        assertThat(j.at("/usage/prompt_tokens").asInt()).isEqualTo(fx.tokenizer.encode("The quick brown fox", true).length);
        assertThat(j.at("/usage/total_tokens").asInt()).isEqualTo(j.at("/usage/prompt_tokens").asInt() + g.ids().length);
    }

    @Test void chatGreedyEqualsGeneratorAndStreamsTheSameText() throws Exception {
        List<ChatMessage> msgs = List.of(new ChatMessage("system", "Be brief."), new ChatMessage("user", "Hello there"));
        Generation g = fx.greedyChat("tiny@1", msgs, 20);
        Object messages = List.of(Map.of("role", "system", "content", "Be brief."), Map.of("role", "user", "content", "Hello there"));
        Fixture.Reply r = post(port, "/v1/chat/completions", json("model", "tiny", "messages", messages, "max_tokens", 20, "temperature", 0));
        assertThat(r.status()).as(r.body()).isEqualTo(200);
        JsonNode j = r.json();
        assertThat(j.path("object").asText()).isEqualTo("chat.completion");
        assertThat(j.at("/choices/0/message/role").asText()).isEqualTo("assistant");
        assertThat(j.at("/choices/0/message/content").asText()).isEqualTo(g.text());

        Fixture.Reply s = post(port, "/v1/chat/completions", json("model", "tiny", "messages", messages, "max_tokens", 20,
                "temperature", 0, "stream", true, "stream_options", Map.of("include_usage", true)));
        assertThat(s.status()).isEqualTo(200);
        assertThat(s.header("Content-Type")).startsWith("text/event-stream");
        assertThat(s.header("X-Arbor-Version")).isEqualTo("tiny@1");
        List<String> ev = s.events();
        assertThat(ev.getLast()).isEqualTo("[DONE]");
        StringBuilder text = new StringBuilder();
        String finish = null;
        JsonNode usage = null;
        for (String e : ev.subList(0, ev.size() - 1)) {
            JsonNode c = Fixture.JSON.readTree(e);
            assertThat(c.path("object").asText()).isEqualTo("chat.completion.chunk");
            assertThat(c.path("system_fingerprint").asText()).isEqualTo("tiny@1");
            if (c.path("usage").isObject()) usage = c.get("usage");
            if (c.path("choices").isEmpty()) continue;
            text.append(c.at("/choices/0/delta/content").asText(""));
            if (!c.at("/choices/0/finish_reason").isNull()) finish = c.at("/choices/0/finish_reason").asText();
        }
        assertThat(text.toString()).isEqualTo(g.text());
        assertThat(finish).isEqualTo(j.at("/choices/0/finish_reason").asText());
        assertThat(usage).isNotNull();
        assertThat(usage.path("completion_tokens").asInt()).isEqualTo(j.at("/usage/completion_tokens").asInt());
    }

    @Test void completionStreamConcatenatesToTheText() throws Exception {
        for (String prompt : List.of("Once upon a time", "1, 2, 3,", "naïve café ☕")) {
            Generation g = fx.greedy("tiny@1", prompt, 30, List.of());
            Fixture.Reply s = post(port, "/v1/completions", json("model", "tiny", "prompt", prompt, "max_tokens", 30, "temperature", 0, "stream", true));
            assertThat(s.status()).isEqualTo(200);
            StringBuilder text = new StringBuilder();
            List<String> ev = s.events();
            assertThat(ev.getLast()).isEqualTo("[DONE]");
            for (String e : ev.subList(0, ev.size() - 1)) text.append(Fixture.JSON.readTree(e).at("/choices/0/text").asText(""));
            assertThat(text.toString()).as(prompt).isEqualTo(g.text());
        }
    }

    @Test void stopStringsCutTheText() {
        Generation full = fx.greedy("tiny@1", "Once upon a time", 30, List.of());
        // a stop string taken from the middle of the greedy text
        String t = full.text();
        if (t.length() < 6) return;
        String stop = t.substring(t.length() / 2, t.length() / 2 + 2);
        Generation g = fx.greedy("tiny@1", "Once upon a time", 30, List.of(stop));
        Fixture.Reply r = post(port, "/v1/completions", json("model", "tiny", "prompt", "Once upon a time", "max_tokens", 30, "temperature", 0, "stop", List.of(stop)));
        assertThat(r.json().at("/choices/0/text").asText()).isEqualTo(g.text());
        assertThat(r.json().at("/choices/0/finish_reason").asText()).isEqualTo("stop");
    }

    @Test void logprobs() {
        Fixture.Reply r = post(port, "/v1/chat/completions", json("model", "tiny", "messages", List.of(Map.of("role", "user", "content", "Hi")),
                "max_tokens", 5, "temperature", 0, "logprobs", true, "top_logprobs", 3));
        assertThat(r.status()).as(r.body()).isEqualTo(200);
        JsonNode c = r.json().at("/choices/0/logprobs/content");
        assertThat(c.size()).isEqualTo(r.json().at("/usage/completion_tokens").asInt());
        for (JsonNode t : c) {
            assertThat(t.path("logprob").asDouble()).isLessThanOrEqualTo(0);
            assertThat(t.path("top_logprobs").size()).isEqualTo(3);
            // greedy: the chosen token is the most likely one
            assertThat(t.path("logprob").asDouble()).isEqualTo(t.at("/top_logprobs/0/logprob").asDouble());
        }
    }

    @Test void modelsHealthAndMetrics() {
        JsonNode m = get(port, "/v1/models").json();
        assertThat(m.path("object").asText()).isEqualTo("list");
        assertThat(m.at("/data/0/id").asText()).isEqualTo("tiny");
        assertThat(m.at("/data/0/version").asText()).isEqualTo("tiny@1");
        assertThat(m.at("/data/0/versions").toString()).contains("tiny@1", "tiny@2");
        JsonNode h = get(port, "/health").json();
        assertThat(h.path("status").asText()).isEqualTo("ok");
        post(port, "/v1/completions", json("model", "tiny", "prompt", "metrics", "max_tokens", 3, "temperature", 0));
        Fixture.Reply met = get(port, "/metrics");
        assertThat(met.status()).isEqualTo(200);
        assertThat(met.header("Content-Type")).startsWith("text/plain");
        assertThat(met.body()).contains("arbor_requests_total{endpoint=\"completions\",status=\"200\"}",
                "arbor_time_to_first_token_seconds_bucket", "arbor_request_duration_seconds_bucket",
                "arbor_generated_tokens_total", "arbor_running_sequences", "arbor_waiting_sequences",
                "arbor_kv_cache_bytes", "arbor_deployed_version{version=\"tiny@1\"} 1");
    }

    @Test void errorsHaveTheOpenAiShapeAndStatus() {
        record Case(String path, byte[] body, int status, String param, String code) {}
        byte[] badUtf8 = {'{', '"', 'm', 'o', 'd', 'e', 'l', '"', ':', '"', (byte) 0xC3, (byte) 0x28, '"', '}'};
        String longPrompt = "x".repeat(10);
        int[] tooMany = new int[2048];
        java.util.Arrays.fill(tooMany, 5);
        List<Case> cases = List.of(
                new Case("/v1/completions", "{not json".getBytes(), 400, null, "invalid_json"),
                new Case("/v1/completions", badUtf8, 400, null, "invalid_encoding"),
                new Case("/v1/completions", "[1,2]".getBytes(), 400, null, null),
                new Case("/v1/completions", json("model", "tiny").getBytes(), 400, "prompt", null),
                new Case("/v1/completions", json("prompt", "hi").getBytes(), 400, "model", null),
                new Case("/v1/completions", json("model", "tiny", "prompt", "hi", "max_tokens", "ten").getBytes(), 400, "max_tokens", null),
                new Case("/v1/completions", json("model", "tiny", "prompt", "hi", "temperature", "hot").getBytes(), 400, "temperature", null),
                new Case("/v1/completions", json("model", "tiny", "prompt", "hi", "temperature", 5).getBytes(), 400, "temperature", null),
                new Case("/v1/completions", json("model", "tiny", "prompt", "hi", "n", 2).getBytes(), 400, "n", null),
                new Case("/v1/completions", json("model", "tiny", "prompt", "hi", "max_tokens", 100000).getBytes(), 400, "max_tokens", null),
                new Case("/v1/completions", json("model", "tiny", "prompt", "hi", "stop", 3).getBytes(), 400, "stop", null),
                new Case("/v1/completions", json("model", "gpt-4", "prompt", longPrompt).getBytes(), 404, "model", "model_not_found"),
                new Case("/v1/completions", json("model", "tiny", "prompt", tooMany).getBytes(), 400, "prompt", "context_length_exceeded"),
                new Case("/v1/completions", json("model", "tiny", "prompt", "hi", "max_tokens", 8, "stream", false).getBytes(), 200, null, null),
                new Case("/v1/chat/completions", json("model", "tiny", "messages", "hi").getBytes(), 400, "messages", null),
                new Case("/v1/chat/completions", json("model", "tiny", "messages", List.of()).getBytes(), 400, "messages", null),
                new Case("/v1/chat/completions", json("model", "tiny", "messages", List.of(Map.of("content", "x"))).getBytes(), 400, "messages[0].role", null),
                new Case("/v1/completions", ("{\"model\":\"tiny\",\"prompt\":\"" + "a".repeat(70 * 1024) + "\"}").getBytes(), 413, null, "request_too_large"),
                new Case("/v1/nothing", "{}".getBytes(), 404, null, "not_found"),
                new Case("/admin/deploy", json("ref", "tiny@99").getBytes(), 400, null, null),
                new Case("/admin/deploy", json("reff", "tiny@2").getBytes(), 400, "ref", null),
                new Case("/admin/rollback", json("tag", "nosuchtag").getBytes(), 400, null, null));
        for (Case c : cases) {
            Fixture.Reply r = Fixture.postBytes(port, c.path(), c.body());
            String what = c.path() + " " + new String(c.body(), StandardCharsets.UTF_8).substring(0, Math.min(80, c.body().length));
            assertThat(r.status()).as(what + " -> " + r.body()).isEqualTo(c.status());
            if (c.status() == 200) continue;
            JsonNode e = r.json().path("error");
            assertThat(e.path("message").asText()).as(what).isNotBlank();
            assertThat(e.has("type") && e.has("param") && e.has("code")).as(what + " " + r.body()).isTrue();
            assertThat(e.path("type").asText()).isEqualTo(c.status() == 404 || c.status() < 500 ? "invalid_request_error" : "server_error");
            if (c.param() != null) assertThat(e.path("param").asText()).as(what).isEqualTo(c.param());
            if (c.code() != null) assertThat(e.path("code").asText()).as(what).isEqualTo(c.code());
            assertThat(get(port, "/health").status()).isEqualTo(200);
        }
        assertThat(Fixture.get(port, "/v1/completions").status()).isEqualTo(405);
        // still serving the same version after the failed admin calls
        assertThat(get(port, "/health").json().path("version").asText()).isEqualTo("tiny@1");
    }

    @Test void aClientThatDisconnectsMidStreamFreesItsSlot() throws Exception {
        String body = json("model", "tiny", "prompt", "Keep going", "max_tokens", 1000, "temperature", 0, "stream", true);
        for (int round = 0; round < 3; round++) {
            try (Socket s = new Socket("127.0.0.1", port)) {
                OutputStream out = s.getOutputStream();
                byte[] b = body.getBytes(StandardCharsets.UTF_8);
                out.write(("POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: " + b.length + "\r\n\r\n").getBytes());
                out.write(b);
                out.flush();
                InputStream in = s.getInputStream();
                byte[] buf = new byte[4096];
                String got = "";
                long until = System.nanoTime() + Duration.ofSeconds(20).toNanos();
                while (!got.contains("\"text\"") && System.nanoTime() < until) {
                    int n = in.read(buf);
                    if (n < 0) break;
                    got += new String(buf, 0, n, StandardCharsets.UTF_8);
                }
                assertThat(got).contains("200", "text/event-stream", "\"text\"");
            }
        }
        long until = System.nanoTime() + Duration.ofSeconds(20).toNanos();
        JsonNode h;
        do {
            Thread.sleep(50);
            h = get(port, "/health").json();
        } while ((h.path("running").asInt() > 0 || h.path("waiting").asInt() > 0) && System.nanoTime() < until);
        assertThat(h.path("running").asInt()).isZero();
        assertThat(post(port, "/v1/completions", json("model", "tiny", "prompt", "ok", "max_tokens", 2, "temperature", 0)).status()).isEqualTo(200);
    }

    @Test void aFullQueueAnswers429WithRetryAfter() throws Exception {
        ServeOptions o = ServeOptions.defaults().withPort(0).withBatch(1, 0).withThreads(1);
        try (ArborServer small = ArborServer.start(fx.catalog(), "tiny@1", o)) {
            int p = small.port();
            String body = json("model", "tiny", "prompt", "Keep going", "max_tokens", 1000, "temperature", 0, "stream", true);
            try (Socket s = new Socket("127.0.0.1", p)) {
                byte[] b = body.getBytes(StandardCharsets.UTF_8);
                s.getOutputStream().write(("POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: " + b.length + "\r\n\r\n").getBytes());
                s.getOutputStream().write(b);
                s.getOutputStream().flush();
                byte[] buf = new byte[4096];
                String got = "";
                while (!got.contains("\"text\"")) {
                    int n = s.getInputStream().read(buf);
                    if (n < 0) break;
                    got += new String(buf, 0, n, StandardCharsets.UTF_8);
                }
                Fixture.Reply r = post(p, "/v1/completions", json("model", "tiny", "prompt", "hi", "max_tokens", 2));
                assertThat(r.status()).as(r.body()).isEqualTo(429);
                assertThat(r.header("Retry-After")).isEqualTo("1");
                assertThat(r.json().at("/error/code").asText()).isEqualTo("rate_limit_exceeded");
            }
            long until = System.nanoTime() + Duration.ofSeconds(20).toNanos();
            int status;
            do {
                Thread.sleep(50);
                status = post(p, "/v1/completions", json("model", "tiny", "prompt", "hi", "max_tokens", 2)).status();
            } while (status == 429 && System.nanoTime() < until);
            assertThat(status).isEqualTo(200);
        }
    }

    @Test void apiKeyAndAdminToken() {
        ServeOptions o = ServeOptions.defaults().withPort(0).withThreads(1).withApiKey("k1").withAdminToken("t1");
        try (ArborServer s = ArborServer.start(fx.catalog(), "tiny@1", o)) {
            int p = s.port();
            String body = json("model", "tiny", "prompt", "hi", "max_tokens", 2);
            Fixture.Reply r = post(p, "/v1/completions", body);
            assertThat(r.status()).isEqualTo(401);
            assertThat(r.json().at("/error/code").asText()).isEqualTo("invalid_api_key");
            assertThat(post(p, "/v1/completions", body, "Authorization", "Bearer nope").status()).isEqualTo(401);
            assertThat(post(p, "/v1/completions", body, "Authorization", "Bearer k1").status()).isEqualTo(200);
            assertThat(get(p, "/admin/versions").status()).isEqualTo(401);
            assertThat(get(p, "/admin/versions", "Authorization", "Bearer k1").status()).isEqualTo(401);
            Fixture.Reply v = get(p, "/admin/versions", "Authorization", "Bearer t1");
            assertThat(v.status()).isEqualTo(200);
            assertThat(v.json().at("/deployed/version").asText()).isEqualTo("tiny@1");
            assertThat(v.json().path("versions").size()).isEqualTo(2);
            assertThat(get(p, "/health").status()).isEqualTo(200);
        }
        assertThatThrownBy(() -> ServeOptions.defaults().withHost("0.0.0.0"))
                .isInstanceOf(ArborException.class).hasMessageContaining("--admin-token");
        assertThat(ServeOptions.defaults().withAdminToken("t").withHost("0.0.0.0").host()).isEqualTo("0.0.0.0");
    }

    /** /metrics passes {@code promtool check metrics} (Debian package prometheus; skipped where absent). */
    @Test void metricsPassPromtool() throws Exception {
        assumeTrue(onPath("promtool"), "promtool not installed (apt-get install prometheus)");
        post(port, "/v1/completions", json("model", "tiny", "prompt", "promtool", "max_tokens", 3, "temperature", 0));
        post(port, "/v1/chat/completions", json("model", "tiny", "messages", List.of(Map.of("role", "user", "content", "Hi")),
                "max_tokens", 3, "temperature", 0, "stream", true));
        post(port, "/v1/completions", "{bad");
        get(port, "/v1/models");
        String body = get(port, "/metrics").body();
        Process p = new ProcessBuilder("promtool", "check", "metrics").redirectErrorStream(true).start();
        try (OutputStream in = p.getOutputStream()) {
            in.write(body.getBytes(StandardCharsets.UTF_8));
        }
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor(60, java.util.concurrent.TimeUnit.SECONDS)).isTrue();
        assertThat(p.exitValue()).as("promtool check metrics:\n" + out).isZero();
        assertThat(out.strip()).as("promtool check metrics").isEmpty();
    }

    static boolean onPath(String exe) {
        for (String dir : System.getenv().getOrDefault("PATH", "").split(java.io.File.pathSeparator)) {
            if (java.nio.file.Files.isExecutable(java.nio.file.Path.of(dir, exe))) return true;
        }
        return false;
    }
}
