package dev.arbor.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.net.ConnectException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * {@code arbor serve} in-process: started on --port 0 in a thread, it prints the bound address,
 * answers /health, and stops (exit code 0, port closed) when its thread is interrupted.
 */
class ServeCommandTest {
    @TempDir Path tmp;

    @Test @Timeout(120) void servesHealthOnAnEphemeralPortAndStops() throws Exception {
        Path tok = Path.of(System.getProperty("arbor.shared", "../../shared"), "fixtures", "tokenizers", "mistral7b");
        assumeTrue(Files.isRegularFile(tok.resolve("tokenizer.json")), "shared tokenizer fixtures not present");
        Path ck = tmp.resolve("tiny");
        CliHarness.Result init = CliHarness.run("init-model", "--hidden", "32", "--layers", "2", "--heads", "4", "--ffn", "64",
                "--seed", "1", "--dtype", "f32", "--tokenizer", tok.toString(), ck.toString());
        assertThat(init.exitCode()).as(init.err()).isZero();

        PrintStream oldErr = System.err;
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        System.setErr(new PrintStream(new OutputStream() {   // tee: the test log still shows it
            @Override public synchronized void write(int b) {
                err.write(b);
                oldErr.write(b);
            }

            @Override public synchronized void write(byte[] b, int off, int len) {
                err.write(b, off, len);
                oldErr.write(b, off, len);
            }
        }, true, StandardCharsets.UTF_8));
        AtomicInteger exit = new AtomicInteger(-1);
        Thread t = Thread.ofPlatform().name("arbor-serve-test").start(() ->
                exit.set(Arbor.run("serve", ck.toString(), "--port", "0", "--threads", "1")));
        try {
            // the whole line: the stream can show the port before the rest of the line (the warm-up) is written
            Pattern bound = Pattern.compile("on http://127\\.0\\.0\\.1:(\\d+).*\\R");
            Matcher m = null;
            long until = System.nanoTime() + Duration.ofSeconds(60).toNanos();
            while (System.nanoTime() < until && t.isAlive()) {
                m = bound.matcher(err.toString(StandardCharsets.UTF_8));
                if (m.find()) break;
                m = null;
                Thread.sleep(50);
            }
            assertThat(m).as("bound address printed; stderr: " + err.toString(StandardCharsets.UTF_8)).isNotNull();
            assertThat(err.toString(StandardCharsets.UTF_8)).as("the default warm-up ran").containsPattern("JIT warmed up in \\d+\\.\\d s");
            int port = Integer.parseInt(m.group(1));
            assertThat(port).isPositive().isNotEqualTo(8000);

            HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
            HttpRequest health = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/health")).timeout(Duration.ofSeconds(10)).build();
            HttpResponse<String> r = http.send(health, HttpResponse.BodyHandlers.ofString());
            assertThat(r.statusCode()).isEqualTo(200);
            assertThat(r.body()).contains("\"status\":\"ok\"", "\"version\":\"tiny\"");

            t.interrupt();
            t.join(Duration.ofSeconds(30));
            assertThat(t.isAlive()).as("serve stopped").isFalse();
            assertThat(exit.get()).isZero();
            assertThatThrownBy(() -> http.send(health, HttpResponse.BodyHandlers.ofString())).isInstanceOf(ConnectException.class);
        } finally {
            t.interrupt();
            System.setErr(oldErr);
        }
    }
}
