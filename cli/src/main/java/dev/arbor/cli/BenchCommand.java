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

@Command(name = "bench", description = "Measure prompt-processing and decode speed (tokens/s, median of repeated runs).")
final class BenchCommand implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "MODEL", description = "checkpoint directory or store reference") String model;
    @picocli.CommandLine.Mixin StoreOption store;
    @Option(names = "--threads", description = "compute threads (default: all cores)") Integer threads;
    @Option(names = "--prompt-tokens", defaultValue = "512", description = "prompt length (default ${DEFAULT-VALUE})") int promptTokens;
    @Option(names = "--gen-tokens", defaultValue = "128", description = "tokens decoded after the prompt (default ${DEFAULT-VALUE})") int genTokens;
    @Option(names = "--repeats", defaultValue = "5", description = "measured runs after one warm-up (default ${DEFAULT-VALUE})") int repeats;
    @Option(names = "--json", description = "print JSON") boolean json;

    @Override public Integer call() {
        PrintWriter out = new PrintWriter(System.out, true);
        try (ModelSource src = ModelRefs.open(model, store.location());
             LlamaModel m = threads == null ? LlamaModel.load(src) : LlamaModel.load(src, threads)) {
            int n = Math.min(promptTokens, m.maxPositions() - genTokens);
            if (n < 1) throw new dev.arbor.format.ArborException("--prompt-tokens plus --gen-tokens exceed max_position_embeddings.");
            int[] prompt = new SplittableRandom(1).ints(n, 0, m.vocabSize()).toArray();
            double[] promptTps = new double[repeats], decodeTps = new double[repeats];
            for (int run = -1; run < repeats; run++) {
                Sequence s = m.newSequence();
                long t0 = System.nanoTime();
                float[] logits = m.step(s, prompt);
                long t1 = System.nanoTime();
                for (int i = 0; i < genTokens; i++) logits = m.step(s, Sampler.argmax(logits));
                long t2 = System.nanoTime();
                if (run >= 0) {
                    promptTps[run] = n / ((t1 - t0) / 1e9);
                    decodeTps[run] = genTokens / ((t2 - t1) / 1e9);
                }
            }
            long bytes = m.weightBytesPerToken();
            double flopsPerToken = 2.0 * m.weightBytesPerToken() / bytesPerWeight(src);
            double pMed = median(promptTps), dMed = median(decodeTps);
            if (json) {
                var o = Output.object().put("model", src.describe()).put("threads", m.threads())
                        .put("prompt_tokens", n).put("gen_tokens", genTokens).put("repeats", repeats);
                o.putObject("prompt_tokens_per_second").put("median", pMed).put("min", min(promptTps)).put("max", max(promptTps));
                o.putObject("decode_tokens_per_second").put("median", dMed).put("min", min(decodeTps)).put("max", max(decodeTps));
                o.put("weight_bytes_per_token", bytes).put("decode_gb_per_second", dMed * bytes / 1e9)
                        .put("prompt_matmul_gflops", pMed * flopsPerToken / 1e9);
                Output.printJson(out, o);
            } else {
                out.printf("%s, %d threads, %d prompt tokens, %d decoded, %d repeats (median [min, max])%n",
                        src.describe(), m.threads(), n, genTokens, repeats);
                out.printf("  prompt  %9.1f tok/s  [%.1f, %.1f]   %.1f GFLOP/s in the matrix products%n",
                        pMed, min(promptTps), max(promptTps), pMed * flopsPerToken / 1e9);
                out.printf("  decode  %9.1f tok/s  [%.1f, %.1f]   %.1f GB/s of weights (%s per token)%n",
                        dMed, min(decodeTps), max(decodeTps), dMed * bytes / 1e9, Output.bytes(bytes));
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
