package dev.arbor.model.bench;

import dev.arbor.model.KernelProbe;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;
import org.openjdk.jmh.results.RunResult;
import org.openjdk.jmh.runner.Runner;
import org.openjdk.jmh.runner.options.OptionsBuilder;

import java.util.Collection;
import java.util.concurrent.TimeUnit;

/**
 * The engine's matrix products y = x·Wᵀ on all threads, as the CPU backend runs them: decode (T = 1;
 * T = 3 and 16, that many sequences in one step; weights streamed from memory, not the caches) and a prompt
 * (T = 512, widening and packed GEMM), for the small model's largest layer shapes. Run:
 * <pre>
 *   cd model && mvn -q -o test-compile dependency:build-classpath -Dmdep.outputFile=target/cp.txt
 *   java --add-modules jdk.incubator.vector -cp target/test-classes:target/classes:$(cat target/cp.txt) \
 *        dev.arbor.model.bench.MatmulBench
 * </pre>
 * main() prints GFLOP/s and GB/s of weights next to each JMH score. For a subset, run JMH's own main,
 * e.g. {@code org.openjdk.jmh.Main MatmulBench -p tokens=1 -p dtype=BF16 -jvmArgsAppend "--add-modules jdk.incubator.vector"}.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector"})
public class MatmulBench {
    @Param({"BF16", "F32"}) public String dtype;
    @Param({"1", "3", "16", "512"}) public int tokens;
    @Param({"2048x768", "768x2048", "32000x768"}) public String shape;   // N x K (up/down projection, LM head)
    @Param({"0"}) public int threads;   // 0 = all cores

    private KernelProbe probe;

    /** This project's machine baselines (BENCHMARKS.md, "Limits"): GB/s and GFLOP/s on 2 threads. */
    static final double BANDWIDTH = 28.9, PEAK_256 = 202, PEAK_512 = 431;

    @Setup(Level.Trial) public void setUp() {
        String[] nk = shape.split("x");
        probe = new KernelProbe(dtype, tokens, Integer.parseInt(nk[0]), Integer.parseInt(nk[1]),
                threads == 0 ? Runtime.getRuntime().availableProcessors() : threads);
    }

    @TearDown(Level.Trial) public void tearDown() { probe.close(); }

    @Benchmark public float multiply() { return probe.run(); }

    public static void main(String[] args) throws Exception {
        var opts = new OptionsBuilder().include(MatmulBench.class.getSimpleName())
                .jvm(System.getProperty("java.home") + "/bin/java");   // the forked JVM must be this JDK, not the first java on PATH
        if (args.length > 0) opts.param("shape", args);
        Collection<RunResult> results = new Runner(opts.build()).run();
        System.out.println();
        System.out.printf("Limits (2 threads, measured on this project's machines): read bandwidth %.1f GB/s; F32 FMA peak %.0f GFLOP/s"
                + " with 256-bit vectors, %.0f with 512-bit.%n", BANDWIDTH, PEAK_256, PEAK_512);
        System.out.printf("%-6s %6s %-10s %12s %22s %16s%n", "dtype", "T", "N x K", "us/op", "GFLOP/s (% 256/512)", "GB/s W (% bw)");
        for (RunResult r : results) {
            var p = r.getParams();
            String[] nk = p.getParam("shape").split("x");
            long n = Long.parseLong(nk[0]), k = Long.parseLong(nk[1]), t = Long.parseLong(p.getParam("tokens"));
            double us = r.getPrimaryResult().getScore();
            double bytes = n * k * (p.getParam("dtype").equals("F32") ? 4 : 2);
            double gflops = 2.0 * t * n * k / us / 1e3, gbs = bytes / us / 1e3;
            System.out.printf("%-6s %6d %-10s %12.1f %8.1f (%3.0f/%3.0f %%) %8.2f (%3.0f %%)%n", p.getParam("dtype"), t, p.getParam("shape"), us,
                    gflops, 100 * gflops / PEAK_256, 100 * gflops / PEAK_512, gbs, 100 * gbs / BANDWIDTH);
        }
    }
}
