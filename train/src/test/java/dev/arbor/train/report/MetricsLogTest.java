package dev.arbor.train.report;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class MetricsLogTest {
    @TempDir Path dir;

    private static Map<String, Object> train(long step) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("tokens", step * 2048);
        m.put("loss", 10.0 - step * 0.1);
        m.put("lr", 3e-4);
        return m;
    }

    private static List<Long> steps(Path file) throws IOException {
        return MetricsLog.read(file).stream().map(MetricRecord::step).toList();
    }

    @Test
    void writesOneJsonObjectPerLineAndReadsItBack() throws IOException {
        Path f = dir.resolve("metrics.jsonl");
        try (MetricsLog log = MetricsLog.create(f)) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("tokens", 24576L);
            m.put("loss", 5.31);
            m.put("lr", 3e-4);
            m.put("phase", "warmup");
            m.put("frozen", true);
            m.put("note", null);
            log.log(12, m);
            log.log(MetricRecord.of(100, "val_loss", 5.1));
        }
        assertThat(Files.readAllLines(f)).containsExactly(
                "{\"step\":12,\"tokens\":24576,\"loss\":5.31,\"lr\":3.0E-4,\"phase\":\"warmup\",\"frozen\":true,\"note\":null}",
                "{\"step\":100,\"val_loss\":5.1}");
        List<MetricRecord> r = MetricsLog.read(f);
        assertThat(r).hasSize(2);
        assertThat(r.get(0).step()).isEqualTo(12);
        assertThat(r.get(0).values()).containsOnlyKeys("tokens", "loss", "lr", "phase", "frozen", "note");
        assertThat(r.get(0).values().get("tokens")).isEqualTo(24576L); // integers stay integers
        assertThat(r.get(0).get("loss")).isEqualTo(5.31);
        assertThat(r.get(0).get("lr")).isEqualTo(3e-4);
        assertThat(r.get(0).text("phase")).isEqualTo("warmup");
        assertThat(r.get(0).has("phase")).isFalse();
        assertThat(r.get(0).get("missing")).isNaN();
        assertThat(r.get(1).get("val_loss")).isEqualTo(5.1);
        assertThat(r.get(1).has("loss")).isFalse();
    }

    @Test
    void resumeDropsLaterStepsAtomicallyThenAppends() throws IOException {
        Path f = dir.resolve("metrics.jsonl");
        try (MetricsLog log = MetricsLog.create(f)) {
            for (long s = 1; s <= 10; s++) {
                log.log(s, train(s));
                if (s % 5 == 0) log.log(s, Map.of("val_loss", 9.0 - s * 0.1));
            }
        }
        String before = Files.readString(f);
        try (MetricsLog log = MetricsLog.resume(f, 6)) { // the checkpoint was at step 6
            assertThat(steps(f)).containsExactly(1L, 2L, 3L, 4L, 5L, 5L, 6L);
            log.log(7, train(7));
        }
        assertThat(steps(f)).containsExactly(1L, 2L, 3L, 4L, 5L, 5L, 6L, 7L);
        // the kept prefix is byte-for-byte the old one (raw lines are copied, not re-encoded)
        String after = Files.readString(f);
        assertThat(before).startsWith(after.substring(0, after.lastIndexOf("{\"step\":7")));
        try (Stream<Path> s = Files.list(dir)) { // the temporary file was renamed, not left behind
            assertThat(s.map(p -> p.getFileName().toString()).toList()).containsExactly("metrics.jsonl");
        }
        // resuming at the last step (or past it) leaves the file as it is
        MetricsLog.resume(f, 7).close();
        assertThat(Files.readString(f)).isEqualTo(after);
    }

    @Test
    void resumeAndOpenCreateAMissingFile() throws IOException {
        try (MetricsLog log = MetricsLog.resume(dir.resolve("a/m.jsonl"), 5)) {
            log.log(6, Map.of("loss", 1.0));
        }
        try (MetricsLog log = MetricsLog.open(dir.resolve("b.jsonl"))) {
            log.log(1, Map.of("loss", 1.0));
        }
        assertThat(steps(dir.resolve("a/m.jsonl"))).containsExactly(6L);
        assertThat(steps(dir.resolve("b.jsonl"))).containsExactly(1L);
    }

    @Test
    void createStartsOverAndOpenAppends() throws IOException {
        Path f = dir.resolve("m.jsonl");
        try (MetricsLog log = MetricsLog.create(f)) {
            log.log(1, train(1));
        }
        try (MetricsLog log = MetricsLog.open(f)) {
            log.log(2, train(2));
        }
        assertThat(steps(f)).containsExactly(1L, 2L);
        try (MetricsLog log = MetricsLog.create(f)) {
            assertThat(Files.size(f)).isZero();
            log.log(1, train(1));
        }
        assertThat(steps(f)).containsExactly(1L);
    }

    @Test
    void partialLastLineIsIgnoredAndDroppedBeforeAppending() throws IOException {
        Path f = dir.resolve("m.jsonl");
        try (MetricsLog log = MetricsLog.create(f)) {
            log.log(1, train(1));
            log.log(2, train(2));
        }
        // the writer died in the middle of line 3
        Files.writeString(f, "{\"step\":3,\"tokens\":61", StandardOpenOption.APPEND);
        assertThat(steps(f)).containsExactly(1L, 2L);
        try (MetricsLog log = MetricsLog.open(f)) {
            log.log(3, train(3));
        }
        assertThat(steps(f)).containsExactly(1L, 2L, 3L);
        assertThat(Files.readAllLines(f)).hasSize(3).allMatch(l -> l.startsWith("{\"step\":") && l.endsWith("}"));
    }

    @Test
    void trailingGarbageIsATornTailButGarbageInTheMiddleIsAnError() throws IOException {
        Path f = dir.resolve("m.jsonl");
        String good = "{\"step\":1,\"loss\":2.0}\n";
        // a crash can leave the end of a file zero-filled, newline or not
        Files.writeString(f, good + "\0\0\0\0\n\0\0");
        assertThat(steps(f)).containsExactly(1L);
        Files.writeString(f, good + "{\"step\":2,\"loss\n" + good);
        assertThatThrownBy(() -> MetricsLog.read(f)).isInstanceOf(IOException.class).hasMessageContaining("line 2");
        Files.writeString(f, good + "{\"loss\":1}\n" + good);
        assertThatThrownBy(() -> MetricsLog.read(f)).hasMessageContaining("line 2").hasMessageContaining("step");
        Files.writeString(f, good + "\n  \n" + good); // blank lines are allowed
        assertThat(steps(f)).containsExactly(1L, 1L);
    }

    @Test
    void nonFiniteValuesAreWrittenAsStringsAndReadBackAsDoubles() throws IOException {
        Path f = dir.resolve("m.jsonl");
        try (MetricsLog log = MetricsLog.create(f)) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("loss", Double.NaN);
            m.put("grad_norm", Double.POSITIVE_INFINITY);
            m.put("x", Float.NEGATIVE_INFINITY);
            log.log(1, m);
        }
        assertThat(Files.readString(f).strip())
                .isEqualTo("{\"step\":1,\"loss\":\"NaN\",\"grad_norm\":\"Infinity\",\"x\":\"-Infinity\"}");
        MetricRecord r = MetricsLog.read(f).getFirst();
        assertThat(r.has("loss")).isTrue();
        assertThat(r.get("loss")).isNaN();
        assertThat(r.get("grad_norm")).isEqualTo(Double.POSITIVE_INFINITY);
        assertThat(r.get("x")).isEqualTo(Double.NEGATIVE_INFINITY);
        // what Python's json.dumps writes: bare NaN / Infinity tokens
        Files.writeString(f, "{\"step\":2,\"loss\":NaN,\"g\":-Infinity}\n");
        r = MetricsLog.read(f).getFirst();
        assertThat(r.get("loss")).isNaN();
        assertThat(r.get("g")).isEqualTo(Double.NEGATIVE_INFINITY);
    }

    @Test
    void rejectsAStepValueAndUnsupportedTypes() throws IOException {
        try (MetricsLog log = MetricsLog.create(dir.resolve("m.jsonl"))) {
            assertThatThrownBy(() -> log.log(1, Map.of("step", 2))).isInstanceOf(IllegalArgumentException.class);
            assertThatThrownBy(() -> log.log(1, Map.of("v", List.of(1)))).isInstanceOf(IllegalArgumentException.class);
            log.fsyncEvery(Duration.ZERO).log(1, Map.of("loss", 1.5)); // fsync on every line
        }
        assertThat(steps(dir.resolve("m.jsonl"))).containsExactly(1L);
    }

    /** A real SIGKILL of a process writing as fast as it can: every line read back is whole. */
    @Test
    void survivesSigkillOfTheWriter() throws Exception {
        Path f = dir.resolve("killed.jsonl");
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        Process p = new ProcessBuilder(java, "-cp", System.getProperty("java.class.path"), Writer.class.getName(), f.toString())
                .redirectErrorStream(true).redirectOutput(dir.resolve("child.out").toFile()).start();
        try {
            long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
            while ((!Files.exists(f) || Files.size(f) < 200_000) && System.nanoTime() < deadline && p.isAlive()) Thread.sleep(20);
            assertThat(p.isAlive()).as("writer still running (output: %s)", Files.readString(dir.resolve("child.out"))).isTrue();
        } finally {
            p.destroyForcibly(); // SIGKILL on Unix
            p.waitFor();
        }
        List<Long> s = steps(f);
        assertThat(s).isNotEmpty();
        for (int i = 0; i < s.size(); i++) assertThat(s.get(i)).isEqualTo(i);
        try (MetricsLog log = MetricsLog.open(f)) {
            log.log(s.size(), train(s.size()));
        }
        assertThat(steps(f)).hasSize(s.size() + 1);
    }

    /** The child process of {@link #survivesSigkillOfTheWriter}. */
    public static final class Writer {
        public static void main(String[] args) throws IOException {
            try (MetricsLog log = MetricsLog.create(Path.of(args[0]))) {
                for (long s = 0; ; s++) log.log(s, train(s));
            }
        }
    }

    @Test
    void nonAsciiStringsSurvive() throws IOException {
        Path f = dir.resolve("m.jsonl");
        try (MetricsLog log = MetricsLog.create(f)) {
            log.log(1, Map.of("note", "grün \"quoted\" \u2192 ok"));
        }
        assertThat(MetricsLog.read(f).getFirst().text("note")).isEqualTo("grün \"quoted\" \u2192 ok");
        assertThat(new String(Files.readAllBytes(f), StandardCharsets.UTF_8)).contains("grün");
    }
}
