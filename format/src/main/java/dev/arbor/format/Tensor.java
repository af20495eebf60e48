package dev.arbor.format;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * A zero-copy view of one tensor's bytes (little-endian, row-major), usually a slice of a
 * memory-mapped file. Valid while the file or store entry it came from stays open.
 */
public record Tensor(String name, DType dtype, long[] shape, MemorySegment data) {

    static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfDouble F64 = ValueLayout.JAVA_DOUBLE_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfInt I32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfLong I64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    public Tensor {
        shape = shape.clone();
        long expected = Math.multiplyExact(TensorInfo.numel(shape), (long) dtype.size());
        if (data.byteSize() != expected) {
            throw new FormatException("Tensor " + name + " has " + data.byteSize() + " bytes but its shape and dtype need " + expected + ".");
        }
    }

    @Override public long[] shape() { return shape.clone(); }

    public long numel() { return TensorInfo.numel(shape); }

    public int rank() { return shape.length; }

    public long dim(int i) { return shape[i]; }

    /** Element i widened to double (exact for every float dtype and for integers below 2^53). */
    public double getDouble(long i) {
        return switch (dtype) {
            case F64 -> data.getAtIndex(F64, i);
            case F32 -> data.getAtIndex(F32, i);
            case F16 -> HalfFloats.f16ToFloat(data.getAtIndex(I16, i));
            case BF16 -> HalfFloats.bf16ToFloat(data.getAtIndex(I16, i));
            case I64 -> data.getAtIndex(I64, i);
            case I32 -> data.getAtIndex(I32, i);
            case I16 -> data.getAtIndex(I16, i);
            case I8 -> data.get(ValueLayout.JAVA_BYTE, i);
            case U8 -> data.get(ValueLayout.JAVA_BYTE, i) & 0xFF;
            case BOOL -> data.get(ValueLayout.JAVA_BYTE, i) != 0 ? 1 : 0;
        };
    }

    /** Element i as a float (F64 rounds to nearest). */
    public float getFloat(long i) {
        return switch (dtype) {
            case F32 -> data.getAtIndex(F32, i);
            case BF16 -> HalfFloats.bf16ToFloat(data.getAtIndex(I16, i));
            case F16 -> HalfFloats.f16ToFloat(data.getAtIndex(I16, i));
            default -> (float) getDouble(i);
        };
    }

    /** Copies elements [from, from+count) widened to F32 into dst[dstOffset...]. */
    public void readFloats(long from, float[] dst, int dstOffset, int count) {
        switch (dtype) {
            case F32 -> MemorySegment.copy(data, F32, from * 4, dst, dstOffset, count);
            case BF16 -> {
                for (int k = 0; k < count; k++) dst[dstOffset + k] = HalfFloats.bf16ToFloat(data.getAtIndex(I16, from + k));
            }
            case F16 -> {
                for (int k = 0; k < count; k++) dst[dstOffset + k] = HalfFloats.f16ToFloat(data.getAtIndex(I16, from + k));
            }
            default -> {
                for (int k = 0; k < count; k++) dst[dstOffset + k] = getFloat(from + k);
            }
        }
    }

    /** All elements widened to F32 (copies; for small tensors and tests). */
    public float[] toFloatArray() {
        long n = numel();
        if (n > Integer.MAX_VALUE - 8) throw new FormatException("Tensor " + name + " is too large for one Java array.");
        float[] out = new float[(int) n];
        readFloats(0, out, 0, (int) n);
        return out;
    }

    /** All elements widened to F64 (copies; for small tensors and tests). */
    public double[] toDoubleArray() {
        long n = numel();
        if (n > Integer.MAX_VALUE - 8) throw new FormatException("Tensor " + name + " is too large for one Java array.");
        double[] out = new double[(int) n];
        for (int i = 0; i < n; i++) out[i] = getDouble(i);
        return out;
    }

    public String shapeString() { return java.util.Arrays.toString(shape); }
}
