package dev.arbor.serve;

import com.fasterxml.jackson.databind.JsonNode;
import dev.arbor.model.sample.Generation;
import dev.arbor.versioning.Version;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;

import static dev.arbor.serve.Fixture.json;
import static dev.arbor.serve.Fixture.post;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * The load test: 32 concurrent streaming clients send 300 requests in all while 20
 * deploy/rollback cycles between tiny@1 and tiny@2 happen. No request fails, and every response's
 * tokens come from exactly one version: each chunk names the version of the X-Arbor-Version
 * header, and the streamed text equals that version's own greedy output (and not the other's).
 * Requests are paced against the switches (the first CLIENTS at once, then each of the 2*CYCLES
 * deploys and rollbacks releases its share of the rest; every fifth asks for more tokens), so both versions serve; one
 * long stream sent first is still running on tiny@1 at the first deploy, so streams are running on the old version at
 * switches, whatever the machine's speed.
 */
@Timeout(180)
class DeployTest {
    static final List<String> PROMPTS = List.of("Alpha beta", "The store keeps", "Roll back now", "Hello", "Once upon a time", "1, 2, 3,");
    static final int CLIENTS = 32, REQUESTS = 300, CYCLES = 20, MAX_TOKENS = 12, LONG_TOKENS = 48, LEAD = CLIENTS, HOLD_TOKENS = 1000;
    static final Duration BOUND = Duration.ofSeconds(120);

