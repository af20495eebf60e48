package dev.arbor.model;

import dev.arbor.format.DType;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShuffle;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Arrays;

/**
 * y = x·Wᵀ for activations x [T, K] (F32) and a weight W [N, K] in its stored dtype.
 *
 * <p>The caller hands each thread chunks of rows of W ({@link #chunks}). For several rows of x, a thread widens CHUNK rows at a time into an F32 scratch
 * buffer (BF16 by a 16-bit shift, F16 by exponent re-biasing, all in-register), then runs
 * register-blocked dot-product micro-kernels over them: 4 rows of x × 3 rows of W (12
 * accumulators, which with 3 weight vectors and 1 input vector fill AVX2's 16 registers), with
 * 1×3, 4×1 and 1×1 kernels for the edges. Widening a chunk once and reusing it for every row
 * of x keeps prompt processing compute-bound. At T ≤ {@link #DIRECT_MAX_T} (decode), which is
 * bound by memory bandwidth, the scratch round trip is skipped: 1×4 kernels read W straight from
 * its segment and widen in-register (see {@link #multiplyDirect}).
 *
 * <p>Every output element is computed in the same order whichever kernel produces it (one
 * 8-lane FMA accumulator over k, a fixed pairwise lane sum, then a scalar FMA tail), so a row's
 * result does not depend on how many other rows are in the batch: batched decode equals
 * decoding each sequence alone, bit for bit.
 */
final class Matmul {
    private Matmul() {}

    static final VectorSpecies<Float> F = FloatVector.SPECIES_256;
    static final VectorSpecies<Short> S = ShortVector.SPECIES_128;
    static final int LANES = F.length();
    /** W rows widened per pass: 24 rows of K ≤ 2560 floats stay in L2 while all of x streams past. */
    static final int CHUNK = 24;
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
    private static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(LE);
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(LE);
    private static final VectorShuffle<Float> SWAP4 = VectorShuffle.fromValues(F, 4, 5, 6, 7, 0, 1, 2, 3);
    private static final VectorShuffle<Float> SWAP2 = VectorShuffle.fromValues(F, 2, 3, 0, 1, 6, 7, 4, 5);
    private static final VectorShuffle<Float> SWAP1 = VectorShuffle.fromValues(F, 1, 0, 3, 2, 5, 4, 7, 6);

    /**
     * The rows of several weights cut into chunks of work for the pool: chunk i is rows [n0[i], n1[i])
     * of weight weight[i].
     */
    record Chunks(int[] weight, int[] n0, int[] n1) {
        int count() { return weight.length; }
    }

    /**
     * The smallest chunk, in bytes of weights. Measured on small bf16 decode (2 threads): fixed 24-row
     * chunks (37 KB) 90 tok/s; guided with a floor of 64 KB 114, 128 KB 121, 256 KB 132, 512 KB 118.
     */
    static final long MIN_CHUNK_BYTES = 256 << 10;

    /**
     * Guided scheduling: each chunk is about 1/(2·threads) of the bytes still unassigned, at least
     * MIN_CHUNK_BYTES (or a quarter of a thread's share for small products), a multiple of 4 rows,
     * never across two weights. Threads stream long runs of contiguous memory (hardware
     * prefetchers lose track when two threads alternate through small chunks) and the small
     * chunks at the end even out a thread that fell behind. The result of a product does not
     * depend on where the chunks are cut.
     */
    static Chunks chunks(Weight[] ws, int threads) {
        long remaining = 0;
        for (Weight w : ws) remaining += w.byteSize();
        // small products (a tiny model's layers) still give every thread a few chunks
        long floor = Math.min(MIN_CHUNK_BYTES, remaining / (4L * threads));
        int[] weight = new int[16], n0 = new int[16], n1 = new int[16];
        int count = 0;
        for (int j = 0; j < ws.length; j++) {
            Weight w = ws[j];
            long rowBytes = w.byteSize() / w.rows();
            for (int r = 0; r < w.rows(); ) {
                long target = Math.max(floor, remaining / (2L * threads));
                int rows = (int) Math.min(w.rows() - r, Math.max(4, (target / rowBytes + 3) & ~3));
                if (count == weight.length) {
                    weight = Arrays.copyOf(weight, 2 * count);
                    n0 = Arrays.copyOf(n0, 2 * count);
                    n1 = Arrays.copyOf(n1, 2 * count);
                }
                weight[count] = j;
                n0[count] = r;
                n1[count++] = r + rows;
                r += rows;
                remaining -= rows * rowBytes;
            }
        }
        return new Chunks(Arrays.copyOf(weight, count), Arrays.copyOf(n0, count), Arrays.copyOf(n1, count));
    }

