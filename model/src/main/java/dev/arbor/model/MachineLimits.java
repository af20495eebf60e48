package dev.arbor.model;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.LongVector;
import jdk.incubator.vector.VectorSpecies;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The two limits that speed is judged against, measured on the spot: the read bandwidth that
 * bounds decode and the F32 FMA peak that bounds prompt processing. {@code arbor bench} measures
 * them between its runs because a shared machine's bandwidth drifts by a factor of two within
 * minutes; a figure measured earlier, elsewhere or by another process makes the ratio meaningless.
 */
public final class MachineLimits implements AutoCloseable {
    /** Threads for the FMA probe, started once so that their start-up is not timed. */
    private final WorkerPool pool;

    public MachineLimits(int threads) { pool = new WorkerPool(threads); }

    @Override public void close() { pool.close(); }

    private static final VectorSpecies<Long> L = LongVector.SPECIES_256;
    private static final VectorSpecies<Float> P = FloatVector.SPECIES_PREFERRED;

    /**
     * Known sources of interference on this machine that make speed figures noisy, as sentences
     * (empty when none is found). So far: the kernel's DAMON monitor (kdamond), which cloud VMs run
     * to page out cold memory. Every sampling interval it walks page tables on one of the CPUs; on the
     * 2-vCPU development VM (sampling every 0.5 s) it stalled a pair of decode steps 2–4× every
     * ~0.4 s, and smol f32 decode ran at 28–39 GB/s with it on against 45–47 GB/s with it off.
     */
    public static List<String> interference() {
        List<String> notes = new ArrayList<>();
        Path damon = Path.of("/sys/kernel/mm/damon/admin/kdamonds");
        try (var ds = Files.newDirectoryStream(damon)) {
            for (var d : ds) {
                Path state = d.resolve("state");
                if (Files.isReadable(state) && Files.readString(state).strip().equals("on")) {
                    notes.add("DAMON (kdamond) is monitoring memory on this machine and stalls a CPU now and then; for steadier"
                            + " figures run with it off (as root: echo off > " + state + ", and back on afterwards).");
                    break;
                }
            }
        } catch (IOException | SecurityException e) {
            // no DAMON (or no way to tell): nothing to report
        }
        return notes;
    }

    /** Lanes of the vectors {@link #fmaChains} uses. */
    public static int fmaLanes() { return P.length(); }

    /** Bytes read and the nanoseconds it took. */
    public record Read(long bytes, long nanos) {}

    /**
     * One read by the model's threads of every weight a decode token reads ({@link LlamaModel#decodeWeights()}), the
     * bytes decode reads in the memory it reads them from ({@link Backend#read}), doing nothing but an integer sum:
     * bytes ÷ nanoseconds is the bandwidth that bounds decode.
     */
    public static Read weightRead(LlamaModel m) { return m.backend().read(m.decodeWeights()); }

    /**
     * GFLOP/s of independent F32 FMA chains on every thread, with the widest vectors the
     * CPU has (the ones the GEMM uses): the compute peak of prompt processing.
     */
    public double fmaPeak() {
        int threads = pool.threads();
        long t0 = System.nanoTime();
        pool.run(threads, (c, t) -> sink ^= Float.floatToIntBits(fmaChains(FMA_ITERATIONS)));
        return (double) threads * FMA_ITERATIONS * 12 * 2 * P.length() / (System.nanoTime() - t0);
    }

    /** About 2 ms per thread with 512-bit vectors at this VM's 215 GFLOP/s per core. */
    private static final int FMA_ITERATIONS = 1 << 20;

    /** Keeps the JIT from dropping reads and chains whose results are otherwise unused. */
    private static volatile long sink;

    /** Folds a probe's result into a volatile sink, so that the JIT cannot drop the work that made it. */
    static void keep(long result) { sink ^= result; }

    /**
     * 12 independent FMA chains of the widest vectors, iterations long (12·lanes·2 flops each): 12
     * chains hide the FMA latency (4 cycles, 2 pipes). Returns a lane so the work is kept.
     */
    public static float fmaChains(int iterations) {
        FloatVector x = FloatVector.broadcast(P, 0.999999f), y = FloatVector.broadcast(P, 1e-7f);
        FloatVector a0 = FloatVector.broadcast(P, 1f), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0,
                a6 = a0, a7 = a0, a8 = a0, a9 = a0, a10 = a0, a11 = a0;
        for (int i = 0; i < iterations; i++) {
            a0 = a0.fma(x, y); a1 = a1.fma(x, y); a2 = a2.fma(x, y); a3 = a3.fma(x, y);
            a4 = a4.fma(x, y); a5 = a5.fma(x, y); a6 = a6.fma(x, y); a7 = a7.fma(x, y);
            a8 = a8.fma(x, y); a9 = a9.fma(x, y); a10 = a10.fma(x, y); a11 = a11.fma(x, y);
        }
        return a0.add(a1).add(a2).add(a3).add(a4).add(a5).add(a6).add(a7).add(a8).add(a9).add(a10).add(a11).lane(0);
    }

    /** Integer sum of bytes [from, to) of seg: four 256-bit loads per 128 bytes, then the tail byte by byte. */
    public static long sum(MemorySegment seg, long from, long to) {
        LongVector a0 = LongVector.zero(L), a1 = a0, a2 = a0, a3 = a0;
        long o = from;
        for (; o + 128 <= to; o += 128) {
            a0 = a0.add(LongVector.fromMemorySegment(L, seg, o, ByteOrder.LITTLE_ENDIAN));
            a1 = a1.add(LongVector.fromMemorySegment(L, seg, o + 32, ByteOrder.LITTLE_ENDIAN));
            a2 = a2.add(LongVector.fromMemorySegment(L, seg, o + 64, ByteOrder.LITTLE_ENDIAN));
            a3 = a3.add(LongVector.fromMemorySegment(L, seg, o + 96, ByteOrder.LITTLE_ENDIAN));
        }
        long s = a0.add(a1).add(a2).add(a3).reduceLanes(jdk.incubator.vector.VectorOperators.ADD);
        for (; o < to; o++) s += seg.get(java.lang.foreign.ValueLayout.JAVA_BYTE, o);
        return s;
    }
}