    @Test void deployAndRollbackUnderLoad() throws Exception {
        Fixture fx = Fixture.get();
        for (String p : PROMPTS) {
            // every prompt's outputs must tell the two versions apart
            for (int n : new int[] {MAX_TOKENS, LONG_TOKENS}) {
                assertThat(fx.greedy("tiny@1", p, n, List.of()).text()).as(p)
                        .isNotEqualTo(fx.greedy("tiny@2", p, n, List.of()).text());
            }
        }
        fx.store.tag(fx.store.resolve("tiny@1"), "prod", "test");
        ServeOptions o = ServeOptions.defaults().withPort(0).withBatch(16, 64).withThreads(1);
        try (ArborServer server = ArborServer.start(fx.catalog(), "tiny:prod", o)) {
            int port = server.port();
            ExecutorService pool = Executors.newFixedThreadPool(CLIENTS);
            AtomicInteger next = new AtomicInteger();
            AtomicInteger released = new AtomicInteger();
            AtomicInteger atSwitch = new AtomicInteger();
            AtomicInteger maxInFlight = new AtomicInteger(), inFlight = new AtomicInteger();
            ConcurrentHashMap<String, AtomicInteger> byVersion = new ConcurrentHashMap<>();
            List<String> failures = java.util.Collections.synchronizedList(new ArrayList<>());
            long t0 = System.nanoTime();
            long deadline = t0 + BOUND.toNanos();
            List<Future<?>> fs = new ArrayList<>();
            for (int c = 0; c < CLIENTS; c++) {
                fs.add(pool.submit(() -> {
                    int i;
                    while ((i = next.getAndIncrement()) < REQUESTS) {
                        while (released.get() <= i && System.nanoTime() < deadline) Thread.sleep(2);
                        if (System.nanoTime() > deadline) {
                            failures.add("request " + i + " not started within " + BOUND);
                            continue;
                        }
                        String prompt = PROMPTS.get(i % PROMPTS.size());
                        int maxTokens = i % 5 == 0 ? LONG_TOKENS : MAX_TOKENS;
                        maxInFlight.accumulateAndGet(inFlight.incrementAndGet(), Math::max);
                        Fixture.Reply r;
                        try {
                            r = post(port, "/v1/completions", json("model", "tiny", "prompt", prompt,
                                    "max_tokens", maxTokens, "temperature", 0, "stream", true));
                        } catch (RuntimeException e) {
                            failures.add("request " + i + ": " + e);
                            continue;
                        } finally {
                            inFlight.decrementAndGet();
                        }
                        if (r.status() != 200) {
                            failures.add(r.status() + " " + r.body());
                            continue;
                        }
                        String version = r.header("X-Arbor-Version");
                        List<String> ev = r.events();
                        if (ev.isEmpty() || !ev.getLast().equals("[DONE]")) {
                            failures.add("no [DONE]: " + r.body());
                            continue;
                        }
                        StringBuilder text = new StringBuilder();
                        for (String e : ev.subList(0, ev.size() - 1)) {
                            JsonNode ch = readTree(e);
                            if (ch.has("error")) failures.add("stream error: " + e);
                            if (!ch.path("system_fingerprint").asText().equals(version)) failures.add("mixed versions (" + version + "): " + r.body());
                            text.append(ch.at("/choices/0/text").asText(""));
                        }
                        String other = version.equals("tiny@1") ? "tiny@2" : "tiny@1";
                        Generation g = fx.greedy(version, prompt, maxTokens, List.of());
                        if (!text.toString().equals(g.text())) failures.add(version + " '" + prompt + "' gave '" + text + "', expected '" + g.text() + "'");
                        if (text.toString().equals(fx.greedy(other, prompt, maxTokens, List.of()).text())) failures.add("'" + prompt + "' matches both versions");
                        byVersion.computeIfAbsent(version, k -> new AtomicInteger()).incrementAndGet();
                    }
                    return null;
                }));
            }
            Version v2 = fx.store.resolve("tiny@2");
            // one long stream besides the paced ones, which take a few milliseconds each on this tiny model: it is still
            // running on tiny@1 when the first deploy comes (CI once saw no request running at any switch)
            var holder = java.util.concurrent.CompletableFuture.supplyAsync(() -> post(port, "/v1/completions",
                    json("model", "tiny", "prompt", "Once upon a time", "max_tokens", HOLD_TOKENS, "temperature", 0, "stream", true)));
            awaitRunning(port);   // the long stream alone, before any paced request: it runs on tiny@1
            released.set(LEAD);
            for (int k = 0, sw = 1; k < CYCLES; k++) {
                fx.store.tag(v2, "prod", "test");
                Fixture.Reply d = post(port, "/admin/deploy", json("ref", "tiny:prod"));
                assertThat(d.status()).as(d.body()).isEqualTo(200);
                assertThat(d.json().path("deployed").asText()).isEqualTo("tiny@2");
                atSwitch.addAndGet(d.json().path("previous_in_flight").asInt());
                released.set(Math.min(REQUESTS, LEAD + (REQUESTS - LEAD) * ++sw / (2 * CYCLES + 1)));
                Thread.sleep(150);
                Fixture.Reply rb = post(port, "/admin/rollback", json("tag", "prod"));
                assertThat(rb.status()).as(rb.body()).isEqualTo(200);
                assertThat(rb.json().path("deployed").asText()).isEqualTo("tiny@1");
                assertThat(fx.store.readTag("tiny", "prod").version()).isEqualTo(1);
                atSwitch.addAndGet(rb.json().path("previous_in_flight").asInt());
                released.set(Math.min(REQUESTS, LEAD + (REQUESTS - LEAD) * ++sw / (2 * CYCLES + 1)));
                Thread.sleep(150);
            }
            released.set(REQUESTS);
            Fixture.Reply held = holder.get();
            assertThat(held.status()).as(held.body()).isEqualTo(200);
            assertThat(held.events()).last().isEqualTo("[DONE]");
            assertThat(held.header("X-Arbor-Version")).isEqualTo("tiny@1");
            int cyclesDoneAt = Math.min(REQUESTS, next.get());
            for (Future<?> f : fs) f.get();
            pool.shutdown();
            double seconds = (System.nanoTime() - t0) / 1e9;
            System.out.printf("DeployTest: %d streaming requests by %d clients over %d deploy/rollback cycles in %.1f s (max %d in flight, %s; %d requests on the old version at switches; %d issued when the cycles ended)%n",
                    REQUESTS, CLIENTS, CYCLES, seconds, maxInFlight.get(), byVersion, atSwitch.get(), cyclesDoneAt);
            assertThat(failures).isEmpty();
            assertThat(seconds).as("load phase bounded in time").isLessThan(BOUND.toSeconds());
            assertThat(byVersion.values().stream().mapToInt(AtomicInteger::get).sum()).isEqualTo(REQUESTS);
            assertThat(byVersion.keySet()).containsExactlyInAnyOrder("tiny@1", "tiny@2");
            assertThat(maxInFlight.get()).as("concurrent streams").isGreaterThanOrEqualTo(CLIENTS * 3 / 4);
            assertThat(atSwitch.get()).as("requests running on the old version when it was replaced").isPositive();
            // every replaced version was closed once its last request ended
            long until = System.nanoTime() + Duration.ofSeconds(10).toNanos();
            while (server.retired.stream().anyMatch(dd -> !dd.isClosed()) && System.nanoTime() < until) Thread.sleep(20);
            assertThat(server.retired).allMatch(Deployment::isClosed);
            assertThat(server.deployedVersion()).isEqualTo("tiny@1");
            // and the server is still healthy and serving
            assertThat(Fixture.get(port, "/health").json().path("running").asInt()).isZero();
        }
    }

    /** Waits (at most five seconds) until the server runs a request. */
    private static void awaitRunning(int port) throws InterruptedException {
        long until = System.nanoTime() + Duration.ofSeconds(5).toNanos();
        while (Fixture.get(port, "/health").json().path("running").asInt() == 0 && System.nanoTime() < until) Thread.sleep(1);
    }

    private static JsonNode readTree(String s) {
        try {
            return Fixture.JSON.readTree(s);
        } catch (Exception e) {
            throw new AssertionError(s, e);
        }
    }
}
