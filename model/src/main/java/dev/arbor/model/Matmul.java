package dev.arbor.model;

import dev.arbor.format.DType;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorShuffle;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Arrays;

/**
 * y = x·Wᵀ for decode rows of activations x [T, K] (F32; one row per sequence) and a weight W [N, K] in its
 * stored dtype, read in place from its (memory-mapped) segment. The engine uses it for weights it does not
 * repack ({@link PackedWeights}): F16 ones, and all of them in one-shot commands or under ARBOR_REPACK=0.
 *
 * <p>Decode is bound by memory bandwidth, so the kernel streams W one row at a time, front to back:
 * one sequential stream per thread is what the hardware prefetchers serve best. (Kernels that read
 * 4 rows at once ran at 31–36 GB/s with 2 threads on this machine, one row at a time at 48–52, against
 * 54 GB/s for a plain sum.) BF16 is widened in-register by a 16-bit shift, F16 by exponent
 * re-biasing. Two or three rows of x read the weight row in turn (after the first it comes from
 * L1), and three BF16 rows share each widened vector; from {@link #TILE_MIN_T} rows on (a server's
 * batch), BF16/F16 rows are widened once per chunk and multiplied in 4×3 register tiles. (Widening
 * into a buffer for every T cost 4.3 ms for 3 rows of the 32000×768 LM head against 1.9 ms now and
 * 1.4 ms for one row; reading in turn for every T cost 923 µs for 16 rows of 2048×768 against 517
 * µs with the tiles.)
 *
 * <p>Every output element is computed in one order whichever path produces it: four accumulators
 * of {@link #WL} lanes take consecutive blocks of 4·WL columns, a block of WL columns goes to the
 * first, the four are added as (a0 + a1) + (a2 + a3), the lanes are summed by a fixed pairwise
 * tree, then the last K mod WL columns are added by scalar FMAs in order. Widening is exact, so a
 * row's result does not depend on the dtype path, on how many other rows are in the batch, or on
 * chunk boundaries: batched decode equals decoding each sequence alone, bit for bit. F32 weights
 * are always read in place, so they may use their own order: the same scheme with 8-lane vectors
 * (512-bit loads from a segment measured slower: small f32 decode 50 against 80 tok/s).
 *
 * <p>{@link #F}, the 8-lane species, and {@link #sum} serve the norms and residuals; attention and
 * SwiGLU use {@link #W}.
 */
final class Matmul {
    private Matmul() {}

    static final VectorSpecies<Float> F = FloatVector.SPECIES_256;
    /** The decode kernels' species: the widest the CPU has (16 lanes with AVX-512, 8 with AVX2). */
    static final VectorSpecies<Float> W = FloatVector.SPECIES_PREFERRED.length() >= 8 ? FloatVector.SPECIES_PREFERRED : F;
    static final int WL = W.length();
    private static final VectorSpecies<Short> WS = VectorSpecies.of(short.class, VectorShape.forBitSize(W.vectorBitSize() / 2));
    private static final VectorSpecies<Integer> WI = VectorSpecies.of(int.class, W.vectorShape());
    /** Rows widened per chunk of work when a whole weight is widened for the GEMM. */
    static final int CHUNK = 24;
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
    private static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(LE);
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(LE);
    private static final VectorShuffle<Float> SWAP4 = VectorShuffle.fromValues(F, 4, 5, 6, 7, 0, 1, 2, 3);
    private static final VectorShuffle<Float> SWAP2 = VectorShuffle.fromValues(F, 2, 3, 0, 1, 6, 7, 4, 5);
    private static final VectorShuffle<Float> SWAP1 = VectorShuffle.fromValues(F, 1, 0, 3, 2, 5, 4, 7, 6);
    // the same pairwise tree for W's lanes (WL is 8 or 16)
    private static final VectorShuffle<Float> W_SWAP8 = VectorShuffle.fromOp(W, i -> i ^ Math.min(8, WL / 2));
    private static final VectorShuffle<Float> W_SWAP4 = VectorShuffle.fromOp(W, i -> i ^ 4);
    private static final VectorShuffle<Float> W_SWAP2 = VectorShuffle.fromOp(W, i -> i ^ 2);
    private static final VectorShuffle<Float> W_SWAP1 = VectorShuffle.fromOp(W, i -> i ^ 1);

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

