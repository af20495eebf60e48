package dev.arbor.model;

import java.util.ArrayList;
import java.util.List;

/**
 * Key/value caches that released sequences gave back ({@link Sequence#release}), for the model's next sequences.
 *
 * <p>Why: a fresh cache is tens of megabytes of new arrays (bsmall, 512 positions: 37.7 MB), and the young
 * collections that copy a live one cost 90–250 ms each on the development VM, inside whichever prompt or decode
 * step was running: the same 512-token prompt took 300–620 ms in one JVM with a new sequence per prompt, and
 * 340–385 ms when the sequence was reused. A server (a sequence per request) and {@code arbor bench} release theirs.
 *
 * <p>Reused arrays hold the old sequence's values past the new one's length; the attention kernels never read
 * positions past the length (masked loads), as after {@link Sequence#reset}. Thread-safe; holds at most
 * an eighth of the heap, at most 1 GiB, by default, dropping what does not fit.
 */
final class KvCachePool {
    /** One cache: per layer and kv head, keys in blocks ({@link Attention#keyAt}) and values [capacity][head_dim]. */
    record Cache(int capacity, float[][][] keys, float[][][] values) {
        long bytes() { return bytes(keys); }

        /** Bytes of a cache with these keys (and values of the same size). */
        static long bytes(float[][][] keys) {
            long b = 0;
            for (float[][] layer : keys) for (float[] k : layer) b += 8L * k.length;
            return b;
        }
    }

    private final int layers, kvHeads, headDim;
    private final long maxBytes;
    private final List<Cache> free = new ArrayList<>();
    private long freeBytes;

    KvCachePool(int layers, int kvHeads, int headDim) {
        this(layers, kvHeads, headDim, Math.min(1L << 30, Runtime.getRuntime().maxMemory() / 8));
    }

    KvCachePool(int layers, int kvHeads, int headDim, long maxBytes) {
        this.layers = layers;
        this.kvHeads = kvHeads;
        this.headDim = headDim;
        this.maxBytes = maxBytes;
    }

    /** A cache of at least this many positions: the smallest given back that is large enough, or a new one. */
    Cache take(int capacity) {
        synchronized (this) {
            int best = -1;
            for (int i = 0; i < free.size(); i++) {
                int c = free.get(i).capacity();
                if (c >= capacity && (best < 0 || c < free.get(best).capacity())) best = i;
            }
            if (best >= 0) {
                Cache c = free.remove(best);
                freeBytes -= c.bytes();
                return c;
            }
        }
        float[][][] keys = new float[layers][kvHeads][], values = new float[layers][kvHeads][];
        for (int l = 0; l < layers; l++) {
            for (int g = 0; g < kvHeads; g++) {
                keys[l][g] = new float[headDim * capacity];
                values[l][g] = new float[headDim * capacity];
            }
        }
        return new Cache(capacity, keys, values);
    }

    /** Takes a cache back for later sequences, unless the pool is full. */
    synchronized void give(Cache c) {
        long b = c.bytes();
        if (freeBytes + b > maxBytes) return;
        free.add(c);
        freeBytes += b;
    }

    /** Bytes held for reuse. */
    synchronized long freeBytes() { return freeBytes; }
}