    /** Scratch floats one thread needs for weights with K columns. */
    static int scratchSize(int k) { return CHUNK * k; }

    /**
     * y[t·ldy + yOff + n] = Σ_k x[t·K + k]·W[n, k] for t in [0, T), n in [n0, n1).
     */
    static void multiply(float[] x, int t, Weight w, int n0, int n1, float[] y, int ldy, int yOff, float[] scratch) {
        if (t <= DIRECT_MAX_T) {
            multiplyDirect(x, t, w, n0, n1, y, ldy, yOff);
        } else {
            multiplyWidened(x, t, w, n0, n1, y, ldy, yOff, scratch);
        }
    }

    /** {@link #multiply} by widening each chunk of W into scratch and reusing it for every row of x. */
    static void multiplyWidened(float[] x, int t, Weight w, int n0, int n1, float[] y, int ldy, int yOff, float[] scratch) {
        int k = w.cols();
        for (int c0 = n0; c0 < n1; c0 += CHUNK) {
            int c1 = Math.min(c0 + CHUNK, n1);
            widen(w, c0, c1 - c0, scratch);
            int r = 0;
            for (; r + 4 <= t; r += 4) {
                int p = c0;
                for (; p + 3 <= c1; p += 3) dot4x3(x, r * k, k, scratch, (p - c0) * k, y, r * ldy + yOff + p, ldy);
                for (; p < c1; p++) dot4x1(x, r * k, k, scratch, (p - c0) * k, y, r * ldy + yOff + p, ldy);
            }
            for (; r < t; r++) {
                int p = c0;
                // 8 rows at once: 8 independent FMA chains hide the FMA latency that bounds decode
                for (; p + 8 <= c1; p += 8) dot1x8(x, r * k, k, scratch, (p - c0) * k, y, r * ldy + yOff + p);
                for (; p + 3 <= c1; p += 3) dot1x3(x, r * k, k, scratch, (p - c0) * k, y, r * ldy + yOff + p);
                for (; p < c1; p++) y[r * ldy + yOff + p] = dot1x1(x, r * k, k, scratch, (p - c0) * k);
            }
        }
    }

    /** Rows [row0, row0+rows) of w widened to F32 into dst (row-major, K per row). */
    static void widen(Weight w, int row0, int rows, float[] dst) {
        long n = (long) rows * w.cols();
        long from = (long) row0 * w.cols();
        MemorySegment seg = w.data();
        switch (w.dtype()) {
            case BF16 -> widenBf16(seg, from, dst, (int) n);
            case F16 -> widenF16(seg, from, dst, (int) n);
            case F32 -> MemorySegment.copy(seg, F32, from * 4, dst, 0, (int) n);
            default -> throw new IllegalStateException("unsupported weight dtype " + w.dtype());
        }
    }

    static void widenBf16(MemorySegment seg, long from, float[] dst, int n) {
        int i = 0;
        int bound = n - LANES + 1;
        long base = from * 2;
        for (; i < bound; i += LANES) {
            ShortVector s = ShortVector.fromMemorySegment(S, seg, base + 2L * i, LE);
            IntVector bits = (IntVector) s.convertShape(VectorOperators.S2I, IntVector.SPECIES_256, 0);
            bits.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().intoArray(dst, i);
        }
        for (; i < n; i++) dst[i] = Float.intBitsToFloat((seg.getAtIndex(I16, from + i) & 0xFFFF) << 16);
    }