    /**
     * y[t·ldy + yOff + n] = Σ_k x[t·K + k]·W[n, k] for t in [0, T), n in [n0, n1).
     */
    static void multiply(float[] x, int t, Weight w, int n0, int n1, float[] y, int ldy, int yOff, float[] scratch) {
        int k = w.cols();
        MemorySegment seg = w.data();
        DType d = w.dtype();
        if (!supports(d)) throw new IllegalStateException("unsupported weight dtype " + d);
        if (t >= TILE_MIN_T && d != DType.F32) {
            multiplyTiled(x, t, w, n0, n1, y, ldy, yOff, scratch);
            return;
        }
        long rowBytes = (long) k * d.size();
        for (int p = n0; p < n1; p++) {
            long off = p * rowBytes;
            // rows of x inside: the weight row is in L1 when the second row of x reads it
            int r = 0;
            if (d == DType.BF16) {
                // three rows of x share each widened weight vector (same order per output as dotBf16)
                for (; r + 3 <= t; r += 3) {
                    dotBf16x3(x, r * k, k, seg, off, y, r * ldy + yOff + p, ldy);
                }
            }
            for (; r < t; r++) {
                int xo = r * k, yo = r * ldy + yOff + p;
                y[yo] = switch (d) {
                    case BF16 -> dotBf16(x, xo, k, seg, off);
                    case F16 -> dotF16(x, xo, k, seg, off);
                    default -> dotF32(x, xo, k, seg, off);
                };
            }
        }
    }

    /** From this many rows of x on, BF16/F16 weights are widened once per chunk and multiplied in tiles. */
    static final int TILE_MIN_T = 4;

    /** The four chains' partial sums of one 4×3 tile, kept after the widened rows in scratch. */
    private static final int TILE_PARTIALS = 4 * 12 * WL;

    /** Scratch floats one thread needs for weights with K columns: CHUNK widened rows and a tile's partial sums. */
    static int scratchSize(int k) { return CHUNK * k + TILE_PARTIALS; }

    /**
     * Many rows of x (a batch of decode rows): CHUNK weight rows are widened into scratch, then 4
     * rows of x × 3 weight rows at a time accumulate in registers. The four accumulator chains of
     * the class comment are independent, so the tile runs them one after the other (12 accumulators
     * each) and combines them exactly as the one-row kernels do: the same bits per output.
     */
    private static void multiplyTiled(float[] x, int t, Weight w, int n0, int n1, float[] y, int ldy, int yOff, float[] scratch) {
        int k = w.cols();
        int part = CHUNK * k;   // where the tile's partial sums go in scratch
        for (int c0 = n0; c0 < n1; c0 += CHUNK) {
            int c1 = Math.min(c0 + CHUNK, n1);
            widen(w, c0, c1 - c0, scratch, 0);
            int r = 0;
            for (; r + 4 <= t; r += 4) {
                int p = c0;
                for (; p + 3 <= c1; p += 3) tile4x3(x, r * k, k, scratch, (p - c0) * k, part, y, r * ldy + yOff + p, ldy);
                for (; p < c1; p++) {
                    for (int q = r; q < r + 4; q++) y[q * ldy + yOff + p] = dot(x, q * k, k, scratch, (p - c0) * k);
                }
            }
            for (; r < t; r++) {
                for (int p = c0; p < c1; p++) y[r * ldy + yOff + p] = dot(x, r * k, k, scratch, (p - c0) * k);
            }
        }
    }

