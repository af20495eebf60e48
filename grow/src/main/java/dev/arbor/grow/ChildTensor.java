package dev.arbor.grow;

import dev.arbor.format.DType;
import dev.arbor.format.TensorEntry;

import java.util.SplittableRandom;

/**
 * How one child tensor [rows, cols] is made from at most one parent tensor: child row i copies
 * parent row rowMap[i] (−1: a new row), child column j copies parent column colMap[j] (−1: a new
 * column). Copied entries are bit-exact; new entries are N(0, std²) when std is set, else
 * newValue. A missing parent tensor reads as oldValue everywhere (a mask that was all ones).
 * Rows are streamed, so memory is one parent row plus one output chunk.
 */
record ChildTensor(String name, String parentName, DType dtype, long[] shape, int parentCols,
                   int[] rowMap, int[] colMap, double std, double newValue, double oldValue, long seed) {

    int rows() { return rowMap.length; }

    int cols() { return colMap.length; }

    TensorEntry entry(RowReader reader) {
        return new TensorEntry(name, dtype, shape, sink -> {
            int cols = cols();
            double[] prow = new double[Math.max(parentCols, 1)];
            int chunkRows = Math.max(1, (1 << 16) / Math.max(cols, 1));
            double[] out = new double[chunkRows * cols];
            SplittableRandom rng = new SplittableRandom(seed);
            int filled = 0;
            for (int i = 0; i < rows(); i++) {
                int o = filled * cols;
                int pr = rowMap[i];
                if (pr >= 0 && parentName != null) reader.readRow(parentName, pr, parentCols, prow);
                for (int j = 0; j < cols; j++) {
                    int pc = colMap[j];
                    double v;
                    if (pr < 0 || pc < 0) v = std > 0 ? std * rng.nextGaussian() : newValue;
                    else v = parentName == null ? oldValue : prow[pc];
                    out[o + j] = v;
                }
                if (++filled == chunkRows) {
                    sink.putDoubles(out, 0, filled * cols);
                    filled = 0;
                }
            }
            if (filled > 0) sink.putDoubles(out, 0, filled * cols);
        });
    }

    static long seedFor(long seed, String name) {
        long h = 0xcbf29ce484222325L ^ seed * 0x9E3779B97F4A7C15L;
        for (int i = 0; i < name.length(); i++) {
            h ^= name.charAt(i);
            h *= 0x100000001b3L;
        }
        return h;
    }
}