    /**
     * IEEE half to float: the magnitude bits moved up 13 places are the float with an exponent
     * 112 too small, so multiplying by 2^112 rebias it exactly (subnormals included); the all-ones
     * exponent (Inf/NaN) is patched separately.
     */
    static void widenF16(MemorySegment seg, long from, float[] dst, int n) {
        int i = 0;
        int bound = n - LANES + 1;
        long base = from * 2;
        for (; i < bound; i += LANES) {
            f16ToF32(ShortVector.fromMemorySegment(S, seg, base + 2L * i, LE)).intoArray(dst, i);
        }
        for (; i < n; i++) dst[i] = Float.float16ToFloat(seg.getAtIndex(I16, from + i));
    }

    /** Eight halves widened to floats, exactly (see {@link #widenF16}). */
    private static FloatVector f16ToF32(ShortVector s) {
        IntVector h = (IntVector) s.convertShape(VectorOperators.S2I, IntVector.SPECIES_256, 0);
        IntVector mag = h.and(0x7FFF);
        IntVector sign = h.and(0x8000).lanewise(VectorOperators.LSHL, 16);
        IntVector shifted = mag.lanewise(VectorOperators.LSHL, 13);
        IntVector finite = shifted.reinterpretAsFloats().mul(0x1p112f).reinterpretAsInts();
        VectorMask<Integer> special = mag.compare(VectorOperators.GE, 0x7C00);
        return finite.blend(shifted.or(0x7F800000), special).or(sign).reinterpretAsFloats();
    }

    /** Eight bfloats widened to floats: a bfloat is the high half of a float. */
    private static FloatVector bf16ToF32(ShortVector s) {
        IntVector bits = (IntVector) s.convertShape(VectorOperators.S2I, IntVector.SPECIES_256, 0);
        return bits.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
    }

    // ---- Direct path for few rows of x (decode) ----
    //
    // At T = 1 each weight is used once, so the product is bound by memory bandwidth: widening a
    // chunk into scratch (a 4-byte write and re-read per 2-byte weight) only adds traffic. Here the
    // kernels read W straight from its segment, widen in-register and accumulate 4 weight rows at a
    // time (4 independent FMA chains hide the FMA latency and keep several streams of loads in
    // flight; 8 rows measured slower on AVX2, the extra widening temporaries spill). Each output
    // keeps the exact order of dot1x1: widening is exact, so results are bitwise those of the
    // scratch path.

    /** Up to this many rows of x take the direct path; beyond, the scratch path's 4×3 kernels reuse each widened weight. */
    static final int DIRECT_MAX_T = 3;

    /** y[t·ldy + yOff + n] = Σ_k x[t·K + k]·W[n, k], reading W in place (same result as the scratch path). */
    static void multiplyDirect(float[] x, int t, Weight w, int n0, int n1, float[] y, int ldy, int yOff) {
        int k = w.cols();
        MemorySegment seg = w.data();
        DType d = w.dtype();
        if (!supports(d)) throw new IllegalStateException("unsupported weight dtype " + d);
        int p = n0;
        // rows of x inside: the 4 weight rows are still in L1 when the next row of x reads them
        for (; p + 4 <= n1; p += 4) {
            long wo = (long) p * k;
            for (int r = 0; r < t; r++) {
                int xo = r * k, yo = r * ldy + yOff + p;
                switch (d) {
                    case BF16 -> dot1x4Bf16(x, xo, k, seg, wo, y, yo);
                    case F16 -> dot1x4F16(x, xo, k, seg, wo, y, yo);
                    default -> dot1x4F32(x, xo, k, seg, wo, y, yo);
                }
            }
        }
        for (; p < n1; p++) {
            for (int r = 0; r < t; r++) y[r * ldy + yOff + p] = dot1x1(x, r * k, k, seg, (long) p * k, d);
        }
    }

    /** Element i (an element index) of a weight segment, widened. */
    private static float weightAt(MemorySegment seg, long i, DType d) {
        return switch (d) {
            case BF16 -> Float.intBitsToFloat((seg.getAtIndex(I16, i) & 0xFFFF) << 16);
            case F16 -> Float.float16ToFloat(seg.getAtIndex(I16, i));
            default -> seg.getAtIndex(F32, i);
        };
    }