    /**
     * Rows xo, xo+K, xo+2K, xo+3K of x against widened rows wo, wo+K, wo+2K of w (the scratch
     * buffer), into y[yo + r·ldy + c]; the chains' partial sums go to w[part, part + TILE_PARTIALS).
     */
    private static void tile4x3(float[] x, int xo, int k, float[] w, int wo, int part, float[] y, int yo, int ldy) {
        int groups = k / (4 * WL), region4 = groups * 4 * WL, singles = (k - region4) / WL;
        int w1 = wo + k, w2 = wo + 2 * k, x1 = xo + k, x2 = xo + 2 * k, x3 = xo + 3 * k;
        for (int j = 0; j < 4; j++) {
            FloatVector a00 = FloatVector.zero(W), a01 = a00, a02 = a00, a10 = a00, a11 = a00, a12 = a00,
                    a20 = a00, a21 = a00, a22 = a00, a30 = a00, a31 = a00, a32 = a00;
            // chain j: blocks j, j+4, j+8, ... of the 4-block region; chain 0 then takes the single blocks
            int blocks = groups + (j == 0 ? singles : 0);
            for (int b = 0; b < blocks; b++) {
                int o = b < groups ? b * 4 * WL + j * WL : region4 + (b - groups) * WL;
                FloatVector v0 = FloatVector.fromArray(W, w, wo + o);
                FloatVector v1 = FloatVector.fromArray(W, w, w1 + o);
                FloatVector v2 = FloatVector.fromArray(W, w, w2 + o);
                FloatVector xv = FloatVector.fromArray(W, x, xo + o);
                a00 = xv.fma(v0, a00); a01 = xv.fma(v1, a01); a02 = xv.fma(v2, a02);
                xv = FloatVector.fromArray(W, x, x1 + o);
                a10 = xv.fma(v0, a10); a11 = xv.fma(v1, a11); a12 = xv.fma(v2, a12);
                xv = FloatVector.fromArray(W, x, x2 + o);
                a20 = xv.fma(v0, a20); a21 = xv.fma(v1, a21); a22 = xv.fma(v2, a22);
                xv = FloatVector.fromArray(W, x, x3 + o);
                a30 = xv.fma(v0, a30); a31 = xv.fma(v1, a31); a32 = xv.fma(v2, a32);
            }
            int po = part + j * 12 * WL;
            a00.intoArray(w, po); a01.intoArray(w, po + WL); a02.intoArray(w, po + 2 * WL);
            a10.intoArray(w, po + 3 * WL); a11.intoArray(w, po + 4 * WL); a12.intoArray(w, po + 5 * WL);
            a20.intoArray(w, po + 6 * WL); a21.intoArray(w, po + 7 * WL); a22.intoArray(w, po + 8 * WL);
            a30.intoArray(w, po + 9 * WL); a31.intoArray(w, po + 10 * WL); a32.intoArray(w, po + 11 * WL);
        }
        int tail = region4 + singles * WL;
        for (int r = 0; r < 4; r++) {
            for (int c = 0; c < 3; c++) {
                int q = part + (r * 3 + c) * WL, step = 12 * WL;
                FloatVector v = FloatVector.fromArray(W, w, q).add(FloatVector.fromArray(W, w, q + step))
                        .add(FloatVector.fromArray(W, w, q + 2 * step).add(FloatVector.fromArray(W, w, q + 3 * step)));
                float s = sumW(v);
                int xr = xo + r * k, wr = wo + c * k;
                for (int i = tail; i < k; i++) s = Math.fma(x[xr + i], w[wr + i], s);
                y[yo + r * ldy + c] = s;
            }
        }
    }

    /** A widened weight row w[wo, wo+K) against x[xo, xo+K), in the order of the class comment. */
    private static float dot(float[] x, int xo, int k, float[] w, int wo) {
        FloatVector a0 = FloatVector.zero(W), a1 = a0, a2 = a0, a3 = a0;
        int i = 0;
        for (; i + 4 * WL <= k; i += 4 * WL) {
            a0 = FloatVector.fromArray(W, x, xo + i).fma(FloatVector.fromArray(W, w, wo + i), a0);
            a1 = FloatVector.fromArray(W, x, xo + i + WL).fma(FloatVector.fromArray(W, w, wo + i + WL), a1);
            a2 = FloatVector.fromArray(W, x, xo + i + 2 * WL).fma(FloatVector.fromArray(W, w, wo + i + 2 * WL), a2);
            a3 = FloatVector.fromArray(W, x, xo + i + 3 * WL).fma(FloatVector.fromArray(W, w, wo + i + 3 * WL), a3);
        }
        for (; i + WL <= k; i += WL) a0 = FloatVector.fromArray(W, x, xo + i).fma(FloatVector.fromArray(W, w, wo + i), a0);
        float s = sumW(a0.add(a1).add(a2.add(a3)));
        for (; i < k; i++) s = Math.fma(x[xo + i], w[wo + i], s);
        return s;
    }

