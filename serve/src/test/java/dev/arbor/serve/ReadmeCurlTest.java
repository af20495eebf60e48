package dev.arbor.serve;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Runs the README's {@code arbor serve} examples (src/test/resources/readme-curl.sh, one line at
 * a time, with curl) against a started server and checks each exits 0 and prints what the README
 * promises. The {@code arbor tag} line is done through the store API (the CLI is not on the
 * classpath of this module).
 */
@Timeout(120)
class ReadmeCurlTest {
    @Test void readmeCurlExamplesWork() throws Exception {
        assumeTrue(ServerTest.onPath("curl"), "curl not installed");
        Fixture fx = Fixture.get();
        fx.store.tag(fx.store.resolve("tiny@1"), "prod", "test");
        List<String> lines = commands();
        assertThat(lines).hasSizeGreaterThanOrEqualTo(10);
        ServeOptions o = ServeOptions.defaults().withPort(0).withThreads(1);
        try (ArborServer server = ArborServer.start(fx.catalog(), "tiny:prod", o)) {
            String base = "127.0.0.1:" + server.port();
            for (String line : lines) {
                if (line.startsWith("arbor tag ")) {
                    String[] a = line.split("\\s+");
                    fx.store.tag(fx.store.resolve(a[2]), a[3].substring(a[3].indexOf(':') + 1), "readme");
                    continue;
                }
                assertThat(line).startsWith("curl ");
                String out = bash("B=" + base + "\n" + line, line);
                check(line, out);
            }
            assertThat(server.deployedVersion()).isEqualTo("tiny@1");
            assertThat(fx.store.readTag("tiny", "prod").version()).isEqualTo(1);
        }
    }

    /** The script's command lines: everything after the {@code B=} line that is not blank or a comment. */
    static List<String> commands() throws IOException {
        String script;
        try (InputStream in = ReadmeCurlTest.class.getResourceAsStream("/readme-curl.sh")) {
            assertThat(in).as("readme-curl.sh").isNotNull();
            script = new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
        List<String> out = new ArrayList<>();
        boolean started = false;
        for (String l : script.split("\n")) {
            if (l.startsWith("B=")) {
                started = true;
                continue;
            }
            if (started && !l.isBlank() && !l.startsWith("#")) out.add(l.strip());
        }
        return out;
    }

    private static String bash(String script, String what) throws Exception {
        Process p = new ProcessBuilder("bash", "-c", "set -euo pipefail\n" + script).redirectErrorStream(true).start();
        p.getOutputStream().close();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor(60, TimeUnit.SECONDS)).as(what).isTrue();
        assertThat(p.exitValue()).as(what + "\n" + out).isZero();
        return out;
    }

    private static void check(String line, String out) throws Exception {
        if (line.contains("/metrics")) {
            assertThat(out.lines()).as(line).isNotEmpty().allMatch(l -> l.startsWith("arbor_"));
            assertThat(out).contains("arbor_requests_total", "arbor_deployed_version{version=\"tiny@1\"} 1");
            return;
        }
        if (line.contains("\"stream\":true")) {
            List<String> data = out.lines().filter(l -> l.startsWith("data: ")).map(l -> l.substring(6)).toList();
            assertThat(data).as(out).hasSizeGreaterThan(2);
            assertThat(data.getLast()).isEqualTo("[DONE]");
            StringBuilder text = new StringBuilder();
            for (String d : data.subList(0, data.size() - 1)) {
                JsonNode c = Fixture.JSON.readTree(d);
                assertThat(c.path("object").asText()).isEqualTo("chat.completion.chunk");
                text.append(c.at("/choices/0/delta/content").asText(""));
            }
            assertThat(Fixture.JSON.readTree(data.get(data.size() - 2)).at("/usage/completion_tokens").asInt()).isPositive();
            assertThat(text).isNotEmpty();
            return;
        }
        JsonNode j = Fixture.JSON.readTree(out);
        assertThat(j.has("error")).as(line + " -> " + out).isFalse();
        if (line.contains("/health")) assertThat(j.path("status").asText()).isEqualTo("ok");
        else if (line.contains("/v1/models")) assertThat(j.at("/data/0/id").asText()).isEqualTo("tiny");
        else if (line.contains("/v1/chat/completions")) {
            assertThat(j.path("object").asText()).isEqualTo("chat.completion");
            assertThat(j.at("/choices/0/message/content").asText()).isNotEmpty();
        } else if (line.contains("/v1/completions")) {
            assertThat(j.path("object").asText()).isEqualTo("text_completion");
            assertThat(j.at("/choices/0/text").asText()).isNotEmpty();
        } else if (line.contains("/admin/deploy")) assertThat(j.path("deployed").asText()).isEqualTo("tiny@2");
        else if (line.contains("/admin/versions")) {
            assertThat(j.at("/deployed/version").asText()).isEqualTo("tiny@2");
            assertThat(j.path("versions").size()).isEqualTo(2);
        } else if (line.contains("/admin/rollback")) {
            assertThat(j.path("deployed").asText()).isEqualTo("tiny@1");
            assertThat(j.path("previous").asText()).isEqualTo("tiny@2");
        } else {
            throw new AssertionError("no check for README line: " + line);
        }
    }
}
