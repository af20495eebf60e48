package dev.arbor.format;

import java.io.IOException;

/**
 * A tensor to be written: its name, dtype and shape up front (the header comes first), and
 * a callback that streams its bytes into a {@link TensorSink} when its turn comes.
 */
public record TensorEntry(String name, DType dtype, long[] shape, Content content) {

    @FunctionalInterface
    public interface Content {
        void writeTo(TensorSink sink) throws IOException;
    }

    public TensorEntry {
        shape = shape.clone();
    }

    @Override public long[] shape() { return shape.clone(); }

    /**
     * Streams just this tensor's bytes (no safetensors header) into a channel, converted and
     * counted as in a file write: for content-addressed stores that keep one tensor per blob.
     */
    public void writeContent(java.nio.channels.WritableByteChannel out) throws IOException {
        TensorSink sink = new TensorSink(out, name, dtype, byteSize());
        content.writeTo(sink);
        sink.finish();
    }

    public long byteSize() { return Math.multiplyExact(TensorInfo.numel(shape), (long) dtype.size()); }

    /** An entry holding float values, rounded to dtype when written. */
    public static TensorEntry ofFloats(String name, DType dtype, long[] shape, float[] values) {
        if (TensorInfo.numel(shape) != values.length) throw new IllegalArgumentException("shape does not match values for " + name);
        return new TensorEntry(name, dtype, shape, sink -> sink.putFloats(values, 0, values.length));
    }

    /** An entry that copies a tensor of an open file, converted to dtype, streaming. */
    public static TensorEntry copyOf(SafetensorsFile file, TensorInfo info, DType dtype) {
        DType out = info.dtype().isFloatingPoint() ? dtype : info.dtype();
        return new TensorEntry(info.name(), out, info.shape(), sink -> sink.copyFrom(file, info));
    }
}
