package dev.arbor.model.bench;

import dev.arbor.model.AttentionProbe;
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
import org.openjdk.jmh.annotations.Warmup;
import org.openjdk.jmh.results.RunResult;
import org.openjdk.jmh.runner.Runner;
import org.openjdk.jmh.runner.options.OptionsBuilder;

import java.util.Collection;
import java.util.concurrent.TimeUnit;

/**
 * Prompt attention of one query head on one thread (scores, softmax and weighted sum, units of eight rows as the CPU
 * backend runs them), against the F32 FMA peak of one core. Run as {@link MatmulBench} says, with this class.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector"})
public class AttentionBench {
    @Param({"512", "2048"}) public int rows;
    @Param({"64", "128"}) public int headDim;

    private AttentionProbe probe;

    @Setup(Level.Trial) public void setUp() { probe = new AttentionProbe(rows, headDim); }

    @Benchmark public float promptHead() { return probe.run(); }

    public static void main(String[] args) throws Exception {
        var opts = new OptionsBuilder().include(AttentionBench.class.getSimpleName())
                .jvm(System.getProperty("java.home") + "/bin/java");
        Collection<RunResult> results = new Runner(opts.build()).run();
        double corePeak = MatmulBench.PEAK_512 / 2;
        System.out.println();
        System.out.printf("One core's F32 FMA peak with 512-bit vectors: %.0f GFLOP/s (this project's baseline).%n", corePeak);
        System.out.printf("%6s %8s %12s %22s%n", "rows", "headDim", "us/head", "GFLOP/s (% of peak)");
        for (RunResult r : results) {
            var p = r.getParams();
            int rows = Integer.parseInt(p.getParam("rows")), hd = Integer.parseInt(p.getParam("headDim"));
            double us = r.getPrimaryResult().getScore();
            double gflops = AttentionProbe.flops(rows, hd) / us / 1e3;
            System.out.printf("%6d %8d %12.1f %12.1f (%3.0f %%)%n", rows, hd, us, gflops, 100 * gflops / corePeak);
        }
    }
}
