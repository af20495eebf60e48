package dev.arbor.model;

import dev.arbor.format.DType;
import dev.arbor.format.HalfFloats;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.SplittableRandom;

/** Public handle on the package-private kernel for benchmarks: one multiply on the thread pool. */
public final class KernelProbe implements AutoCloseable {
    private final Arena arena = Arena.ofShared();
    private final Weight w;
    private final float[] x, y;
    private final int tokens;
    private final WorkerPool pool;
    private final float[][] scratch;

    public KernelProbe(String dtype, int tokens, int n, int k, int threads) {
        DType dt = DType.valueOf(dtype);
        SplittableRandom r = new SplittableRandom(1);
        MemorySegment seg = arena.allocate((long) n * k * dt.size(), 64);
        for (long i = 0; i < (long) n * k; i++) {
            float v = (float) (r.nextGaussian() * 0.02);
            switch (dt) {
                case F32 -> seg.setAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), i, v);
                case BF16 -> seg.setAtIndex(ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), i, HalfFloats.floatToBf16(v));
                case F16 -> seg.setAtIndex(ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), i, HalfFloats.floatToF16(v));
                default -> throw new IllegalArgumentException(dtype);
            }
        }
        w = new Weight("w", dt, n, k, seg);
        this.tokens = tokens;
        x = new float[tokens * k];
        for (int i = 0; i < x.length; i++) x[i] = (float) r.nextGaussian();
        y = new float[tokens * n];
        pool = new WorkerPool(threads);
        scratch = new float[threads][Matmul.scratchSize(k)];
    }

    public float run() {
        int n = w.rows();
        Matmul.Chunks c = Matmul.chunks(new Weight[]{w}, pool.threads());
        pool.run(c.count(), (i, thread) -> Matmul.multiply(x, tokens, w, c.n0()[i], c.n1()[i], y, n, 0, scratch[thread]));
        return y[0];
    }

    @Override public void close() {
        pool.close();
        arena.close();
    }
}
