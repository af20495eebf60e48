package dev.arbor.model;

/**
 * One sequence being decoded: its key/value cache (keys after RoPE) and how many positions it
 * holds. Create it with {@link LlamaModel#newSequence()}; feed it tokens through
 * {@link LlamaModel#step}. Not thread-safe; a sequence belongs to one model.
 *
 * <p>The cache is kept per layer and per kv head, laid out for the attention kernels
 * ({@link Attention}): keys in blocks of {@link Attention#KEY_BLOCK} positions, each block
 * transposed, [head_dim][KEY_BLOCK], so that the scores of many positions are one vector FMA per
 * dimension with no horizontal sums, and consecutive positions are consecutive memory; values
 * [capacity][head_dim], so that the weighted sum reads whole rows.
 */
public final class Sequence {
    final LlamaModel owner;
    /** Where the cache comes from and goes back to (the owner's). */
    private final KvCachePool caches;
    final int headDim;
    int capacity;                // positions the arrays hold
    float[][][] keys;            // [layer][kv head][Attention.keyAt(d, position, head_dim)]
    float[][][] values;          // [layer][kv head][position · head_dim + d]
    int length;

    Sequence(LlamaModel owner, KvCachePool caches, int layers, int kvHeads, int headDim) {
        this.owner = owner;
        this.caches = caches;
        this.headDim = headDim;
        this.keys = new float[layers][kvHeads][0];   // no cache until fed
        this.values = new float[layers][kvHeads][0];
    }

    /** Positions held in the cache (prompt and generated tokens so far). */
    public int length() { return length; }

    /** Forgets every position; the cache memory is kept for reuse. */
    public void reset() { length = 0; }

    /**
     * Forgets every position and gives the cache memory back to the model, for its next sequences
     * (a fresh cache is tens of megabytes of new arrays, see {@link KvCachePool}). The sequence stays
     * usable: it starts empty and takes a cache again when fed.
     */
    public void release() {
        if (capacity > 0) caches.give(new KvCachePool.Cache(capacity, keys, values));
        int layers = keys.length, kvHeads = layers == 0 ? 0 : keys[0].length;
        keys = new float[layers][kvHeads][0];
        values = new float[layers][kvHeads][0];
        capacity = 0;
        length = 0;
    }

    /** Keeps the first n positions only (e.g. to roll back a speculative or rejected step). */
    public void truncate(int n) {
        if (n < 0 || n > length) throw new IllegalArgumentException("cannot truncate a sequence of " + length + " to " + n);
        length = n;
    }

    /** Bytes of cache currently allocated. */
    public long cacheBytes() { return KvCachePool.Cache.bytes(keys); }

    /**
     * Stores the keys and values of layer l for rows [r0, r1) of a batch (row r: sequence
     * rowSeq[r], position rowPos[r], kv head g at k[r·kvHeads·headDim + g·headDim …] and likewise
     * in v). Rows are taken in runs of consecutive positions of one sequence (a prompt segment is
     * one run), so each run finds its cache arrays once. A row's keys are read in order and written a
     * key-block row apart, into lines that stay in L1 across the block's positions: one layer of a
     * 512-row prompt (12 kv heads of 64) took 322–350 µs this way, 795–854 µs transposing a dimension
     * at a time over blocks of 16 rows (PutRope2Probe, one thread, same result).
     */
    static void put(Sequence[] rowSeq, int[] rowPos, int r0, int r1, int l, float[] k, float[] v, int kvHeads, int headDim) {
        int kv = kvHeads * headDim;
        for (int r = r0; r < r1; ) {
            Sequence s = rowSeq[r];
            int p0 = rowPos[r], end = r + 1;
            while (end < r1 && rowSeq[end] == s && rowPos[end] == p0 + (end - r)) end++;
            for (int g = 0; g < kvHeads; g++) {
                float[] values = s.values[l][g], keys = s.keys[l][g];
                for (int i = r; i < end; i++) {
                    int src = i * kv + g * headDim, position = p0 + i - r;
                    System.arraycopy(v, src, values, position * headDim, headDim);
                    int dst = Attention.keyAt(0, position, headDim);
                    for (int d = 0; d < headDim; d++) keys[dst + d * Attention.KEY_BLOCK] = k[src + d];
                }
            }
            r = end;
        }
    }

    void ensureCapacity(int positions, int max) {
        if (capacity >= positions) return;
        // whole blocks of keys, so that attention may read whole vectors of keys past the last
        int block = Attention.KEY_BLOCK;
        int cap = Math.ceilDiv(Math.min(max, Math.max(positions, Math.max(64, 2 * capacity))), block) * block;
        KvCachePool.Cache next = caches.take(cap);
        for (int l = 0; l < keys.length; l++) {
            for (int g = 0; g < keys[l].length; g++) {
                // the keys' blocks do not depend on the capacity: the used ones are one run
                System.arraycopy(keys[l][g], 0, next.keys()[l][g], 0, Math.ceilDiv(length, block) * block * headDim);
                System.arraycopy(values[l][g], 0, next.values()[l][g], 0, length * headDim);
            }
        }
        if (capacity > 0) caches.give(new KvCachePool.Cache(capacity, keys, values));
        keys = next.keys();
        values = next.values();
        capacity = next.capacity();
    }
}
