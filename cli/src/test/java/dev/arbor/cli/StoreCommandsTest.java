package dev.arbor.cli;

import com.fasterxml.jackson.databind.JsonNode;
import dev.arbor.format.Checkpoint;
import dev.arbor.format.ModelSource;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;

/** The store commands, run in-process through {@link Arbor#run}. */
class StoreCommandsTest {
    @TempDir Path tmp;
    Path store, ckpt, ckpt2;
    PrintStream oldOut, oldErr;
    ByteArrayOutputStream out, err;

    @BeforeEach void setUp() {
        store = tmp.resolve("store");
        ckpt = tmp.resolve("ck1");
        ckpt2 = tmp.resolve("ck2");
        assertThat(Arbor.run("init-model", "--hidden", "32", "--layers", "2", "--heads", "4", "--ffn", "64", "--vocab", "96",
                "--seed", "1", "--dtype", "f32", ckpt.toString())).isZero();
        assertThat(Arbor.run("init-model", "--hidden", "32", "--layers", "2", "--heads", "4", "--ffn", "64", "--vocab", "96",
                "--seed", "2", "--dtype", "f32", ckpt2.toString())).isZero();
        oldOut = System.out;
        oldErr = System.err;
    }

    @AfterEach void restore() {
        System.setOut(oldOut);
        System.setErr(oldErr);
    }

    /** Runs arbor with --store appended (store commands); stdout and stderr land in out/err. */
    int arbor(String... args) {
        out = new ByteArrayOutputStream();
        err = new ByteArrayOutputStream();
        System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
        System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
        try {
            if (args[0].equals("inspect")) return Arbor.run(args);
            String[] all = java.util.Arrays.copyOf(args, args.length + 2);
            all[args.length] = "--store";
            all[args.length + 1] = store.toString();
            return Arbor.run(all);
        } finally {
            System.setOut(oldOut);
            System.setErr(oldErr);
        }
    }

    String stdout() { return out.toString(StandardCharsets.UTF_8); }

    String stderr() { return err.toString(StandardCharsets.UTF_8); }

    JsonNode json() throws IOException { return Output.JSON.readTree(stdout()); }

    /** Every file of the store with its size and content hash: "nothing changed" means equal snapshots. */
    Map<String, String> snapshot() throws IOException {
        Map<String, String> m = new TreeMap<>();
        try (Stream<Path> s = Files.walk(store)) {
            for (Path p : s.filter(Files::isRegularFile).filter(p -> !p.getFileName().toString().equals("lock")).toList()) {
                m.put(store.relativize(p).toString(), Integer.toHexString(java.util.Arrays.hashCode(Files.readAllBytes(p))));
            }
        }
        return m;
    }

    long blobBytes() throws IOException {
        try (Stream<Path> s = Files.walk(store.resolve("blobs"))) {
            long sum = 0;
            for (Path p : s.filter(Files::isRegularFile).toList()) sum += Files.size(p);
            return sum;
        }
    }

    void assertOneSentenceError(int code, String message) {
        assertThat(code).isEqualTo(1);
        assertThat(stderr()).isEqualTo("error: " + message + System.lineSeparator());
    }

    @Test void importTwiceAddsNothingAndListReportsRealSizes() throws IOException {
        assertThat(arbor("store", "init")).isZero();
        assertThat(arbor("import", ckpt.toString(), "--name", "tiny", "--tag", "prod", "--note", "first", "--json")).isZero();
        assertThat(json().get("ref").asText()).isEqualTo("tiny@1");
        long first = json().get("added_bytes").asLong();
        long bytes = blobBytes();
        assertThat(first).isEqualTo(bytes);
        assertThat(arbor("import", ckpt.toString(), "--name", "tiny")).isZero();
        assertThat(stdout()).contains("as tiny@2").contains("0 B new on disk");
        assertThat(blobBytes()).isEqualTo(bytes);

        assertThat(arbor("list", "--json")).isZero();
        JsonNode l = json();
        assertThat(l.get("blob_bytes").asLong()).isEqualTo(bytes);
        JsonNode versions = l.get("models").get(0).get("versions");
        assertThat(versions.get(1).get("added_bytes").asLong()).isZero();
        assertThat(l.get("models").get(0).get("tags").get("prod").asInt()).isEqualTo(1);
        assertThat(arbor("list")).isZero();
        assertThat(stdout()).contains("tiny  2 version(s)").contains("@1").contains("prod");
    }

    @Test void badReferencesChangeNothing() throws IOException {
        arbor("import", ckpt.toString(), "--name", "tiny");
        Map<String, String> before = snapshot();
        assertOneSentenceError(arbor("show", "nope"), "There is no model named 'nope' in the store at " + store + ".");
        assertOneSentenceError(arbor("tag", "tiny@9", "tiny:prod"), "tiny@9 does not exist: tiny has versions 1.");
        assertOneSentenceError(arbor("tag", "tiny@1", "other:prod"),
                "A tag belongs to its model: tag tiny@1 as tiny:prod, not other:prod.");
        assertOneSentenceError(arbor("rollback", "tiny:prod"), "tiny has no tag 'prod' to roll back.");
        assertOneSentenceError(arbor("export", "tiny:prod", tmp.resolve("never").toString()), "tiny has no tag 'prod' (its tags: latest).");
        assertOneSentenceError(arbor("diff", "tiny@1", "tiny@sha256:xyz"),
                "'tiny@sha256:xyz' is not a reference: give lowercase hex digits of the version id.");
        assertThat(snapshot()).isEqualTo(before);
        assertThat(tmp.resolve("never")).doesNotExist();

        Path marker = store.resolve("arbor-store.json");
        Files.writeString(marker, Files.readString(marker).replace("\"schema\" : 1", "\"schema\" : 3"));
        Map<String, String> newer = snapshot();
        assertOneSentenceError(arbor("import", ckpt2.toString(), "--name", "tiny"),
                "The store at " + store + " was written by a newer Arbor (schema 3); this Arbor reads schema 1 and older.");
        assertThat(snapshot()).isEqualTo(newer);
    }