    /** One row of W (from element wo) against one row of x, in dot1x1's order. */
    private static float dot1x1(float[] x, int xo, int k, MemorySegment seg, long wo, DType d) {
        FloatVector a = FloatVector.zero(F);
        int i = 0;
        int bound = F.loopBound(k);
        for (; i < bound; i += LANES) {
            long o = wo + i;
            FloatVector wv = switch (d) {
                case BF16 -> bf16ToF32(ShortVector.fromMemorySegment(S, seg, 2 * o, LE));
                case F16 -> f16ToF32(ShortVector.fromMemorySegment(S, seg, 2 * o, LE));
                default -> FloatVector.fromMemorySegment(F, seg, 4 * o, LE);
            };
            a = FloatVector.fromArray(F, x, xo + i).fma(wv, a);
        }
        float s = sum(a);
        for (; i < k; i++) s = Math.fma(x[xo + i], weightAt(seg, wo + i, d), s);
        return s;
    }

    /** The scalar tails of 4 rows (k % 8 columns from i), after their vector sums s0..s3. */
    private static void tail4(float[] x, int xo, int i, int k, MemorySegment seg, long wo, DType d,
                              float s0, float s1, float s2, float s3, float[] y, int yo) {
        for (; i < k; i++) {
            float xi = x[xo + i];
            long o = wo + i;
            s0 = Math.fma(xi, weightAt(seg, o, d), s0);
            s1 = Math.fma(xi, weightAt(seg, o + k, d), s1);
            s2 = Math.fma(xi, weightAt(seg, o + 2L * k, d), s2);
            s3 = Math.fma(xi, weightAt(seg, o + 3L * k, d), s3);
        }
        y[yo] = s0;
        y[yo + 1] = s1;
        y[yo + 2] = s2;
        y[yo + 3] = s3;
    }

    // One kernel per dtype, so the hot loop has no dtype switch in it.

    private static void dot1x4Bf16(float[] x, int xo, int k, MemorySegment seg, long wo, float[] y, int yo) {
        FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0;
        long b0 = 2 * wo, b1 = b0 + 2L * k, b2 = b1 + 2L * k, b3 = b2 + 2L * k;
        int i = 0;
        int bound = F.loopBound(k);
        for (; i < bound; i += LANES) {
            FloatVector xv = FloatVector.fromArray(F, x, xo + i);
            long o = 2L * i;
            a0 = xv.fma(bf16ToF32(ShortVector.fromMemorySegment(S, seg, b0 + o, LE)), a0);
            a1 = xv.fma(bf16ToF32(ShortVector.fromMemorySegment(S, seg, b1 + o, LE)), a1);
            a2 = xv.fma(bf16ToF32(ShortVector.fromMemorySegment(S, seg, b2 + o, LE)), a2);
            a3 = xv.fma(bf16ToF32(ShortVector.fromMemorySegment(S, seg, b3 + o, LE)), a3);
        }
        tail4(x, xo, i, k, seg, wo, DType.BF16, sum(a0), sum(a1), sum(a2), sum(a3), y, yo);
    }

    private static void dot1x4F16(float[] x, int xo, int k, MemorySegment seg, long wo, float[] y, int yo) {
        FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0;
        long b0 = 2 * wo, b1 = b0 + 2L * k, b2 = b1 + 2L * k, b3 = b2 + 2L * k;
        int i = 0;
        int bound = F.loopBound(k);
        for (; i < bound; i += LANES) {
            FloatVector xv = FloatVector.fromArray(F, x, xo + i);
            long o = 2L * i;
            a0 = xv.fma(f16ToF32(ShortVector.fromMemorySegment(S, seg, b0 + o, LE)), a0);
            a1 = xv.fma(f16ToF32(ShortVector.fromMemorySegment(S, seg, b1 + o, LE)), a1);
            a2 = xv.fma(f16ToF32(ShortVector.fromMemorySegment(S, seg, b2 + o, LE)), a2);
            a3 = xv.fma(f16ToF32(ShortVector.fromMemorySegment(S, seg, b3 + o, LE)), a3);
        }
        tail4(x, xo, i, k, seg, wo, DType.F16, sum(a0), sum(a1), sum(a2), sum(a3), y, yo);
    }

