package dev.arbor.cli;

import dev.arbor.format.ModelSource;
import dev.arbor.model.LlamaModel;
import dev.arbor.model.MachineLimits;
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
    @Option(names = "--bandwidth", description = "a fixed read bandwidth in GB/s for the decode bound (default: measured after every decoded token by reading the bytes it reads once; this project's 2-core baseline is 28.9)") Double bandwidth;
    @Option(names = "--train", description = "time training steps (forward, backward, AdamW) instead of inference") boolean train;
    @Option(names = "--batch", defaultValue = "8", description = "--train: sequences per step (default ${DEFAULT-VALUE})") int batch;
    @Option(names = "--seq", defaultValue = "256", description = "--train: tokens per sequence (default ${DEFAULT-VALUE})") int seq;
    @Option(names = "--peak-gflops", description = "a fixed F32 FMA peak in GFLOP/s (default: measured around every run with the widest vectors; --train: 202, this project's 2-core baseline)") Double peak;

    @Override public Integer call() {
        PrintWriter out = new PrintWriter(System.out, true);
        if (repeats < 1 || genTokens < 1 || promptTokens < 1 || (bandwidth != null && !(bandwidth > 0))
                || (peak != null && !(peak > 0)) || !(warmupSeconds >= 0)) {
            throw new dev.arbor.format.ArborException("--repeats, --gen-tokens, --prompt-tokens, --bandwidth and --peak-gflops must be positive, --warmup-seconds at least 0.");
        }
        if (train) return trainBench(out);
        try (ModelSource src = ModelRefs.open(model, store.location());
             LlamaModel m = threads == null ? LlamaModel.load(src) : LlamaModel.load(src, threads);
             MachineLimits limits = new MachineLimits(m.threads())) {
            int n = Math.min(promptTokens, m.maxPositions() - genTokens);
            if (n < 1) throw new dev.arbor.format.ArborException("--prompt-tokens plus --gen-tokens exceed max_position_embeddings.");
            int[] prompt = new SplittableRandom(1).ints(n, 0, m.vocabSize()).toArray();
            Runs r = new Runs(repeats);
            // Warm-up: at least one run, and long enough that C2 has compiled the kernels even for a tiny model.
            long warmStart = System.nanoTime();
            do run(m, limits, prompt, null, 0);
            while (System.nanoTime() - warmStart < warmupSeconds * 1e9);
            for (int i = 0; i < repeats; i++) run(m, limits, prompt, r, i);
            long bytes = m.weightBytesPerToken();
            // FLOPs a prompt run performs (its matrix products and attention, one row of LM head), per prompt token
            double flopsPerToken = m.promptFlops(n) / n;
            double pMed = median(r.promptTps), dMed = median(r.decodeTps), cMed = median(r.contextTps);
            double bw = median(r.bandwidth), pk = median(r.peak);
            // each run against the limits measured around it, so that the machine's drift cancels
            double[] decodeFraction = new double[repeats], promptFraction = new double[repeats];
            for (int i = 0; i < repeats; i++) {
                decodeFraction[i] = r.decodeTps[i] * bytes / 1e9 / r.bandwidth[i];
                promptFraction[i] = r.promptTps[i] * flopsPerToken / 1e9 / r.peak[i];
            }
            String bwSource = bandwidth != null ? "given" : "interleaved with the decoded tokens", pkSource = peak != null ? "given" : "measured alongside";
            if (json) {
                var o = Output.object().put("model", src.describe()).put("threads", m.threads())
                        .put("prompt_tokens", n).put("gen_tokens", genTokens).put("repeats", repeats);
                o.putObject("prompt_tokens_per_second").put("median", pMed).put("min", min(r.promptTps)).put("max", max(r.promptTps));
                o.putObject("decode_tokens_per_second").put("median", dMed).put("min", min(r.decodeTps)).put("max", max(r.decodeTps));
                o.putObject("decode_after_prompt_tokens_per_second").put("median", cMed).put("min", min(r.contextTps)).put("max", max(r.contextTps));
                o.put("weight_bytes_per_token", bytes).put("decode_gb_per_second", dMed * bytes / 1e9);
                o.putObject("bandwidth_gb_per_second").put("median", bw).put("min", min(r.bandwidth)).put("max", max(r.bandwidth)).put("source", bwSource);
                o.put("decode_bound_tokens_per_second", bw * 1e9 / bytes)
                        .put("decode_fraction_of_bound", median(decodeFraction))
                        .put("prompt_gflops", pMed * flopsPerToken / 1e9)
                        .put("prompt_flops_per_token", flopsPerToken);
                o.putObject("fma_peak_gflops").put("median", pk).put("min", min(r.peak)).put("max", max(r.peak)).put("source", pkSource);
                o.put("prompt_fraction_of_peak", median(promptFraction));
                o.put("prompt_allocated_bytes", median(r.promptAlloc)).put("decode_allocated_bytes_per_token", median(r.tokenAlloc));
                var notes = o.putArray("notes");
                MachineLimits.interference().forEach(notes::add);
                boxedNote(r).ifPresent(notes::add);
                Output.printJson(out, o);
            } else {
                out.printf("%s, %d threads, %d prompt tokens, %d decoded, %d repeats (median [min, max])%n",
                        src.describe(), m.threads(), n, genTokens, repeats);
                out.printf("  prompt          %9.1f tok/s  [%.1f, %.1f]   %.1f GFLOP/s (products and attention), %.0f %% of the FMA peak%n",
                        pMed, min(r.promptTps), max(r.promptTps), pMed * flopsPerToken / 1e9, 100 * median(promptFraction));
                out.printf("  decode          %9.1f tok/s  [%.1f, %.1f]   %.1f GB/s of weights (%s per token), %.0f %% of the bandwidth bound%n",
                        dMed, min(r.decodeTps), max(r.decodeTps), dMed * bytes / 1e9, Output.bytes(bytes), 100 * median(decodeFraction));
                out.printf("  decode after the prompt %.1f tok/s  [%.1f, %.1f]   (positions %d to %d: the KV cache is read too)%n",
                        cMed, min(r.contextTps), max(r.contextTps), n, n + genTokens);
                out.printf("  limits          read bandwidth %.1f GB/s [%.1f, %.1f] (%s) = %.0f tok/s bound; FMA peak %.0f GFLOP/s [%.0f, %.0f] (%s)%n",
                        bw, min(r.bandwidth), max(r.bandwidth), bwSource, bw * 1e9 / bytes, pk, min(r.peak), max(r.peak), pkSource);
                if (median(r.promptAlloc) >= 0) {
                    out.printf("  allocated       %s a prompt, %s a token decoded after it (Java heap, all threads)%n",
                            Output.bytes((long) median(r.promptAlloc)), Output.bytes((long) median(r.tokenAlloc)));
                }
                for (String note : MachineLimits.interference()) out.printf("  note            %s%n", note);
                boxedNote(r).ifPresent(note -> out.printf("  note            %s%n", note));
            }
        }
        return 0;
    }

    /** Per measured run: speeds, and the limits measured around it. */
    private record Runs(double[] promptTps, double[] decodeTps, double[] contextTps, double[] bandwidth, double[] peak,
                        double[] promptAlloc, double[] tokenAlloc) {
        Runs(int n) { this(new double[n], new double[n], new double[n], new double[n], new double[n], new double[n], new double[n]); }
    }

    /** A sentence when the runs allocated like boxed vector code (see {@link #allocatedBytes}). */
    private static java.util.Optional<String> boxedNote(Runs r) {
        double p = median(r.promptAlloc);
        if (p < BOXED_PROMPT_BYTES) return java.util.Optional.empty();
        return java.util.Optional.of(String.format("this JVM allocated %s a prompt: a hot kernel is running with boxed vectors"
                + " (a JIT compilation that went wrong), so these speeds understate the engine; run the bench again.",
                Output.bytes((long) p)));
    }

    /**
     * Bytes allocated so far by all live threads of this JVM, or -1 where the JVM cannot count them. In steady state a
     * prompt allocates well under a megabyte; a JVM whose C2 compiled a hot vector method with its vectors boxed
     * allocates gigabytes a prompt for its whole life (seen once in eleven JVMs, 11.4 GB a smol prompt), and its
     * speeds are not the engine's: bench reports the bytes so that such a run shows.
     */
    private static long allocatedBytes() {
        if (!(java.lang.management.ManagementFactory.getThreadMXBean() instanceof com.sun.management.ThreadMXBean mx)
                || !mx.isThreadAllocatedMemorySupported() || !mx.isThreadAllocatedMemoryEnabled()) return -1;
        long sum = 0;
        for (long b : mx.getThreadAllocatedBytes(mx.getAllThreadIds())) if (b > 0) sum += b;
        return sum;
    }

    /** More than this many bytes allocated a prompt marks a JVM running boxed vector code. */
    private static final double BOXED_PROMPT_BYTES = 64e6;

    /**
     * FMA-peak probes per run, before and after it: the best of them is the run's peak. A probe that the
     * machine disturbs can only come out low, and a low peak flatters the prompt's share of it: with the
     * median, one bsmall run's peak came out at 326 GFLOP/s (its probes 288–445) and its prompt at "87 %".
     */
    private static final int PROBES = 3;

    /**
     * One run: the prompt into a fresh sequence, genTokens decoded after it, and genTokens decoded
     * from an empty sequence (what llama-bench's tg test measures), each of these followed by a read of
     * the weights (the bandwidth bound), and the FMA peak probed just before and just after. Null r:
     * warm-up (the probes are warmed up too).
     */
    private void run(LlamaModel m, MachineLimits limits, int[] prompt, Runs r, int i) {
        double[] pk = new double[2 * PROBES];
        probe(m, limits, pk, 0);
        Sequence s = m.newSequence();
        long a0 = allocatedBytes(), t0 = System.nanoTime();
        float[] logits = m.step(s, prompt);
        long t1 = System.nanoTime(), a1 = allocatedBytes(), t1b = System.nanoTime();
        for (int k = 0; k < genTokens; k++) logits = m.step(s, Sampler.argmax(logits));
        long t2 = System.nanoTime(), a2 = allocatedBytes();
        Sequence fresh = m.newSequence();
        logits = m.step(fresh, prompt[0]);
        // Each decoded token is followed by one read of the same weights: the bound is measured in the
        // same fraction of a second as the token it judges (this VM's bandwidth moves between 33 and 66 GB/s
        // within seconds, so probes before and after a run of tokens judged it against another machine).
        long decodeNanos = 0, readNanos = 0, readBytes = 0;
        for (int k = 0; k < genTokens; k++) {
            long t3 = System.nanoTime();
            logits = m.step(fresh, Sampler.argmax(logits));
            decodeNanos += System.nanoTime() - t3;
            if (bandwidth == null) {
                MachineLimits.Read read = MachineLimits.weightRead(m);
                readBytes += read.bytes();
                readNanos += read.nanos();
            }
        }
        probe(m, limits, pk, PROBES);
        // their caches go to the next run's sequences, as a server's finished requests' go to the next requests
        s.release();
        fresh.release();
        if (r == null) return;
        r.promptTps[i] = prompt.length / ((t1 - t0) / 1e9);
        r.contextTps[i] = genTokens / ((t2 - t1b) / 1e9);
        // -1 where the JVM cannot count (or a thread ended in between and took its count with it)
        r.promptAlloc[i] = a0 < 0 || a1 < a0 ? -1 : a1 - a0;
        r.tokenAlloc[i] = a1 < 0 || a2 < a1 ? -1 : (double) (a2 - a1) / genTokens;
        r.decodeTps[i] = genTokens / (decodeNanos / 1e9);
        r.bandwidth[i] = bandwidth != null ? bandwidth : (double) readBytes / readNanos;
        r.peak[i] = peak != null ? peak : max(pk);
    }

    private void probe(LlamaModel m, MachineLimits limits, double[] pk, int at) {
        if (peak == null) for (int j = at; j < at + PROBES; j++) pk[j] = limits.fmaPeak();
    }

    private int trainBench(PrintWriter out) {
        int t = EngineArgs.threads(threads);
        double trainPeak = peak != null ? peak : 202;
        try (ModelSource src = ModelRefs.open(model, store.location())) {
            var b = dev.arbor.train.Trainer.benchmark(src, batch, seq, 1, repeats, t);
            double[] tps = Arrays.stream(b.stepSeconds()).map(x -> b.tokensPerStep() / x).toArray();
            double med = median(tps);
            double gflops = med * b.flopsPerToken() / 1e9;
            if (json) {
                var o = Output.object().put("model", src.describe()).put("threads", t).put("batch", batch).put("seq", seq)
                        .put("steps", repeats).put("parameters", b.parameters()).put("flops_per_token", b.flopsPerToken());
                o.putObject("tokens_per_second").put("median", med).put("min", min(tps)).put("max", max(tps));
                o.put("model_gflops", gflops).put("mfu", gflops / trainPeak);
                Output.printJson(out, o);
            } else {
                out.printf("%s, training, %d threads, batch %d × %d tokens, %d steps after 1 warm-up (median [min, max])%n",
                        src.describe(), t, batch, seq, repeats);
                out.printf("  train  %9.1f tok/s  [%.1f, %.1f]   %.1f model GFLOP/s = %.0f %% MFU of %.0f GFLOP/s (%.2f GFLOP per token)%n",
                        med, min(tps), max(tps), gflops, 100 * gflops / trainPeak, trainPeak, b.flopsPerToken() / 1e9);
            }
        }
        return 0;
    }

    private static double median(double[] a) {
        double[] s = a.clone();
        Arrays.sort(s);
        return s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
    }

    private static double min(double[] a) { return Arrays.stream(a).min().orElse(0); }

    private static double max(double[] a) { return Arrays.stream(a).max().orElse(0); }
}
