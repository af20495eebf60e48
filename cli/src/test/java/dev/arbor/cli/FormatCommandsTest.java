package dev.arbor.cli;

import com.fasterxml.jackson.databind.JsonNode;
import dev.arbor.format.Checkpoint;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;

class FormatCommandsTest {
    @TempDir Path dir;

    @Test void initInspectConvertRoundTrip() throws Exception {
        Path m = dir.resolve("m");
        var r = CliHarness.run("init-model", "--hidden", "64", "--layers", "2", "--heads", "4", "--kv-heads", "2",
                "--ffn", "160", "--vocab", "300", "--seed", "1", "--dtype", "bf16", m.toString());
        assertThat(r.exitCode()).as(r.err()).isZero();
        assertThat(r.out()).contains("124.7K parameters");

        var insp = CliHarness.run("inspect", m.toString(), "--json");
        assertThat(insp.exitCode()).isZero();
        JsonNode j = Output.JSON.readTree(insp.out());
        assertThat(j.get("parameters").longValue()).isEqualTo(124_736L);
        assertThat(j.get("dtypes").get("BF16").get("tensors").intValue()).isEqualTo(21);
        assertThat(j.get("missing")).isEmpty();
        assertThat(j.get("tensors")).hasSize(21);

        Path f32 = dir.resolve("f32");
        var conv = CliHarness.run("convert", m.toString(), f32.toString(), "--dtype", "f32", "--shard-size", "100KB");
        assertThat(conv.exitCode()).as(conv.err()).isZero();
        Path back = dir.resolve("back");
        assertThat(CliHarness.run("convert", f32.toString(), back.toString(), "--dtype", "bf16", "--shard-size", "10GB").exitCode()).isZero();
        // bf16 → f32 → bf16 is lossless: same bytes as the original single file
        assertThat(Files.readAllBytes(back.resolve("model.safetensors"))).isEqualTo(Files.readAllBytes(m.resolve("model.safetensors")));
        try (Checkpoint a = Checkpoint.open(f32)) {
            assertThat(a.shards()).hasSizeGreaterThan(3);
            assertThat(a.requireConfig().torchDtype()).isEqualTo("float32");
        }
    }

    @Test void badInputGivesOneSentenceExitOneAndWritesNothing() throws Exception {
        Path bad = dir.resolve("bad");
        Files.createDirectory(bad);
        ByteBuffer b = ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN).putLong(1000).putLong(0);
        Files.write(bad.resolve("model.safetensors"), b.array());
        Path dst = dir.resolve("dst");
        var r = CliHarness.run("convert", bad.toString(), dst.toString());
        assertThat(r.exitCode()).isEqualTo(1);
        assertThat(r.err().strip().lines().count()).isEqualTo(1);
        assertThat(r.err()).startsWith("error: ").contains("runs past the end of the file");
        assertThat(dst).doesNotExist();
        try (var s = Files.list(dir)) {
            assertThat(s.map(p -> p.getFileName().toString()).toList()).containsExactly("bad");
        }
        var missing = CliHarness.run("inspect", dir.resolve("nope").toString());
        assertThat(missing.exitCode()).isEqualTo(1);
        assertThat(missing.err()).isEqualTo("error: " + dir.resolve("nope") + " does not exist.\n");
        var usage = CliHarness.run("convert", "--dtype");
        assertThat(usage.exitCode()).isEqualTo(2);
        var badDtype = CliHarness.run("init-model", "--hidden", "64", "--layers", "1", "--heads", "4", "--ffn", "8",
                "--dtype", "int4", dir.resolve("x").toString());
        assertThat(badDtype.exitCode()).isEqualTo(1);
        assertThat(badDtype.err()).contains("Unknown dtype 'int4'");
        assertThat(dir.resolve("x")).doesNotExist();
    }
}