    private static void dot1x4F32(float[] x, int xo, int k, MemorySegment seg, long wo, float[] y, int yo) {
        FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0;
        long b0 = 4 * wo, b1 = b0 + 4L * k, b2 = b1 + 4L * k, b3 = b2 + 4L * k;
        int i = 0;
        int bound = F.loopBound(k);
        for (; i < bound; i += LANES) {
            FloatVector xv = FloatVector.fromArray(F, x, xo + i);
            long o = 4L * i;
            a0 = xv.fma(FloatVector.fromMemorySegment(F, seg, b0 + o, LE), a0);
            a1 = xv.fma(FloatVector.fromMemorySegment(F, seg, b1 + o, LE), a1);
            a2 = xv.fma(FloatVector.fromMemorySegment(F, seg, b2 + o, LE), a2);
            a3 = xv.fma(FloatVector.fromMemorySegment(F, seg, b3 + o, LE), a3);
        }
        tail4(x, xo, i, k, seg, wo, DType.F32, sum(a0), sum(a1), sum(a2), sum(a3), y, yo);
    }

    /** Sum of the 8 lanes in a fixed pairwise order (reduceLanes may reassociate differently when compiled). */
    static float sum(FloatVector v) {
        v = v.add(v.rearrange(SWAP4));
        v = v.add(v.rearrange(SWAP2));
        v = v.add(v.rearrange(SWAP1));
        return v.lane(0);
    }

    static float dot1x1(float[] x, int xo, int k, float[] w, int wo) {
        FloatVector a = FloatVector.zero(F);
        int i = 0;
        int bound = F.loopBound(k);
        for (; i < bound; i += LANES) {
            a = FloatVector.fromArray(F, x, xo + i).fma(FloatVector.fromArray(F, w, wo + i), a);
        }
        float s = sum(a);
        for (; i < k; i++) s = Math.fma(x[xo + i], w[wo + i], s);
        return s;
    }

    static void dot1x3(float[] x, int xo, int k, float[] w, int wo, float[] y, int yo) {
        FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0;
        int w1 = wo + k, w2 = wo + 2 * k;
        int i = 0;
        int bound = F.loopBound(k);
        for (; i < bound; i += LANES) {
            FloatVector xv = FloatVector.fromArray(F, x, xo + i);
            a0 = xv.fma(FloatVector.fromArray(F, w, wo + i), a0);
            a1 = xv.fma(FloatVector.fromArray(F, w, w1 + i), a1);
            a2 = xv.fma(FloatVector.fromArray(F, w, w2 + i), a2);
        }
        tail3(x, xo, i, k, w, wo, sum(a0), sum(a1), sum(a2), y, yo);
    }

    /** Eight weight rows against one row of x, each in the same order as {@link #dot1x1}. */
    static void dot1x8(float[] x, int xo, int k, float[] w, int wo, float[] y, int yo) {
        FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
        int i = 0;
        int bound = F.loopBound(k);
        for (; i < bound; i += LANES) {
            FloatVector xv = FloatVector.fromArray(F, x, xo + i);
            int o = wo + i;
            a0 = xv.fma(FloatVector.fromArray(F, w, o), a0);
            a1 = xv.fma(FloatVector.fromArray(F, w, o + k), a1);
            a2 = xv.fma(FloatVector.fromArray(F, w, o + 2 * k), a2);
            a3 = xv.fma(FloatVector.fromArray(F, w, o + 3 * k), a3);
            a4 = xv.fma(FloatVector.fromArray(F, w, o + 4 * k), a4);
            a5 = xv.fma(FloatVector.fromArray(F, w, o + 5 * k), a5);
            a6 = xv.fma(FloatVector.fromArray(F, w, o + 6 * k), a6);
            a7 = xv.fma(FloatVector.fromArray(F, w, o + 7 * k), a7);
        }
        // no array of vectors: it would defeat the JIT's register allocation (vectors get boxed)
        y[yo] = sum(a0);
        y[yo + 1] = sum(a1);
        y[yo + 2] = sum(a2);
        y[yo + 3] = sum(a3);
        y[yo + 4] = sum(a4);
        y[yo + 5] = sum(a5);
        y[yo + 6] = sum(a6);
        y[yo + 7] = sum(a7);
        for (int j = 0; j < 8 && i < k; j++) {
            float t = y[yo + j];
            int wj = wo + j * k;
            for (int q = i; q < k; q++) t = Math.fma(x[xo + q], w[wj + q], t);
            y[yo + j] = t;
        }
    }