    /** Rows [row0, row0+rows) of w widened to F32 into dst from dstOff (row-major, K per row). */
    static void widen(Weight w, int row0, int rows, float[] dst, int dstOff) {
        long n = (long) rows * w.cols();
        long from = (long) row0 * w.cols();
        MemorySegment seg = w.data();
        switch (w.dtype()) {
            case BF16 -> widenBf16(seg, from, dst, dstOff, (int) n);
            case F16 -> widenF16(seg, from, dst, dstOff, (int) n);
            case F32 -> MemorySegment.copy(seg, F32, from * 4, dst, dstOff, (int) n);
            default -> throw new IllegalStateException("unsupported weight dtype " + w.dtype());
        }
    }

    static void widenBf16(MemorySegment seg, long from, float[] dst, int dstOff, int n) {
        int i = 0;
        long base = from * 2;
        for (; i + WL <= n; i += WL) bf16ToF32(ShortVector.fromMemorySegment(WS, seg, base + 2L * i, LE)).intoArray(dst, dstOff + i);
        for (; i < n; i++) dst[dstOff + i] = Float.intBitsToFloat((seg.getAtIndex(I16, from + i) & 0xFFFF) << 16);
    }

    /**
     * IEEE half to float: the magnitude bits moved up 13 places are the float with an exponent
     * 112 too small, so multiplying by 2^112 rebias it exactly (subnormals included); the all-ones
     * exponent (Inf/NaN) is patched separately.
     */
    static void widenF16(MemorySegment seg, long from, float[] dst, int dstOff, int n) {
        int i = 0;
        long base = from * 2;
        for (; i + WL <= n; i += WL) f16ToF32(ShortVector.fromMemorySegment(WS, seg, base + 2L * i, LE)).intoArray(dst, dstOff + i);
        for (; i < n; i++) dst[dstOff + i] = Float.float16ToFloat(seg.getAtIndex(I16, from + i));
    }

    /** WL halves widened to floats, exactly (see {@link #widenF16}). */
    private static FloatVector f16ToF32(ShortVector s) {
        IntVector h = (IntVector) s.convertShape(VectorOperators.S2I, WI, 0);
        IntVector mag = h.and(0x7FFF);
        IntVector sign = h.and(0x8000).lanewise(VectorOperators.LSHL, 16);
        IntVector shifted = mag.lanewise(VectorOperators.LSHL, 13);
        IntVector finite = shifted.reinterpretAsFloats().mul(0x1p112f).reinterpretAsInts();
        VectorMask<Integer> special = mag.compare(VectorOperators.GE, 0x7C00);
        return finite.blend(shifted.or(0x7F800000), special).or(sign).reinterpretAsFloats();
    }

    /** WL bfloats widened to floats: a bfloat is the high half of a float. */
    private static FloatVector bf16ToF32(ShortVector s) {
        IntVector bits = (IntVector) s.convertShape(VectorOperators.S2I, WI, 0);
        return bits.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
    }

    // ---- One weight row against one row of x, in the order of the class comment ----
    // One kernel per dtype, so the hot loop has no dtype switch in it; the four accumulators are
    // separate variables (an array of vectors would defeat the JIT's register allocation).

