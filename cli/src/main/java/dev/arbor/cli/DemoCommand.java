package dev.arbor.cli;

import dev.arbor.format.FormatException;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;

/**
 * The main job on an embedded default, end to end, so a new user sees every stage work:
 * make a small random LLaMA checkpoint, inspect it, convert it. Later stages (grow, train,
 * serve) join as they land.
 */
@Command(name = "demo", description = "Run Arbor's main job on a small built-in model: init-model, inspect, convert, import, grow twice, log, generate.")
final class DemoCommand implements Callable<Integer> {
    @Option(names = "--dir", defaultValue = "work/demo", description = "working directory (default ${DEFAULT-VALUE}; replaced on each run)")
    Path dir;

    @CommandLine.Spec CommandLine.Model.CommandSpec spec;

    @Override public Integer call() throws Exception {
        if (Files.exists(dir)) {
            if (!Files.isDirectory(dir)) throw new FormatException(dir + " exists and is not a directory.");
            dev.arbor.format.AtomicFiles.deleteTree(dir);
        }
        Files.createDirectories(dir);
        String base = dir.resolve("base").toString(), f32 = dir.resolve("base-f32").toString();
        step("1. A fresh LLaMA checkpoint (GQA, bf16), initialised N(0, 0.02)",
                "init-model", "--hidden", "256", "--layers", "4", "--heads", "8", "--kv-heads", "2", "--ffn", "688",
                "--vocab", "2048", "--seed", "1", "--dtype", "bf16", base);
        step("2. What is in it", "inspect", base, "--no-tensors");
        step("3. Converted to f32 and resharded into 4 MB shards", "convert", base, f32, "--dtype", "f32", "--shard-size", "4MB");
        step("4. The converted checkpoint", "inspect", f32, "--no-tensors");
        String store = dir.resolve("store").toString();
        step("5. Into a versioned store", "import", base, "--name", "demo", "--tag", "base", "--store", store);
        step("6. Grown 2x in width (hidden, heads, ffn) with MSG: same function, checked",
                "grow", "demo:base", "--hidden", "512", "--heads", "16", "--kv-heads", "4", "--ffn", "1376",
                "--name", "demo", "--tag", "wide", "--store", store);
        step("7. Then +50% depth: copies of the layers closest to identity", "grow", "demo:wide", "--layers", "6",
                "--name", "demo", "--tag", "deep", "--store", store);
        step("8. Lineage", "log", "demo:deep", "--store", store);
        step("9. A few greedy tokens from the grown model (random weights: the ids are what matter)",
                "generate", "demo:deep", "--tokens", "1,2,3,4", "--max-tokens", "8", "--json", "--store", store);
        System.out.println("\nDone. Outputs are in " + dir + ".");
        return 0;
    }

    private void step(String title, String... args) {
        System.out.println("\n== " + title + "\n$ arbor " + String.join(" ", args));
        System.out.flush();
        int rc = Arbor.commandLine().execute(args);
        if (rc != 0) throw new FormatException("The demo stopped at step '" + title + "' (exit " + rc + ").");
    }
}
