package dev.arbor.model;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

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
     * one run), so each run finds its cache arrays once. With 512-bit vectors, aligned runs of 16 positions are
     * transposed 16 × 16 in registers ({@link KeyTranspose}); other rows one at a time, a row's keys read in order and
     * written a key-block row apart (one layer of a 512-row prompt, 12 kv heads of 64, one thread: 170–900 µs row by
     * row, 74 µs in register blocks, `PutProbe`, same result; in a small bf16 prompt on two threads, RoPE and these
     * writes 7.6 → 4.5 ms, `PutToggle`, both ways in one JVM, 12 rounds).
     */
    static void put(Sequence[] rowSeq, int[] rowPos, int r0, int r1, int l, float[] k, float[] v, int kvHeads, int headDim) {
        int kv = kvHeads * headDim;
        boolean blocks = KeyTranspose.fits(headDim);
        for (int r = r0; r < r1; ) {
            Sequence s = rowSeq[r];
            int p0 = rowPos[r], end = r + 1;
            while (end < r1 && rowSeq[end] == s && rowPos[end] == p0 + (end - r)) end++;
            for (int g = 0; g < kvHeads; g++) {
                float[] values = s.values[l][g], keys = s.keys[l][g];
                for (int i = r; i < end; ) {
                    int src = i * kv + g * headDim, position = p0 + i - r;
                    int dst = Attention.keyAt(0, position, headDim);
                    // a block of 16 aligned positions where the keys can be transposed in registers, else one row
                    int n = blocks && position % KeyTranspose.N == 0 && end - i >= KeyTranspose.N ? KeyTranspose.N : 1;
                    for (int j = 0; j < n; j++) System.arraycopy(v, src + j * kv, values, (position + j) * headDim, headDim);
                    if (n == KeyTranspose.N) {
                        for (int d = 0; d < headDim; d += n) KeyTranspose.block(k, src + d, kv, keys, dst + d * Attention.KEY_BLOCK);
                    } else {
                        for (int d = 0; d < headDim; d++) keys[dst + d * Attention.KEY_BLOCK] = k[src + d];
                    }
                    i += n;
                }
            }
            r = end;
        }
    }

    /**
     * 16 × 16 blocks of keys transposed in 512-bit registers, for {@link #put}: four stages, each pairing rows w apart
     * and taking lanes from both with two-vector selects (one vpermi2ps each). Used only where the attention vectors
     * are 16 lanes wide (AVX-512); elsewhere put writes the keys one at a time.
     */
    private static final class KeyTranspose {
        static final int N = 16;
        private static final VectorSpecies<Float> S = FloatVector.SPECIES_512;
        private static final boolean USED = Attention.LANES == N;
        private static final FloatVector LO8 = select(8, true), HI8 = select(8, false);
        private static final FloatVector LO4 = select(4, true), HI4 = select(4, false);
        private static final FloatVector LO2 = select(2, true), HI2 = select(2, false);
        private static final FloatVector LO1 = select(1, true), HI1 = select(1, false);

        /** Whether keys of this head size can be transposed in blocks here (16-lane vectors, head size a multiple of 16). */
        static boolean fits(int headDim) {
            return USED && headDim % N == 0;
        }

        /**
         * The lane indices (into the pair a, b: 0–15 from a, 16–31 from b) of one stage's outputs: lane i of the low
         * output is a[i] where bit w of i is clear, else b[i − w]; of the high output a[i + w], else b[i].
         */
        private static FloatVector select(int w, boolean low) {
            float[] idx = new float[N];
            for (int i = 0; i < N; i++) idx[i] = (i & w) == 0 ? (low ? i : i + w) : (low ? i - w + N : i + N);
            return FloatVector.fromArray(S, idx, 0);
        }

        /** keys[dst + d·KEY_BLOCK + j] = k[src + j·kv + d] for d, j in [0, 16). */
        static void block(float[] k, int src, int kv, float[] keys, int dst) {
            FloatVector r0 = FloatVector.fromArray(S, k, src + 0 * kv);
            FloatVector r1 = FloatVector.fromArray(S, k, src + 1 * kv);
            FloatVector r2 = FloatVector.fromArray(S, k, src + 2 * kv);
            FloatVector r3 = FloatVector.fromArray(S, k, src + 3 * kv);
            FloatVector r4 = FloatVector.fromArray(S, k, src + 4 * kv);
            FloatVector r5 = FloatVector.fromArray(S, k, src + 5 * kv);
            FloatVector r6 = FloatVector.fromArray(S, k, src + 6 * kv);
            FloatVector r7 = FloatVector.fromArray(S, k, src + 7 * kv);
            FloatVector r8 = FloatVector.fromArray(S, k, src + 8 * kv);
            FloatVector r9 = FloatVector.fromArray(S, k, src + 9 * kv);
            FloatVector r10 = FloatVector.fromArray(S, k, src + 10 * kv);
            FloatVector r11 = FloatVector.fromArray(S, k, src + 11 * kv);
            FloatVector r12 = FloatVector.fromArray(S, k, src + 12 * kv);
            FloatVector r13 = FloatVector.fromArray(S, k, src + 13 * kv);
            FloatVector r14 = FloatVector.fromArray(S, k, src + 14 * kv);
            FloatVector r15 = FloatVector.fromArray(S, k, src + 15 * kv);
            FloatVector a, b;
            a = r0; b = r8; r0 = LO8.selectFrom(a, b); r8 = HI8.selectFrom(a, b);
            a = r1; b = r9; r1 = LO8.selectFrom(a, b); r9 = HI8.selectFrom(a, b);
            a = r2; b = r10; r2 = LO8.selectFrom(a, b); r10 = HI8.selectFrom(a, b);
            a = r3; b = r11; r3 = LO8.selectFrom(a, b); r11 = HI8.selectFrom(a, b);
            a = r4; b = r12; r4 = LO8.selectFrom(a, b); r12 = HI8.selectFrom(a, b);
            a = r5; b = r13; r5 = LO8.selectFrom(a, b); r13 = HI8.selectFrom(a, b);
            a = r6; b = r14; r6 = LO8.selectFrom(a, b); r14 = HI8.selectFrom(a, b);
            a = r7; b = r15; r7 = LO8.selectFrom(a, b); r15 = HI8.selectFrom(a, b);
            a = r0; b = r4; r0 = LO4.selectFrom(a, b); r4 = HI4.selectFrom(a, b);
            a = r1; b = r5; r1 = LO4.selectFrom(a, b); r5 = HI4.selectFrom(a, b);
            a = r2; b = r6; r2 = LO4.selectFrom(a, b); r6 = HI4.selectFrom(a, b);
            a = r3; b = r7; r3 = LO4.selectFrom(a, b); r7 = HI4.selectFrom(a, b);
            a = r8; b = r12; r8 = LO4.selectFrom(a, b); r12 = HI4.selectFrom(a, b);
            a = r9; b = r13; r9 = LO4.selectFrom(a, b); r13 = HI4.selectFrom(a, b);
            a = r10; b = r14; r10 = LO4.selectFrom(a, b); r14 = HI4.selectFrom(a, b);
            a = r11; b = r15; r11 = LO4.selectFrom(a, b); r15 = HI4.selectFrom(a, b);
            a = r0; b = r2; r0 = LO2.selectFrom(a, b); r2 = HI2.selectFrom(a, b);
            a = r1; b = r3; r1 = LO2.selectFrom(a, b); r3 = HI2.selectFrom(a, b);
            a = r4; b = r6; r4 = LO2.selectFrom(a, b); r6 = HI2.selectFrom(a, b);
            a = r5; b = r7; r5 = LO2.selectFrom(a, b); r7 = HI2.selectFrom(a, b);
            a = r8; b = r10; r8 = LO2.selectFrom(a, b); r10 = HI2.selectFrom(a, b);
            a = r9; b = r11; r9 = LO2.selectFrom(a, b); r11 = HI2.selectFrom(a, b);
            a = r12; b = r14; r12 = LO2.selectFrom(a, b); r14 = HI2.selectFrom(a, b);
            a = r13; b = r15; r13 = LO2.selectFrom(a, b); r15 = HI2.selectFrom(a, b);
            a = r0; b = r1; r0 = LO1.selectFrom(a, b); r1 = HI1.selectFrom(a, b);
            a = r2; b = r3; r2 = LO1.selectFrom(a, b); r3 = HI1.selectFrom(a, b);
            a = r4; b = r5; r4 = LO1.selectFrom(a, b); r5 = HI1.selectFrom(a, b);
            a = r6; b = r7; r6 = LO1.selectFrom(a, b); r7 = HI1.selectFrom(a, b);
            a = r8; b = r9; r8 = LO1.selectFrom(a, b); r9 = HI1.selectFrom(a, b);
            a = r10; b = r11; r10 = LO1.selectFrom(a, b); r11 = HI1.selectFrom(a, b);
            a = r12; b = r13; r12 = LO1.selectFrom(a, b); r13 = HI1.selectFrom(a, b);
            a = r14; b = r15; r14 = LO1.selectFrom(a, b); r15 = HI1.selectFrom(a, b);
            r0.intoArray(keys, dst + 0 * Attention.KEY_BLOCK);
            r1.intoArray(keys, dst + 1 * Attention.KEY_BLOCK);
            r2.intoArray(keys, dst + 2 * Attention.KEY_BLOCK);
            r3.intoArray(keys, dst + 3 * Attention.KEY_BLOCK);
            r4.intoArray(keys, dst + 4 * Attention.KEY_BLOCK);
            r5.intoArray(keys, dst + 5 * Attention.KEY_BLOCK);
            r6.intoArray(keys, dst + 6 * Attention.KEY_BLOCK);
            r7.intoArray(keys, dst + 7 * Attention.KEY_BLOCK);
            r8.intoArray(keys, dst + 8 * Attention.KEY_BLOCK);
            r9.intoArray(keys, dst + 9 * Attention.KEY_BLOCK);
            r10.intoArray(keys, dst + 10 * Attention.KEY_BLOCK);
            r11.intoArray(keys, dst + 11 * Attention.KEY_BLOCK);
            r12.intoArray(keys, dst + 12 * Attention.KEY_BLOCK);
            r13.intoArray(keys, dst + 13 * Attention.KEY_BLOCK);
            r14.intoArray(keys, dst + 14 * Attention.KEY_BLOCK);
            r15.intoArray(keys, dst + 15 * Attention.KEY_BLOCK);
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
