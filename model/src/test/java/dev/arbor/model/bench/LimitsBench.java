package dev.arbor.model.bench;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;
import dev.arbor.model.MachineLimits;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Threads;
import org.openjdk.jmh.annotations.Warmup;
import org.openjdk.jmh.infra.ThreadParams;
import org.openjdk.jmh.results.RunResult;
import org.openjdk.jmh.runner.Runner;
import org.openjdk.jmh.runner.options.OptionsBuilder;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Collection;
import java.util.concurrent.TimeUnit;

/**
 * The machine's limits that the engine's figures are compared with, measured the way the engine
 * works (Vector API, 2 threads by default): read bandwidth (each thread sums its half of a 1 GiB
 * off-heap buffer, far larger than the caches) and F32 FMA peak (12 independent FMA chains in
 * registers, with 256-bit and with the widest vectors, as `arbor bench` probes them). Run:
 * <pre>
 *   java --add-modules jdk.incubator.vector -cp model/target/test-classes:model/target/classes:$(cat /tmp/cp.txt) \
 *        dev.arbor.model.bench.LimitsBench [threads]
 * </pre>
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector"})
@Threads(2)
public class LimitsBench {
    static final long BYTES = 1L << 30;
    static final int FMA_ITERATIONS = 1 << 20;
    private static final VectorSpecies<Float> F256 = FloatVector.SPECIES_256;

    @State(Scope.Benchmark)
    public static class Buffer {
        Arena arena;
        MemorySegment seg;

        @Setup(Level.Trial) public void setUp() {
            arena = Arena.ofShared();
            seg = arena.allocate(BYTES, 64);
            for (long i = 0; i < BYTES; i += 8) seg.set(java.lang.foreign.ValueLayout.JAVA_LONG, i, i * 0x9E3779B97F4A7C15L >>> 40);
        }

        @TearDown(Level.Trial) public void tearDown() { arena.close(); }
    }

    /** Sums this thread's share of the buffer (the read probe of {@code arbor bench}): bytes read per op = BYTES / threads. */
    @Benchmark public long read(Buffer b, ThreadParams t) {
        long share = BYTES / t.getThreadCount(), from = t.getThreadIndex() * share;
        return MachineLimits.sum(b.seg, from, from + share);
    }

    /** 12 independent chains hide the FMA latency: FMA_ITERATIONS · 12 · lanes · 2 flops per op. */
    @Benchmark public float fma256() {
        // the same chains as MachineLimits.fmaChains, at 256 bits (the Vector API compiles well only with a constant species)
        FloatVector x = FloatVector.broadcast(F256, 0.999999f), y = FloatVector.broadcast(F256, 1e-7f);
        FloatVector a0 = FloatVector.broadcast(F256, 1f), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0,
                a6 = a0, a7 = a0, a8 = a0, a9 = a0, a10 = a0, a11 = a0;
        for (int i = 0; i < FMA_ITERATIONS; i++) {
            a0 = a0.fma(x, y); a1 = a1.fma(x, y); a2 = a2.fma(x, y); a3 = a3.fma(x, y);
            a4 = a4.fma(x, y); a5 = a5.fma(x, y); a6 = a6.fma(x, y); a7 = a7.fma(x, y);
            a8 = a8.fma(x, y); a9 = a9.fma(x, y); a10 = a10.fma(x, y); a11 = a11.fma(x, y);
        }
        return a0.add(a1).add(a2).add(a3).add(a4).add(a5).add(a6).add(a7).add(a8).add(a9).add(a10).add(a11).lane(0);
    }

    /** The FMA probe of {@code arbor bench}: the same chains with the widest vectors (512-bit here). */
    @Benchmark public float fmaWidest() { return MachineLimits.fmaChains(FMA_ITERATIONS); }

    public static void main(String[] args) throws Exception {
        int threads = args.length > 0 ? Integer.parseInt(args[0]) : 2;
        var opts = new OptionsBuilder().include(LimitsBench.class.getSimpleName()).threads(threads)
                .jvm(System.getProperty("java.home") + "/bin/java");
        Collection<RunResult> results = new Runner(opts.build()).run();
        System.out.println();
        for (RunResult r : results) {
            String name = r.getParams().getBenchmark().replaceAll(".*\\.", "");
            double ms = r.getPrimaryResult().getScore();   // per op, per thread
            double perOp = switch (name) {
                case "read" -> (double) BYTES / threads;
                case "fma256" -> FMA_ITERATIONS * 12.0 * F256.length() * 2;
                default -> FMA_ITERATIONS * 12.0 * MachineLimits.fmaLanes() * 2;
            };
            double rate = perOp * threads / (ms * 1e6);
            System.out.printf("%-7s %d threads: %8.1f %s%n", name, threads, rate, name.equals("read") ? "GB/s" : "GFLOP/s");
        }
    }
}
