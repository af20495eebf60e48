package dev.arbor.model;

import dev.arbor.format.DType;
import dev.arbor.format.Tensor;

import java.lang.foreign.MemorySegment;

/**
 * A linear layer's weight [rows = out, cols = in], left in its stored dtype inside the
 * (memory-mapped) checkpoint; the kernels widen it to F32 as they read it.
 */
record Weight(String name, DType dtype, int rows, int cols, MemorySegment data) {

    static Weight of(Tensor t) {
        return new Weight(t.name(), t.dtype(), (int) t.dim(0), (int) t.dim(1), t.data());
    }

    long byteSize() { return (long) rows * cols * dtype.size(); }
}
