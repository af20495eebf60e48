package dev.arbor.format;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.WritableByteChannel;

/**
 * Receives one tensor's bytes while a file is written. It converts floats to the tensor's
 * dtype (round-to-nearest-even) and checks that exactly the declared number of bytes arrive.
 */
public final class TensorSink {
    private static final int CHUNK = 1 << 20;
    private final WritableByteChannel out;
    private final String name;
    private final DType dtype;
    private final long expected;
    private long written;
    private final ByteBuffer buf = OUT_BUFFER.get().clear();

    // Reused per thread: direct buffers are freed only by GC, so one per tensor would make
    // resident memory grow with the number of tensors.
    private static final ThreadLocal<ByteBuffer> OUT_BUFFER =
            ThreadLocal.withInitial(() -> ByteBuffer.allocateDirect(CHUNK).order(ByteOrder.LITTLE_ENDIAN));
    private static final ThreadLocal<ByteBuffer> IN_BUFFER =
            ThreadLocal.withInitial(() -> ByteBuffer.allocateDirect(CHUNK).order(ByteOrder.LITTLE_ENDIAN));

    TensorSink(WritableByteChannel out, String name, DType dtype, long expected) {
        this.out = out;
        this.name = name;
        this.dtype = dtype;
        this.expected = expected;
    }

    public DType dtype() { return dtype; }

    /** Raw bytes, already in this tensor's dtype and little-endian. */
    public void putBytes(ByteBuffer src) throws IOException {
        flush();
        written += src.remaining();
        check();
        AtomicFiles.writeFully(out, src);
    }

    public void putFloats(float[] src, int off, int n) throws IOException {
        for (int i = 0; i < n; i++) {
            if (buf.remaining() < 8) flush();
            putOne(src[off + i]);
        }
        flush();
    }

    public void putDoubles(double[] src, int off, int n) throws IOException {
        for (int i = 0; i < n; i++) {
            if (buf.remaining() < 8) flush();
            switch (dtype) {
                case F64 -> buf.putDouble(src[off + i]);
                case F32 -> buf.putFloat((float) src[off + i]);
                case BF16 -> buf.putShort(HalfFloats.doubleToBf16(src[off + i]));
                case F16 -> buf.putShort(HalfFloats.doubleToF16(src[off + i]));
                default -> throw new IllegalStateException("cannot write doubles as " + dtype);
            }
        }
        flush();
    }

    private void putOne(float v) {
        switch (dtype) {
            case F32 -> buf.putFloat(v);
            case BF16 -> buf.putShort(HalfFloats.floatToBf16(v));
            case F16 -> buf.putShort(HalfFloats.floatToF16(v));
            case F64 -> buf.putDouble(v);
            default -> throw new IllegalStateException("cannot write floats as " + dtype);
        }
    }

    /** Copies a tensor from a file through the channel (no mapping), converting its dtype. */
    public void copyFrom(SafetensorsFile file, TensorInfo info) throws IOException {
        DType from = info.dtype();
        ByteBuffer in = IN_BUFFER.get();
        long total = info.byteSize();
        if (from == dtype) {
            for (long pos = 0; pos < total; ) {
                in.clear().limit((int) Math.min(CHUNK, total - pos));
                file.read(info, pos, in);
                in.flip();
                pos += in.remaining();
                putBytes(in);
            }
            return;
        }
        if (!from.isFloatingPoint() || !dtype.isFloatingPoint()) {
            throw new FormatException("Tensor '" + info.name() + "' of dtype " + from + " cannot be converted to " + dtype + ".");
        }
        int step = (CHUNK / from.size()) * from.size();
        for (long pos = 0; pos < total; ) {
            in.clear().limit((int) Math.min(step, total - pos));
            file.read(info, pos, in);
            in.flip();
            pos += in.remaining();
            while (in.hasRemaining()) {
                if (buf.remaining() < 8) flush();
                switch (from) {
                    case F64 -> {
                        double d = in.getDouble();
                        switch (dtype) {
                            case F32 -> buf.putFloat((float) d);
                            case BF16 -> buf.putShort(HalfFloats.doubleToBf16(d));
                            case F16 -> buf.putShort(HalfFloats.doubleToF16(d));
                            default -> throw new IllegalStateException();
                        }
                    }
                    case F32 -> putOne(in.getFloat());
                    case BF16 -> putOne(HalfFloats.bf16ToFloat(in.getShort()));
                    case F16 -> putOne(HalfFloats.f16ToFloat(in.getShort()));
                    default -> throw new IllegalStateException();
                }
            }
        }
        flush();
    }

    private void flush() throws IOException {
        if (buf.position() == 0) return;
        buf.flip();
        written += buf.remaining();
        check();
        AtomicFiles.writeFully(out, buf);
        buf.clear();
    }

    private void check() {
        if (written > expected) throw new IllegalStateException("tensor " + name + " received more than its " + expected + " bytes");
    }

    void finish() throws IOException {
        flush();
        if (written != expected) {
            throw new IllegalStateException("tensor " + name + " received " + written + " of its " + expected + " bytes");
        }
    }
}
