package dev.arbor.cli;

import dev.arbor.format.Checkpoint;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * `convert` killed with SIGKILL at random moments never leaves a destination that looks
 * complete: DST either does not exist or is a full, readable checkpoint equal to a clean run.
 */
class ConvertKillTest {
    @TempDir Path dir;

    @Test void sigkillMidWriteNeverLeavesAHalfWrittenDestination() throws Exception {
        Path src = dir.resolve("src");
        // ~24 MB of f32 weights, so a conversion takes long enough to be interrupted
        assertThat(CliHarness.run("init-model", "--hidden", "256", "--layers", "8", "--heads", "4", "--ffn", "1024",
                "--vocab", "8000", "--dtype", "f32", src.toString()).exitCode()).isZero();
        Path clean = dir.resolve("clean");
        assertThat(CliHarness.run("convert", src.toString(), clean.toString(), "--dtype", "bf16", "--shard-size", "3MB").exitCode()).isZero();

        String java = ProcessHandle.current().info().command().orElse("java");
        SplittableRandom rnd = new SplittableRandom(42);
        int killedMidway = 0, completed = 0, absent = 0;
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        for (int i = 0; i < 12 && System.nanoTime() < deadline; i++) {
            Path dst = dir.resolve("dst" + i);
            List<String> cmd = new ArrayList<>(List.of(java, "--add-modules", "jdk.incubator.vector",
                    "--enable-native-access=ALL-UNNAMED", "-cp", System.getProperty("java.class.path"),
                    Arbor.class.getName(), "convert", src.toString(), dst.toString(), "--dtype", "bf16", "--shard-size", "3MB"));
            Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
            Thread.sleep(rnd.nextInt(150, 1200));
            boolean alive = p.isAlive();
            p.destroyForcibly();          // SIGKILL on Linux
            p.waitFor();
            if (alive) killedMidway++;
            if (!Files.exists(dst)) {
                absent++;
                continue;
            }
            completed++;
            try (Checkpoint a = Checkpoint.open(dst); Checkpoint b = Checkpoint.open(clean)) {
                assertThat(a.tensorNames()).containsExactlyElementsOf(b.tensorNames());
                for (String n : a.tensorNames()) assertThat(a.tensor(n).data().mismatch(b.tensor(n).data())).isEqualTo(-1L);
            }
        }
        assertThat(killedMidway).as("some runs must really be killed mid-way").isGreaterThan(0);
        assertThat(absent + completed).isGreaterThan(0);
    }
}