    @Test void corruptedBlobFailsVerifyAndExport() throws IOException {
        arbor("import", ckpt.toString(), "--name", "tiny");
        assertThat(arbor("store", "verify")).isZero();
        assertThat(stdout()).startsWith("OK: ");
        Path blob;
        try (Stream<Path> s = Files.walk(store.resolve("blobs"))) {
            blob = s.filter(Files::isRegularFile).filter(p -> {
                try {
                    return Files.size(p) > 1000;
                } catch (IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
            }).findFirst().orElseThrow();
        }
        try (RandomAccessFile f = new RandomAccessFile(blob.toFile(), "rw")) {
            f.seek(10);
            f.write(f.read() ^ 0x80);
        }
        int code = arbor("store", "verify");
        assertThat(code).isEqualTo(1);
        assertThat(stdout()).contains("damaged blob " + blob.getFileName()).contains("used by tiny@1");
        assertThat(stderr()).isEqualTo("error: Store verify found 1 damaged blob(s) and 0 other problem(s) in " + store + "."
                + System.lineSeparator());
        Path dst = tmp.resolve("exported");
        assertThat(arbor("export", "tiny", dst.toString())).isEqualTo(1);
        assertThat(stderr()).contains("is damaged (its SHA-256 does not match); nothing was exported");
        assertThat(dst).doesNotExist();
    }

    @Test void tagRollbackLogShowDiffAndExport() throws IOException {
        arbor("import", ckpt.toString(), "--name", "tiny");
        arbor("import", ckpt2.toString(), "--name", "tiny");
        assertThat(arbor("tag", "tiny@1", "tiny:prod")).isZero();
        assertThat(stdout()).isEqualTo("tiny:prod now points at tiny@1." + System.lineSeparator());
        assertThat(arbor("tag", "tiny@2", "tiny:prod")).isZero();
        assertThat(stdout()).contains("(was tiny@1)");
        assertThat(arbor("rollback", "tiny:prod", "--json")).isZero();
        assertThat(json().get("version").asInt()).isEqualTo(1);
        assertThat(json().get("previous").asInt()).isEqualTo(2);
        String tagFile = Files.readString(store.resolve("models/tiny/tags/prod.json"));
        assertThat(tagFile).contains("\"command\" : \"arbor rollback tiny:prod --json --store " + store + "\"");

        assertThat(arbor("show", "tiny:prod", "--json")).isZero();
        assertThat(json().get("version").asInt()).isEqualTo(1);
        assertThat(json().get("operation").get("kind").asText()).isEqualTo("import");
        assertThat(arbor("show", "tiny")).isZero();
        assertThat(stdout()).startsWith("tiny@2  sha256:").contains("model.embed_tokens.weight");
        assertThat(arbor("log", "tiny@2")).isZero();
        assertThat(stdout()).startsWith("tiny@2  ").contains("import source=" + ckpt2.toAbsolutePath());

        assertThat(arbor("diff", "tiny@1", "tiny@2", "--json")).isZero();
        JsonNode d = json();
        assertThat(d.get("changed").size()).isPositive();
        assertThat(d.get("changed").get(0).get("max_abs_delta").asDouble()).isPositive();
        assertThat(d.get("shared_bytes").asLong()).isPositive();   // norm weights of ones are shared

        Path dst = tmp.resolve("out");
        assertThat(arbor("export", "tiny:prod", dst.toString(), "--dtype", "bf16", "--shard-size", "20KB")).isZero();
        assertThat(arbor("inspect", dst.toString(), "--json")).isZero();   // the strict reader accepts it
        assertThat(json().get("missing").size()).isZero();
        assertThat(json().get("dtypes").has("BF16")).isTrue();
        assertThat(json().get("shards").size()).isGreaterThan(1);
    }

    @Test void gcDryRunAndModelRefs() throws IOException {
        arbor("import", ckpt.toString(), "--name", "tiny", "--tag", "prod");
        Files.createDirectories(store.resolve("tmp"));
        Files.writeString(store.resolve("tmp/blob-1-dead"), "partial");
        assertThat(arbor("store", "gc", "--dry-run", "--json")).isZero();
        assertThat(json().get("temporaries_removed").asInt()).isEqualTo(1);
        assertThat(store.resolve("tmp/blob-1-dead")).exists();
        assertThat(arbor("store", "gc")).isZero();
        assertThat(stdout()).startsWith("Removed 0 blob(s) (0 B) and 1 temporary file(s)");
        assertThat(store.resolve("tmp/blob-1-dead")).doesNotExist();

        try (ModelSource m = ModelRefs.open("tiny:prod", store); Checkpoint ck = Checkpoint.open(ckpt)) {
            assertThat(m.describe()).isEqualTo("tiny@1");
            assertThat(m.tensor("lm_head.weight").toFloatArray()).isEqualTo(ck.tensor("lm_head.weight").toFloatArray());
        }
        try (ModelSource m = ModelRefs.open(ckpt.toString(), store)) {
            assertThat(m).isInstanceOf(Checkpoint.class);
        }
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> ModelRefs.open("tiny", tmp.resolve("nostore")))
                .hasMessage("tiny is not a checkpoint directory, and there is no store at " + tmp.resolve("nostore") + " to look it up in.");
    }
}
