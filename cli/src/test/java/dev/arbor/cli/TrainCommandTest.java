package dev.arbor.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/** `arbor train`: checkpoints as store versions with lineage, exact resume after SIGKILL, bad input. */
class TrainCommandTest {
    @TempDir static Path dir;
    static Path model, text;
    static final ObjectMapper JSON = new ObjectMapper();

    @BeforeAll
    static void setUp() throws Exception {
        model = dir.resolve("tiny");
        CliHarness.Result r = CliHarness.run("init-model", "--hidden", "32", "--layers", "2", "--heads", "4", "--ffn", "64",
                "--max-pos", "64", "--tokenizer", "bytes", "--dtype", "f32", model.toString());
        assertThat(r.exitCode()).as(r.err()).isZero();
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < 200; i++) sb.append("Verse ").append(i % 7).append(": and the light was good.\n\n");
        text = dir.resolve("text.txt");
        Files.writeString(text, sb.toString());
    }

    static String[] train(Path store, Path runDir, String... extra) {
        List<String> a = new ArrayList<>(List.of("train", model.toString(), "--data", text.toString(), "--name", "t",
                "--store", store.toString(), "--run-dir", runDir.toString(), "--batch", "2", "--seq", "32", "--lr", "3e-3",
                "--threads", "2"));
        a.addAll(List.of(extra));
        return a.toArray(String[]::new);
    }

    static List<String> losses(Path metrics) throws Exception {
        List<String> out = new ArrayList<>();
        for (String line : Files.readAllLines(metrics)) {
            JsonNode n = JSON.readTree(line);
            if (n.has("loss")) out.add(n.get("step").asText() + ":" + n.get("loss").asText());
        }
        return out;
    }

    @Test
    void checkpointsAreVersionsWithLineage() throws Exception {
        Path store = dir.resolve("store1");
        CliHarness.Result r = CliHarness.run(train(store, dir.resolve("run1"), "--steps", "6", "--save-every", "2",
                "--eval-every", "3", "--tag", "latest", "--json"));
        assertThat(r.exitCode()).as(r.err()).isZero();
        JsonNode out = JSON.readTree(r.out());
        assertThat(out.get("checkpoint").asText()).isEqualTo("t@3");
        assertThat(out.get("steps").asLong()).isEqualTo(6);
        assertThat(out.get("loss").asDouble()).isLessThan(5.4);
        assertThat(out.has("val_loss")).isTrue();
        assertThat(Files.isRegularFile(Path.of(out.get("report").asText()))).isTrue();
        assertThat(Files.isRegularFile(dir.resolve("run1").resolve("loss.png"))).isTrue();

        CliHarness.Result show = CliHarness.run("show", "t:latest", "--store", store.toString(), "--json");
        assertThat(show.exitCode()).as(show.err()).isZero();
        JsonNode v = JSON.readTree(show.out());
        String text = v.toString();
        assertThat(text).contains("\"kind\":\"train\"").contains("\"step\":6").contains("source_sha256").contains("\"lr\":0.003");
        assertThat(v.get("parents").get(0).get("version").asInt()).isEqualTo(2);   // the parent is the previous checkpoint

        // an export is a plain HF checkpoint: the training state stays in the store
        Path exported = dir.resolve("exported");
        assertThat(CliHarness.run("export", "t@3", exported.toString(), "--store", store.toString()).exitCode()).isZero();
        assertThat(exported.resolve("arbor-optimizer.safetensors")).doesNotExist();
        assertThat(exported.resolve("tokenizer.json")).exists();
    }

    @Test
    void resumeAfterSigkillContinuesBitForBit() throws Exception {
        Path storeA = dir.resolve("storeA"), runA = dir.resolve("runA");
        assertThat(CliHarness.run(train(storeA, runA, "--steps", "30")).exitCode()).isZero();

        Path storeB = dir.resolve("storeB"), runB = dir.resolve("runB");
        String java = ProcessHandle.current().info().command().orElse("java");
        // A killed process cannot delete its temporary files: keep them in the test's directory.
        Path tmp = Files.createDirectories(dir.resolve("tmp-kill"));
        List<String> cmd = new ArrayList<>(List.of(java, "--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED",
                "-Djava.io.tmpdir=" + tmp, "-cp", System.getProperty("java.class.path"), Arbor.class.getName()));
        cmd.addAll(List.of(train(storeB, runB, "--steps", "30", "--save-every", "1")));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
        Path third = storeB.resolve("models").resolve("t").resolve("versions").resolve("3.json");
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (!Files.exists(third) && p.isAlive() && System.nanoTime() < deadline) Thread.sleep(5);
        p.destroyForcibly();   // SIGKILL
        p.waitFor();
        assertThat(third).as("the run got at least 3 checkpoints before the kill").exists();
        int saved;
        try (var files = Files.list(third.getParent())) {
            saved = (int) files.filter(f -> f.toString().endsWith(".json")).count();
        }
        assertThat(saved).as("killed before the end").isLessThan(30);

        CliHarness.Result r = CliHarness.run("train", "t", "--resume", "--data", text.toString(), "--store", storeB.toString(),
                "--run-dir", runB.toString(), "--json");
        assertThat(r.exitCode()).as(r.err()).isZero();
        assertThat(losses(runB.resolve("metrics.jsonl"))).hasSize(30).containsExactlyElementsOf(losses(runA.resolve("metrics.jsonl")));
    }

    @Test
    void stoppedRunLeavesNoTemporaryFiles() throws Exception {
        Path store = dir.resolve("store-stop"), run = dir.resolve("run-stop"), tmp = Files.createDirectories(dir.resolve("tmp-stop"));
        String java = ProcessHandle.current().info().command().orElse("java");
        List<String> cmd = new ArrayList<>(List.of(java, "--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED",
                "-Djava.io.tmpdir=" + tmp, "-cp", System.getProperty("java.class.path"), Arbor.class.getName()));
        cmd.addAll(List.of(train(store, run, "--steps", "1000", "--save-every", "1")));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
        Path second = store.resolve("models").resolve("t").resolve("versions").resolve("2.json");
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (!Files.exists(second) && p.isAlive() && System.nanoTime() < deadline) Thread.sleep(5);
        assertThat(second).as("training was under way").exists();
        try (var files = Files.list(tmp)) {
            assertThat(files.map(f -> f.getFileName().toString())).as("the run's temporary directory").anyMatch(f -> f.startsWith("arbor-train"));
        }
        p.destroy();   // SIGTERM, as Ctrl-C or a scheduler's stop would send
        assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
        try (var files = Files.list(tmp)) {
            assertThat(files.map(f -> f.getFileName().toString())).noneMatch(f -> f.startsWith("arbor-train"));
        }
    }

    @Test
    void preparedTokenFilesTrainLikeTheText() throws Exception {
        Path tokens = dir.resolve("text.tokens");
        CliHarness.Result r = CliHarness.run("prepare-data", text.toString(), "--model", model.toString(), "--out", tokens.toString());
        assertThat(r.exitCode()).as(r.err()).isZero();
        assertThat(r.out()).contains("uint16");
        Path store = dir.resolve("store-tok");
        CliHarness.Result a = CliHarness.run(train(store, dir.resolve("run-text"), "--steps", "3"));
        List<String> args = new ArrayList<>(List.of(train(store, dir.resolve("run-tokens"), "--steps", "3")));
        args.set(args.indexOf(text.toString()), tokens.toString());
        CliHarness.Result b = CliHarness.run(args.toArray(String[]::new));
        assertThat(a.exitCode()).as(a.err()).isZero();
        assertThat(b.exitCode()).as(b.err()).isZero();
        assertThat(losses(dir.resolve("run-tokens").resolve("metrics.jsonl"))).containsExactlyElementsOf(losses(dir.resolve("run-text").resolve("metrics.jsonl")));
    }

    @Test
    void badInputGetsOneSentenceAndExitOne() throws Exception {
        Path store = dir.resolve("store-bad");
        CliHarness.Result r = CliHarness.run("train", model.toString(), "--data", dir.resolve("missing.txt").toString(),
                "--name", "t", "--store", store.toString(), "--steps", "2");
        assertThat(r.exitCode()).isEqualTo(1);
        assertThat(r.err()).contains("does not exist");

        r = CliHarness.run("train", model.toString(), "--data", text.toString(), "--name", "t", "--store", store.toString(),
                "--steps", "2", "--seq", "100");
        assertThat(r.exitCode()).isEqualTo(1);
        assertThat(r.err()).contains("above the model's max_position_embeddings (64)");

        Path empty = dir.resolve("empty.txt");
        Files.writeString(empty, "");
        r = CliHarness.run("train", model.toString(), "--data", empty.toString(), "--name", "t", "--store", store.toString(), "--steps", "2");
        assertThat(r.exitCode()).isEqualTo(1);
        assertThat(r.err()).contains("no text");

        r = CliHarness.run("train", model.toString(), "--data", text.toString(), "--name", "t", "--store", store.toString(),
                "--run-dir", dir.resolve("r-nan").toString(), "--steps", "50", "--lr", "1e7", "--clip", "0", "--save-every", "1",
                "--schedule", "constant", "--warmup", "0", "--threads", "2", "--seq", "32", "--batch", "2");
        assertThat(r.exitCode()).isEqualTo(1);
        assertThat(r.err()).contains("training stopped");

        r = CliHarness.run(train(store, dir.resolve("r-none")));
        assertThat(r.exitCode()).isEqualTo(1);
        assertThat(r.err()).contains("--steps N or --tokens N");
    }
}
