package dev.arbor.cli;

import dev.arbor.format.ModelSource;
import dev.arbor.model.LlamaModel;
import dev.arbor.model.Sequence;
import dev.arbor.model.sample.Sampler;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.io.PrintWriter;
import java.util.Arrays;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;

@Command(name = "bench", description = {
        "Measure prompt-processing and decode speed (tokens/s, median of repeated runs).",
        "decode: tokens generated one at a time from an empty sequence (llama-bench's tg); decode after the prompt: the same after --prompt-tokens, where attention also reads the KV cache."})
final class BenchCommand implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "MODEL", description = "checkpoint directory or store reference") String model;
    @picocli.CommandLine.Mixin StoreOption store;
    @Option(names = "--threads", description = "compute threads (default: all cores)") Integer threads;
    @Option(names = "--prompt-tokens", defaultValue = "512", description = "prompt length (default ${DEFAULT-VALUE})") int promptTokens;
    @Option(names = "--gen-tokens", defaultValue = "128", description = "tokens decoded in each decode measurement (default ${DEFAULT-VALUE})") int genTokens;
    @Option(names = "--repeats", defaultValue = "5", description = "measured runs after the warm-up (default ${DEFAULT-VALUE})") int repeats;
    @Option(names = "--json", description = "print JSON") boolean json;
    @Option(names = "--warmup-seconds", defaultValue = "3", description = "untimed runs first, at least one and for at least this long, so the JIT has compiled the kernels (default ${DEFAULT-VALUE})") double warmupSeconds;
    @Option(names = "--bandwidth", defaultValue = "28.9", description = "the machine's measured read bandwidth in GB/s, for the decode bound (default ${DEFAULT-VALUE}: this project's 2-core machines)") double bandwidth;
    @Option(names = "--train", description = "time training steps (forward, backward, AdamW) instead of inference") boolean train;
    @Option(names = "--batch", defaultValue = "8", description = "--train: sequences per step (default ${DEFAULT-VALUE})") int batch;
    @Option(names = "--seq", defaultValue = "256", description = "--train: tokens per sequence (default ${DEFAULT-VALUE})") int seq;
    @Option(names = "--peak-gflops", defaultValue = "202", description = "--train: the machine's measured F32 peak, for MFU (default ${DEFAULT-VALUE}: 2 cores here)") double peak;

    @Override public Integer call() {
        PrintWriter out = new PrintWriter(System.out, true);
        if (repeats < 1 || genTokens < 1 || promptTokens < 1 || !(bandwidth > 0) || !(warmupSeconds >= 0)) {
            throw new dev.arbor.format.ArborException("--repeats, --gen-tokens, --prompt-tokens and --bandwidth must be positive, --warmup-seconds at least 0.");
        }
        if (train) return trainBench(out);
        try (ModelSource src = ModelRefs.open(model, store.location());
             LlamaModel m = threads == null ? LlamaModel.load(src) : LlamaModel.load(src, threads)) {
            int n = Math.min(promptTokens, m.maxPositions() - genTokens);
            if (n < 1) throw new dev.arbor.format.ArborException("--prompt-tokens plus --gen-tokens exceed max_position_embeddings.");
            int[] prompt = new SplittableRandom(1).ints(n, 0, m.vocabSize()).toArray();
            double[] promptTps = new double[repeats], decodeTps = new double[repeats], contextTps = new double[repeats];
            // Warm-up: at least one run, and long enough that C2 has compiled the kernels even for a tiny model.
            long warmStart = System.nanoTime();
            do run(m, prompt, null, 0, null, null);
            while (System.nanoTime() - warmStart < warmupSeconds * 1e9);
            for (int run = 0; run < repeats; run++) run(m, prompt, promptTps, run, decodeTps, contextTps);
            long bytes = m.weightBytesPerToken();
            double flopsPerToken = 2.0 * m.weightBytesPerToken() / bytesPerWeight(src);
            double pMed = median(promptTps), dMed = median(decodeTps), cMed = median(contextTps);
            double boundTps = bandwidth * 1e9 / bytes;
            if (json) {
                var o = Output.object().put("model", src.describe()).put("threads", m.threads())
                        .put("prompt_tokens", n).put("gen_tokens", genTokens).put("repeats", repeats);
                o.putObject("prompt_tokens_per_second").put("median", pMed).put("min", min(promptTps)).put("max", max(promptTps));
                o.putObject("decode_tokens_per_second").put("median", dMed).put("min", min(decodeTps)).put("max", max(decodeTps));
                o.putObject("decode_after_prompt_tokens_per_second").put("median", cMed).put("min", min(contextTps)).put("max", max(contextTps));
                o.put("weight_bytes_per_token", bytes).put("decode_gb_per_second", dMed * bytes / 1e9)
                        .put("bandwidth_gb_per_second", bandwidth).put("decode_bound_tokens_per_second", boundTps)
                        .put("decode_fraction_of_bound", dMed / boundTps)
                        .put("prompt_matmul_gflops", pMed * flopsPerToken / 1e9);
                Output.printJson(out, o);
            } else {
                out.printf("%s, %d threads, %d prompt tokens, %d decoded, %d repeats (median [min, max])%n",
                        src.describe(), m.threads(), n, genTokens, repeats);
                out.printf("  prompt          %9.1f tok/s  [%.1f, %.1f]   %.1f GFLOP/s in the matrix products%n",
                        pMed, min(promptTps), max(promptTps), pMed * flopsPerToken / 1e9);
                out.printf("  decode          %9.1f tok/s  [%.1f, %.1f]   %.1f GB/s of weights (%s per token), %.0f %% of the %.0f tok/s bound at %.1f GB/s%n",
                        dMed, min(decodeTps), max(decodeTps), dMed * bytes / 1e9, Output.bytes(bytes), 100 * dMed / boundTps, boundTps, bandwidth);
                out.printf("  decode after the prompt %.1f tok/s  [%.1f, %.1f]   (positions %d to %d: the KV cache is read too)%n",
                        cMed, min(contextTps), max(contextTps), n, n + genTokens);
            }
        }
        return 0;
    }

    /**
     * One measured run: the prompt into a fresh sequence, genTokens decoded after it, and genTokens
     * decoded from an empty sequence (what llama-bench's tg test measures). Null arrays: warm-up.
     */
    private void run(LlamaModel m, int[] prompt, double[] promptTps, int i, double[] decodeTps, double[] contextTps) {
        Sequence s = m.newSequence();
        long t0 = System.nanoTime();
        float[] logits = m.step(s, prompt);
        long t1 = System.nanoTime();
        for (int k = 0; k < genTokens; k++) logits = m.step(s, Sampler.argmax(logits));
        long t2 = System.nanoTime();
        Sequence fresh = m.newSequence();
        logits = m.step(fresh, prompt[0]);
        long t3 = System.nanoTime();
        for (int k = 0; k < genTokens; k++) logits = m.step(fresh, Sampler.argmax(logits));
        long t4 = System.nanoTime();
        if (promptTps == null) return;
        promptTps[i] = prompt.length / ((t1 - t0) / 1e9);
        contextTps[i] = genTokens / ((t2 - t1) / 1e9);
        decodeTps[i] = genTokens / ((t4 - t3) / 1e9);
    }

    private int trainBench(PrintWriter out) {
        int t = threads != null ? threads : Runtime.getRuntime().availableProcessors();
        try (ModelSource src = ModelRefs.open(model, store.location())) {
            var b = dev.arbor.train.Trainer.benchmark(src, batch, seq, 1, repeats, t);
            double[] tps = Arrays.stream(b.stepSeconds()).map(x -> b.tokensPerStep() / x).toArray();
            double med = median(tps);
            double gflops = med * b.flopsPerToken() / 1e9;
            if (json) {
                var o = Output.object().put("model", src.describe()).put("threads", t).put("batch", batch).put("seq", seq)
                        .put("steps", repeats).put("parameters", b.parameters()).put("flops_per_token", b.flopsPerToken());
                o.putObject("tokens_per_second").put("median", med).put("min", min(tps)).put("max", max(tps));
                o.put("model_gflops", gflops).put("mfu", gflops / peak);
                Output.printJson(out, o);
            } else {
                out.printf("%s, training, %d threads, batch %d × %d tokens, %d steps after 1 warm-up (median [min, max])%n",
                        src.describe(), t, batch, seq, repeats);
                out.printf("  train  %9.1f tok/s  [%.1f, %.1f]   %.1f model GFLOP/s = %.0f %% MFU of %.0f GFLOP/s (%.2f GFLOP per token)%n",
                        med, min(tps), max(tps), gflops, 100 * gflops / peak, peak, b.flopsPerToken() / 1e9);
            }
        }
        return 0;
    }

    private static double bytesPerWeight(ModelSource src) {
        return src.info("model.layers.0.mlp.up_proj.weight").dtype().size();
    }

    private static double median(double[] a) {
        double[] s = a.clone();
        Arrays.sort(s);
        return s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
    }

    private static double min(double[] a) { return Arrays.stream(a).min().orElse(0); }

    private static double max(double[] a) { return Arrays.stream(a).max().orElse(0); }
}
