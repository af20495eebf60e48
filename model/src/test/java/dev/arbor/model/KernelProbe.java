package dev.arbor.model;

import dev.arbor.format.DType;
import dev.arbor.format.HalfFloats;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.List;
import java.util.SplittableRandom;

/**
 * Public handle on the package-private CPU backend for benchmarks: one product y = x·Wᵀ the way
 * the engine runs it. Up to DECODE_ROWS rows are decode rows of as many sequences (Matmul
 * kernels, weights read in place); more rows are one prompt (weights widened, packed GEMM).
 */
public final class KernelProbe implements AutoCloseable {
    private final Arena arena = Arena.ofShared();
    /** Copies of the weight used in turn: decode products stream from memory, as in a model larger than the caches. */
    private final Weight[] ws;
    private int next;
    private final float[] x, y;
    private final int tokens;
    private final CpuBackend backend;
    private final RowPlan plan;

    /** Up to this many rows are benchmarked as a batch of decode rows, more as one prompt. */
    public static final int DECODE_ROWS = 16;   // as many rows as a server batches (--max-batch 16)

    public KernelProbe(String dtype, int tokens, int n, int k, int threads) {
        DType dt = DType.valueOf(dtype);
        SplittableRandom r = new SplittableRandom(1);
        long bytes = (long) n * k * dt.size();
        int copies = tokens <= DECODE_ROWS ? (int) Math.max(1, Math.ceilDiv(STREAM_BYTES, bytes)) : 1;
        MemorySegment seg = arena.allocate(bytes, 64);
        for (long i = 0; i < (long) n * k; i++) {
            float v = (float) (r.nextGaussian() * 0.02);
            switch (dt) {
                case F32 -> seg.setAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), i, v);
                case BF16 -> seg.setAtIndex(ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), i, HalfFloats.floatToBf16(v));
                case F16 -> seg.setAtIndex(ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), i, HalfFloats.floatToF16(v));
                default -> throw new IllegalArgumentException(dtype);
            }
        }
        ws = new Weight[copies];
        for (int c = 0; c < copies; c++) {
            MemorySegment copy = c == 0 ? seg : arena.allocate(bytes, 64).copyFrom(seg);
            ws[c] = new Weight("w" + c, dt, n, k, copy);
        }
        this.tokens = tokens;
        x = new float[tokens * k];
        for (int i = 0; i < x.length; i++) x[i] = (float) r.nextGaussian();
        y = new float[tokens * n];
        backend = new CpuBackend(threads);
        plan = tokens <= DECODE_ROWS ? RowPlan.decode(tokens) : RowPlan.of(List.of(new int[tokens]));
    }

    /** Bytes of weight copies cycled through at decode sizes: 8× this machine's 32 MB L3. */
    static final long STREAM_BYTES = 256L << 20;

    public float run() {
        Weight w = ws[next];
        next = (next + 1) % ws.length;
        backend.linear(x, tokens, new Weight[]{w}, new float[][]{y}, plan);
        return y[0];
    }

    @Override public void close() {
        backend.close();
        arena.close();
    }
}