    private static float dotBf16(float[] x, int xo, int k, MemorySegment seg, long off) {
        FloatVector a0 = FloatVector.zero(W), a1 = a0, a2 = a0, a3 = a0;
        int i = 0;
        for (; i + 4 * WL <= k; i += 4 * WL) {
            long o = off + 2L * i;
            a0 = FloatVector.fromArray(W, x, xo + i).fma(bf16ToF32(ShortVector.fromMemorySegment(WS, seg, o, LE)), a0);
            a1 = FloatVector.fromArray(W, x, xo + i + WL).fma(bf16ToF32(ShortVector.fromMemorySegment(WS, seg, o + 2L * WL, LE)), a1);
            a2 = FloatVector.fromArray(W, x, xo + i + 2 * WL).fma(bf16ToF32(ShortVector.fromMemorySegment(WS, seg, o + 4L * WL, LE)), a2);
            a3 = FloatVector.fromArray(W, x, xo + i + 3 * WL).fma(bf16ToF32(ShortVector.fromMemorySegment(WS, seg, o + 6L * WL, LE)), a3);
        }
        for (; i + WL <= k; i += WL) {
            a0 = FloatVector.fromArray(W, x, xo + i).fma(bf16ToF32(ShortVector.fromMemorySegment(WS, seg, off + 2L * i, LE)), a0);
        }
        float s = sumW(a0.add(a1).add(a2.add(a3)));
        for (; i < k; i++) s = Math.fma(x[xo + i], Float.intBitsToFloat((seg.get(I16, off + 2L * i) & 0xFFFF) << 16), s);
        return s;
    }

    /** dotBf16 for three rows of x (from xo, K apart) into y[yo], y[yo + ldy], y[yo + 2·ldy]. */
    private static void dotBf16x3(float[] x, int xo, int k, MemorySegment seg, long off, float[] y, int yo, int ldy) {
        FloatVector a0 = FloatVector.zero(W), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0,
                c0 = a0, c1 = a0, c2 = a0, c3 = a0;
        int x1 = xo + k, x2 = xo + 2 * k;
        int i = 0;
        for (; i + 4 * WL <= k; i += 4 * WL) {
            long o = off + 2L * i;
            FloatVector w0 = bf16ToF32(ShortVector.fromMemorySegment(WS, seg, o, LE));
            FloatVector w1 = bf16ToF32(ShortVector.fromMemorySegment(WS, seg, o + 2L * WL, LE));
            FloatVector w2 = bf16ToF32(ShortVector.fromMemorySegment(WS, seg, o + 4L * WL, LE));
            FloatVector w3 = bf16ToF32(ShortVector.fromMemorySegment(WS, seg, o + 6L * WL, LE));
            a0 = FloatVector.fromArray(W, x, xo + i).fma(w0, a0);
            a1 = FloatVector.fromArray(W, x, xo + i + WL).fma(w1, a1);
            a2 = FloatVector.fromArray(W, x, xo + i + 2 * WL).fma(w2, a2);
            a3 = FloatVector.fromArray(W, x, xo + i + 3 * WL).fma(w3, a3);
            b0 = FloatVector.fromArray(W, x, x1 + i).fma(w0, b0);
            b1 = FloatVector.fromArray(W, x, x1 + i + WL).fma(w1, b1);
            b2 = FloatVector.fromArray(W, x, x1 + i + 2 * WL).fma(w2, b2);
            b3 = FloatVector.fromArray(W, x, x1 + i + 3 * WL).fma(w3, b3);
            c0 = FloatVector.fromArray(W, x, x2 + i).fma(w0, c0);
            c1 = FloatVector.fromArray(W, x, x2 + i + WL).fma(w1, c1);
            c2 = FloatVector.fromArray(W, x, x2 + i + 2 * WL).fma(w2, c2);
            c3 = FloatVector.fromArray(W, x, x2 + i + 3 * WL).fma(w3, c3);
        }
        for (; i + WL <= k; i += WL) {
            FloatVector w0 = bf16ToF32(ShortVector.fromMemorySegment(WS, seg, off + 2L * i, LE));
            a0 = FloatVector.fromArray(W, x, xo + i).fma(w0, a0);
            b0 = FloatVector.fromArray(W, x, x1 + i).fma(w0, b0);
            c0 = FloatVector.fromArray(W, x, x2 + i).fma(w0, c0);
        }
        float sa = sumW(a0.add(a1).add(a2.add(a3))), sb = sumW(b0.add(b1).add(b2.add(b3))), sc = sumW(c0.add(c1).add(c2.add(c3)));
        for (; i < k; i++) {
            float wi = Float.intBitsToFloat((seg.get(I16, off + 2L * i) & 0xFFFF) << 16);
            sa = Math.fma(x[xo + i], wi, sa);
            sb = Math.fma(x[x1 + i], wi, sb);
            sc = Math.fma(x[x2 + i], wi, sc);
        }
        y[yo] = sa;
        y[yo + ldy] = sb;
        y[yo + 2 * ldy] = sc;
    }

