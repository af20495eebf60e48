package dev.arbor.grow;

import dev.arbor.format.Checkpoint;
import dev.arbor.format.DType;
import dev.arbor.format.FormatException;
import dev.arbor.format.HalfFloats;
import dev.arbor.format.ModelSource;
import dev.arbor.format.SafetensorsFile;
import dev.arbor.format.Tensor;
import dev.arbor.format.TensorInfo;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * Reads one row of a tensor at a time, widened to double (exact for every float dtype). A
 * checkpoint directory is re-opened without memory mapping and read through a small buffer, so
 * streaming a whole model keeps resident memory flat; other sources are read through their
 * zero-copy views. Safe for concurrent readers (one buffer per thread).
 */
final class RowReader implements AutoCloseable {
    private final ModelSource source;
    private final Checkpoint unmapped;
    private static final ThreadLocal<ByteBuffer> BUF = ThreadLocal.withInitial(() -> ByteBuffer.allocate(0));

    private RowReader(ModelSource source, Checkpoint unmapped) {
        this.source = source;
        this.unmapped = unmapped;
    }

    static RowReader of(ModelSource src) {
        if (src instanceof Checkpoint ck && java.nio.file.Files.isDirectory(ck.path())) {
            return new RowReader(src, Checkpoint.open(ck.path(), false));
        }
        return new RowReader(src, null);
    }

    ModelSource source() { return source; }

    boolean contains(String name) { return source.contains(name); }

    TensorInfo info(String name) { return source.info(name); }

    /** Reads elements [row·cols, row·cols + cols) of a tensor into dst[0..cols). */
    void readRow(String name, long row, int cols, double[] dst) {
        TensorInfo info = source.info(name);
        DType t = info.dtype();
        if (!t.isFloatingPoint()) throw new FormatException("Tensor '" + name + "' is " + t.code() + ", not a float tensor.");
        long first = row * cols;
        if (unmapped != null) {
            int bytes = cols * t.size();
            ByteBuffer b = BUF.get();
            if (b.capacity() < bytes) {
                b = ByteBuffer.allocate(Math.max(bytes, 2 * b.capacity())).order(ByteOrder.LITTLE_ENDIAN);
                BUF.set(b);
            }
            b.clear().limit(bytes);
            SafetensorsFile f = unmapped.shardOf(name);
            f.read(f.info(name), first * t.size(), b);
            b.flip();
            switch (t) {
                case F64 -> { for (int i = 0; i < cols; i++) dst[i] = b.getDouble(); }
                case F32 -> { for (int i = 0; i < cols; i++) dst[i] = b.getFloat(); }
                case BF16 -> { for (int i = 0; i < cols; i++) dst[i] = HalfFloats.bf16ToFloat(b.getShort()); }
                case F16 -> { for (int i = 0; i < cols; i++) dst[i] = HalfFloats.f16ToFloat(b.getShort()); }
                default -> throw new IllegalStateException();
            }
        } else {
            Tensor v = source.tensor(name);
            for (int i = 0; i < cols; i++) dst[i] = v.getDouble(first + i);
        }
    }

    /** A whole (small) tensor as doubles. */
    double[] readAll(String name) {
        TensorInfo info = source.info(name);
        long n = info.numel();
        if (n > Integer.MAX_VALUE - 8) throw new FormatException("Tensor '" + name + "' is too large to read whole.");
        double[] out = new double[(int) n];
        readRow(name, 0, (int) n, out);
        return out;
    }

    @Override public void close() {
        if (unmapped != null) unmapped.close();
    }
}
