package dev.arbor.train.data;

/**
 * Deterministic shuffling: SplitMix64 (Steele, Lea and Flood 2014) written out here, rather than
 * java.util's generators, whose bounded-int algorithms are not part of their specification; the
 * same seed must give the same batches on every JVM so that a resumed run continues exactly.
 */
final class Shuffle {
    private long state;

    Shuffle(long seed) { this.state = seed; }

    /** The generator for one epoch: a fresh, well-mixed stream per (seed, epoch) pair. */
    static Shuffle forEpoch(long seed, long epoch) {
        return new Shuffle(mix(mix(seed) ^ mix(epoch + 0x632BE59BD9B4E019L)));
    }

    long nextLong() {
        return mix(state += 0x9E3779B97F4A7C15L);
    }

    /** Uniform in [0, bound), without modulo bias (rejection on 63-bit draws). */
    int nextInt(int bound) {
        for (;;) {
            long u = nextLong() >>> 1;
            long r = u % bound;
            if (u - r + (bound - 1) >= 0) return (int) r;
        }
    }

    /** 0..n-1 in a uniformly random order (Fisher–Yates). */
    static int[] permutation(int n, Shuffle rng) {
        int[] p = new int[n];
        for (int i = 0; i < n; i++) p[i] = i;
        for (int i = n - 1; i > 0; i--) {
            int j = rng.nextInt(i + 1);
            int t = p[i];
            p[i] = p[j];
            p[j] = t;
        }
        return p;
    }

    private static long mix(long z) {
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }
}