    private static float dotF16(float[] x, int xo, int k, MemorySegment seg, long off) {
        FloatVector a0 = FloatVector.zero(W), a1 = a0, a2 = a0, a3 = a0;
        int i = 0;
        for (; i + 4 * WL <= k; i += 4 * WL) {
            long o = off + 2L * i;
            a0 = FloatVector.fromArray(W, x, xo + i).fma(f16ToF32(ShortVector.fromMemorySegment(WS, seg, o, LE)), a0);
            a1 = FloatVector.fromArray(W, x, xo + i + WL).fma(f16ToF32(ShortVector.fromMemorySegment(WS, seg, o + 2L * WL, LE)), a1);
            a2 = FloatVector.fromArray(W, x, xo + i + 2 * WL).fma(f16ToF32(ShortVector.fromMemorySegment(WS, seg, o + 4L * WL, LE)), a2);
            a3 = FloatVector.fromArray(W, x, xo + i + 3 * WL).fma(f16ToF32(ShortVector.fromMemorySegment(WS, seg, o + 6L * WL, LE)), a3);
        }
        for (; i + WL <= k; i += WL) {
            a0 = FloatVector.fromArray(W, x, xo + i).fma(f16ToF32(ShortVector.fromMemorySegment(WS, seg, off + 2L * i, LE)), a0);
        }
        float s = sumW(a0.add(a1).add(a2.add(a3)));
        for (; i < k; i++) s = Math.fma(x[xo + i], Float.float16ToFloat(seg.get(I16, off + 2L * i)), s);
        return s;
    }

    /** F32 rows: the scheme of the class comment with F's 8 lanes. */
    private static float dotF32(float[] x, int xo, int k, MemorySegment seg, long off) {
        FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0;
        int i = 0, l = F.length();
        for (; i + 4 * l <= k; i += 4 * l) {
            long o = off + 4L * i;
            a0 = FloatVector.fromArray(F, x, xo + i).fma(FloatVector.fromMemorySegment(F, seg, o, LE), a0);
            a1 = FloatVector.fromArray(F, x, xo + i + l).fma(FloatVector.fromMemorySegment(F, seg, o + 4L * l, LE), a1);
            a2 = FloatVector.fromArray(F, x, xo + i + 2 * l).fma(FloatVector.fromMemorySegment(F, seg, o + 8L * l, LE), a2);
            a3 = FloatVector.fromArray(F, x, xo + i + 3 * l).fma(FloatVector.fromMemorySegment(F, seg, o + 12L * l, LE), a3);
        }
        for (; i + l <= k; i += l) {
            a0 = FloatVector.fromArray(F, x, xo + i).fma(FloatVector.fromMemorySegment(F, seg, off + 4L * i, LE), a0);
        }
        float s = sum(a0.add(a1).add(a2.add(a3)));
        for (; i < k; i++) s = Math.fma(x[xo + i], seg.get(F32, off + 4L * i), s);
        return s;
    }

    /** Sum of W's lanes by a fixed pairwise tree (reduceLanes may reassociate differently when compiled). */
    private static float sumW(FloatVector v) {
        if (WL == 16) v = v.add(v.rearrange(W_SWAP8));
        v = v.add(v.rearrange(W_SWAP4));
        v = v.add(v.rearrange(W_SWAP2));
        v = v.add(v.rearrange(W_SWAP1));
        return v.lane(0);
    }

    /** Sum of the 8 lanes of an F vector in a fixed pairwise order. */
    static float sum(FloatVector v) {
        v = v.add(v.rearrange(SWAP4));
        v = v.add(v.rearrange(SWAP2));
        v = v.add(v.rearrange(SWAP1));
        return v.lane(0);
    }

    /** The dtypes the kernels read. */
    static boolean supports(DType d) { return d == DType.BF16 || d == DType.F16 || d == DType.F32; }
}