    static void dot4x1(float[] x, int xo, int k, float[] w, int wo, float[] y, int yo, int ldy) {
        for (int r = 0; r < 4; r++) y[yo + r * ldy] = dot1x1(x, xo + r * k, k, w, wo);
    }

    static void dot4x3(float[] x, int xo, int k, float[] w, int wo, float[] y, int yo, int ldy) {
        FloatVector a00 = FloatVector.zero(F), a01 = a00, a02 = a00, a10 = a00, a11 = a00, a12 = a00,
                a20 = a00, a21 = a00, a22 = a00, a30 = a00, a31 = a00, a32 = a00;
        int x1 = xo + k, x2 = xo + 2 * k, x3 = xo + 3 * k;
        int w1 = wo + k, w2 = wo + 2 * k;
        int i = 0;
        int bound = F.loopBound(k);
        for (; i < bound; i += LANES) {
            FloatVector v0 = FloatVector.fromArray(F, w, wo + i);
            FloatVector v1 = FloatVector.fromArray(F, w, w1 + i);
            FloatVector v2 = FloatVector.fromArray(F, w, w2 + i);
            FloatVector xv = FloatVector.fromArray(F, x, xo + i);
            a00 = xv.fma(v0, a00); a01 = xv.fma(v1, a01); a02 = xv.fma(v2, a02);
            xv = FloatVector.fromArray(F, x, x1 + i);
            a10 = xv.fma(v0, a10); a11 = xv.fma(v1, a11); a12 = xv.fma(v2, a12);
            xv = FloatVector.fromArray(F, x, x2 + i);
            a20 = xv.fma(v0, a20); a21 = xv.fma(v1, a21); a22 = xv.fma(v2, a22);
            xv = FloatVector.fromArray(F, x, x3 + i);
            a30 = xv.fma(v0, a30); a31 = xv.fma(v1, a31); a32 = xv.fma(v2, a32);
        }
        if (i == k) {
            y[yo] = sum(a00); y[yo + 1] = sum(a01); y[yo + 2] = sum(a02);
            yo += ldy;
            y[yo] = sum(a10); y[yo + 1] = sum(a11); y[yo + 2] = sum(a12);
            yo += ldy;
            y[yo] = sum(a20); y[yo + 1] = sum(a21); y[yo + 2] = sum(a22);
            yo += ldy;
            y[yo] = sum(a30); y[yo + 1] = sum(a31); y[yo + 2] = sum(a32);
            return;
        }
        tail3(x, xo, i, k, w, wo, sum(a00), sum(a01), sum(a02), y, yo);
        tail3(x, x1, i, k, w, wo, sum(a10), sum(a11), sum(a12), y, yo + ldy);
        tail3(x, x2, i, k, w, wo, sum(a20), sum(a21), sum(a22), y, yo + 2 * ldy);
        tail3(x, x3, i, k, w, wo, sum(a30), sum(a31), sum(a32), y, yo + 3 * ldy);
    }

    private static void tail3(float[] x, int xo, int i, int k, float[] w, int wo, float s0, float s1, float s2, float[] y, int yo) {
        int w1 = wo + k, w2 = wo + 2 * k;
        for (; i < k; i++) {
            float xi = x[xo + i];
            s0 = Math.fma(xi, w[wo + i], s0);
            s1 = Math.fma(xi, w[w1 + i], s1);
            s2 = Math.fma(xi, w[w2 + i], s2);
        }
        y[yo] = s0;
        y[yo + 1] = s1;
        y[yo + 2] = s2;
    }

    /** The dtypes the kernels read. */
    static boolean supports(DType d) { return d == DType.BF16 || d == DType.F16 || d == DType.F32; }
}
