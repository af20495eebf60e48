package dev.arbor.model;

/**
 * One sequence being decoded: its key/value cache (keys after RoPE) and how many positions it
 * holds. Create it with {@link LlamaModel#newSequence()}; feed it tokens through
 * {@link LlamaModel#step}. Not thread-safe; a sequence belongs to one model.
 */
public final class Sequence {
    final LlamaModel owner;
    final int kvStride;          // floats per position per layer: kvHeads · head_dim
    float[][] keys;              // [layer][position · kvStride + g · hd + i]
    float[][] values;
    int length;

    Sequence(LlamaModel owner, int layers, int kvStride) {
        this.owner = owner;
        this.kvStride = kvStride;
        this.keys = new float[layers][0];
        this.values = new float[layers][0];
    }

    /** Positions held in the cache (prompt and generated tokens so far). */
    public int length() { return length; }

    /** Forgets every position; the cache memory is kept for reuse. */
    public void reset() { length = 0; }

    /** Keeps the first n positions only (e.g. to roll back a speculative or rejected step). */
    public void truncate(int n) {
        if (n < 0 || n > length) throw new IllegalArgumentException("cannot truncate a sequence of " + length + " to " + n);
        length = n;
    }

    /** Bytes of cache currently allocated. */
    public long cacheBytes() {
        long b = 0;
        for (float[] k : keys) b += 8L * k.length;
        return b;
    }

    void ensureCapacity(int positions, int max) {
        int need = positions * kvStride;
        if (keys[0].length >= need) return;
        int cap = Math.min(max, Math.max(positions, Math.max(64, 2 * (keys[0].length / kvStride))));
        for (int l = 0; l < keys.length; l++) {
            keys[l] = java.util.Arrays.copyOf(keys[l], cap * kvStride);
            values[l] = java.util.Arrays.copyOf(values[l], cap * kvStride);
        }
    }
}
