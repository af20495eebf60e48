package dev.arbor.model;

import dev.arbor.format.DType;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorShuffle;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;

/**
 * The weights of one product (q, k and v stacked; gate and up, as pairs of panels, {@link #packPairs}; or one
 * weight alone), repacked once into the GEMM's micro-panels: NR output rows of W (columns of B = Wᵀ) a panel,
 * stored in groups of {@link #GROUP} panels side by side (the last group may hold fewer), one k step (a row of the
 * group) after another, so that a group is one contiguous run of memory. Prompts multiply them by
 * {@link Gemm#multiplyStacked(int, int, float[], int, int, PackedWeights, float[][], int[])}, which copies each panel
 * it needs out once per task instead of packing the weights on every call, and a decode row by
 * {@link #multiplyRow}, which streams whole groups and computes
 * exactly the GEMM's bits for that row (the same fused multiply-add chain per k block of {@link Gemm#KC}, the
 * blocks added in order): a token decoded alone equals the same token in a prompt or in a batch.
 *
 * <p>Why groups: a decode row keeps one multiply-add chain per vector of a row, and with one panel (2 chains) the
 * chains' latency, not memory, sets the pace. Reading a 200 MiB region on 2 threads (`ChainProbe`): F32 37 GB/s
 * with 2 chains, 44 with 4, 53 with 8; BF16 (as pairs, below) 29, 32, 35, and 16 chains no better. Four panels
 * give 8 chains.
 *
 * <p>BF16 weights stay BF16 and F32 weights F32 (F16 is not packed: {@link #supports}). A BF16 vector is loaded as
 * half a vector of shorts and put into the high halves of the floats (by a permute, or by an extension to ints and
 * a shift: {@link #PERMUTE_WIDEN}). Half-width loads read 31–35 GB/s, where one 64-byte load of two columns to an
 * int, split by a shift and a mask, read 26–28 (`ChainProbe`, the same run). The panels live off
 * the heap ({@link HugePages}), aligned: a vector load from a Java array straddles two cache lines, the array's
 * data starting 16 bytes into its object, and the same decode ran 11–24 % slower from arrays. Their owner's
 * arena frees them.
 */
final class PackedWeights {
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final VectorSpecies<Integer> SI = S.vectorShape().withLanes(int.class);
    private static final VectorSpecies<Short> SS = VectorSpecies.of(short.class, VectorShape.forBitSize(S.vectorBitSize() / 2));
    /** Shorts as wide as a float vector. */
    private static final VectorSpecies<Short> SW = VectorSpecies.of(short.class, S.vectorShape());
    /**
     * Widens a half-width load of bfloats, put in the low half of an SW vector (whose upper half is then zero), in
     * one permute: lane 2i+1, the high half of float i, takes bfloat i; lane 2i takes a zero from the upper half.
     */
    private static final VectorShuffle<Short> HIGH_HALVES = VectorShuffle.fromOp(SW, j -> (j & 1) == 1 ? j >> 1 : SW.length() / 2);
    /**
     * Whether decode widens BF16 by that permute rather than by an extension to ints and a shift. With 512-bit
     * vectors (AVX-512BW) the permute is one instruction (vpermw) where the other way takes two; with 256-bit ones
     * (AVX2) a permute of shorts takes several (switched in one JVM, decode ran 1.05 of the time). Both give the same
     * bits.
     */
    private static final boolean PERMUTE_WIDEN = SW.vectorBitSize() >= 512;
    private static final int V = S.length(), NR = Gemm.NR, KC = Gemm.KC;
    /** Panels stored side by side (the decode kernels hold GROUP·2 = 8 vectors). */
    static final int GROUP = 4;
    private static final ByteOrder NATIVE = ByteOrder.nativeOrder();
    /** The runs of groups a decode step shares out over a pool of that many threads ({@link #runStarts}). */
    private record Runs(int threads, int[] starts) {}
    private volatile Runs runs;

    /** The weights packed here, in order. */
    private final Weight[] sources;
    private final int k;
    private final int[] n;
    private final int panelCount, groups;
    private final boolean bf16;
    /** Gate and up weights packed as pairs of panels, for the products that end in SwiGLU ({@link #packPairs}). */
    private final boolean pairs;
    private final MemorySegment data;
    /** Product and first output column of each panel. */
    private final int[] productOf, col0;
    /**
     * The weights a decode step multiplies next, as last seen ({@link CpuBackend} records the order): a thread that
     * runs out of groups before the others loads their first bytes ({@link #warm}). Null until known.
     */
    private volatile PackedWeights next;

    private PackedWeights(Weight[] sources, int k, int[] n, boolean bf16, boolean pairs, Arena arena) {
        this.sources = sources;
        this.k = k;
        this.n = n;
        this.bf16 = bf16;
        this.pairs = pairs;
        int panels = 0;
        for (int rows : n) panels += Math.ceilDiv(rows, NR);
        panelCount = panels;
        groups = Math.ceilDiv(panels, GROUP);
        productOf = new int[panels];
        col0 = new int[panels];
        if (pairs) {   // gate panel i, then up panel i: a pair is the same NR columns of both
            for (int g = 0; g < panels; g++) {
                productOf[g] = g % 2;
                col0[g] = g / 2 * NR;
            }
        } else {
            for (int j = 0, g = 0; j < n.length; j++) {
                for (int c = 0; c < n[j]; c += NR, g++) {
                    productOf[g] = j;
                    col0[g] = c;
                }
            }
        }
        // the last group may hold fewer panels: its rows are narrower, so no padding is stored or read
        data = HugePages.allocate((long) panels * NR * k * elementBytes(), arena);
    }

    /** Whether these weights (one product's) can be packed: all BF16 or all F32, one column count. */
    static boolean supports(Weight[] ws) {
        DType d = ws[0].dtype();
        if (d != DType.BF16 && d != DType.F32) return false;
        for (Weight w : ws) if (w.dtype() != d || w.cols() != ws[0].cols()) return false;
        return true;
    }

    /**
     * Packs the weights of one product (see {@link #supports}) into memory of the arena (shared, as the pool's
     * threads read it), groups shared out over the pool.
     */
    static PackedWeights pack(Weight[] ws, WorkerPool pool, Arena arena) {
        return pack(ws, false, pool, arena);
    }

    /**
     * Packs an MLP's gate and up weights (see {@link #supports}, same shape) as pairs of panels, gate panel i next to
     * up panel i, so that whoever computes one pair's outputs has both halves of their SwiGLU:
     * {@link Gemm#multiplySwiGLU} and {@link #multiplyRowSwiGLU} write z = silu(gate)·up directly.
     */
    static PackedWeights packPairs(Weight gate, Weight up, WorkerPool pool, Arena arena) {
        if (gate.rows() != up.rows()) throw new IllegalArgumentException("gate and up weights of different shapes");
        return pack(new Weight[]{gate, up}, true, pool, arena);
    }

    private static PackedWeights pack(Weight[] ws, boolean pairs, WorkerPool pool, Arena arena) {
        if (!supports(ws)) throw new IllegalArgumentException("only BF16 or F32 weights with one column count are packed");
        int k = ws[0].cols();
        int[] n = Arrays.stream(ws).mapToInt(Weight::rows).toArray();
        PackedWeights pw = new PackedWeights(ws.clone(), k, n, ws[0].dtype() == DType.BF16, pairs, arena);
        int size = NR * k, groupSize = GROUP * NR * k;
        boolean bf16 = pw.bf16;
        float[][] rows = new float[pool.threads()][bf16 ? 0 : size], group = new float[pool.threads()][bf16 ? 0 : groupSize];
        short[][] rows16 = new short[pool.threads()][bf16 ? size : 0], group16 = new short[pool.threads()][bf16 ? groupSize : 0];
        pool.run(pw.groups, (gr, t) -> pw.packGroup(ws, gr, rows[t], group[t], rows16[t], group16[t]));
        return pw;
    }

    /** Group gr: each panel's NR rows of W copied out, transposed into the group's rows, the group copied into place. */
    private void packGroup(Weight[] ws, int gr, float[] rows, float[] group, short[] rows16, short[] group16) {
        int width = panelsIn(gr) * NR;
        for (int s = 0; s < panelsIn(gr); s++) {
            int g = gr * GROUP + s;
            Weight w = ws[productOf[g]];
            int cols = Math.min(NR, w.rows() - col0[g]);
            long from = (long) col0[g] * k * elementBytes();
            if (bf16) {
                MemorySegment.copy(w.data(), I16, from, rows16, 0, cols * k);
                Arrays.fill(rows16, cols * k, NR * k, (short) 0);
            } else {
                MemorySegment.copy(w.data(), F32, from, rows, 0, cols * k);
                Arrays.fill(rows, cols * k, NR * k, 0f);
            }
            // in blocks of 16 k steps, so that the group rows written stay in L1
            for (int p0 = 0; p0 < k; p0 += 16) {
                int p1 = Math.min(k, p0 + 16);
                for (int c = 0; c < NR; c++) {
                    int dst = p0 * width + s * NR + c;
                    if (bf16) for (int p = p0, src = c * k + p0; p < p1; p++, src++, dst += width) group16[dst] = rows16[src];
                    else for (int p = p0, src = c * k + p0; p < p1; p++, src++, dst += width) group[dst] = rows[src];
                }
            }
        }
        long at = offset(gr * GROUP, 0);
        if (bf16) MemorySegment.copy(group16, 0, data, ValueLayout.JAVA_SHORT, at, width * k);
        else MemorySegment.copy(group, 0, data, ValueLayout.JAVA_FLOAT, at, width * k);
    }

    private static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    int k() { return k; }

    /** Output rows of each product. */
    int[] rows() { return n.clone(); }

    int panelCount() { return panelCount; }

    /** Whether these are gate and up weights packed as pairs ({@link #packPairs}). */
    boolean pairs() { return pairs; }

    /** The product panel g belongs to. */
    int productOf(int g) { return productOf[g]; }

    /** The first output column of panel g (in its product). */
    int col0(int g) { return col0[g]; }

    boolean bf16() { return bf16; }

    MemorySegment data() { return data; }

    /** The weights packed here (q, k and v; gate and up; or one weight). */
    List<Weight> sources() { return List.of(sources); }

    long byteSize() { return data.byteSize(); }

    private int elementBytes() { return bf16 ? 2 : 4; }

    /** Panels in group gr: GROUP, but the last group may hold fewer. */
    private int panelsIn(int gr) { return Math.min(GROUP, panelCount - gr * GROUP); }

    /** Bytes from one k step of panel g to the next: a row of its group. */
    long rowStride(int g) { return (long) panelsIn(g / GROUP) * NR * elementBytes(); }

    /** Byte offset of panel g's k block from pc. */
    long offset(int g, int pc) {
        return groupStart(g / GROUP) + pc * rowStride(g) + (long) (g % GROUP) * NR * elementBytes();
    }

    /** Byte offset of group gr (for gr = groups: the end of the weights when the last group is whole). */
    private long groupStart(int gr) { return (long) gr * GROUP * NR * k * elementBytes(); }

    /** Rows [pc, pc+kc) of panel g copied into dst (NR floats a row; BF16 widened), for the GEMM's micro-kernel. */
    void copyPanel(int g, int pc, int kc, float[] dst) {
        long at = offset(g, pc), stride = rowStride(g);
        if (!bf16) {
            // vector copies: MemorySegment.copy of 128 bytes a row spent most of its time checking alignment
            for (int p = 0; p < kc; p++, at += stride) {
                FloatVector.fromMemorySegment(S, data, at, NATIVE).intoArray(dst, p * NR);
                FloatVector.fromMemorySegment(S, data, at + 4 * V, NATIVE).intoArray(dst, p * NR + V);
            }
            return;
        }
        for (int p = 0; p < kc; p++, at += stride) {
            ((IntVector) ShortVector.fromMemorySegment(SS, data, at, NATIVE).convertShape(VectorOperators.S2I, SI, 0))
                    .lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().intoArray(dst, p * NR);
            ((IntVector) ShortVector.fromMemorySegment(SS, data, at + 2 * V, NATIVE).convertShape(VectorOperators.S2I, SI, 0))
                    .lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().intoArray(dst, p * NR + V);
        }
    }

    /**
     * y_j[yOff_j …] = W_j·x[xOff …] for one row x, on the pool: the bits {@link Gemm#multiplyStacked(int, int,
     * float[], int, int, PackedWeights, float[][], int[])} gives that row. out holds GROUP·NR floats per thread.
     */
    void multiplyRow(float[] x, int xOff, float[][] y, int[] yOff, WorkerPool pool, float[][] out) {
        if (pairs) throw new IllegalStateException("gate and up weights packed as pairs are multiplied by multiplyRowSwiGLU");
        for (int j = 0; j < n.length; j++) Objects.checkFromIndexSize(yOff[j], n[j], y[j].length);
        multiplyRow(x, xOff, y, yOff, null, 0, null, pool, out);
    }

    /**
     * z[zOff …] = silu(x·W_gateᵀ) ⊙ (x·W_upᵀ) (⊙ mask, if not null) for one row x, for weights packed by
     * {@link #packPairs}: the bits of {@link #multiplyRow} followed by {@link Ops#swiglu}.
     */
    void multiplyRowSwiGLU(float[] x, int xOff, float[] z, int zOff, float[] mask, WorkerPool pool, float[][] out) {
        if (!pairs) throw new IllegalStateException("only gate and up weights packed as pairs give SwiGLU");
        Objects.checkFromIndexSize(zOff, n[0], z.length);
        if (mask != null) Objects.checkFromIndexSize(0, n[0], mask.length);
        multiplyRow(x, xOff, null, null, z, zOff, mask, pool, out);
    }

    /** Records the weights a decode step multiplies after these (see {@link #warm}). */
    void setNext(PackedWeights next) { this.next = next; }

    /** Bytes of the next product's weights a thread loads while it waits for the others: half its L2 or so. */
    private static final long WARM_BYTES = 512 << 10;
    /** Bytes a piece of warming loads: short, as the thread checks between pieces whether the job is done. */
    private static final int WARM_PIECE = 4096;
    /** Keeps the JIT from dropping the warming loads. */
    private static volatile long warmSink;

    /**
     * Loads piece `piece` ({@link #WARM_PIECE} bytes) of the weights that thread `thread` will most likely read first
     * when these weights are next multiplied by {@link #multiplyRow}: one 8-byte load a cache line, so that the lines
     * are in this core's caches when the kernel reads them. A thread posting a job takes its run 0 at once and the
     * other thread run 1, so thread t warms run t, up to {@link #WARM_BYTES}. False when the share is loaded.
     *
     * <p>Why: at the end of every decode product one thread waits for the other's last group (a token of smol bf16
     * runs 161 jobs, and this wait added up to 1.3–3.5 ms of its 16.8–21), and each product's first loads start from cold.
     * Loading the next product's first bytes in that wait costs no bandwidth the product needs: one thread alone
     * reads at about half the machine's bandwidth.
     */
    boolean warm(int thread, int piece) {
        Runs r0 = runs;   // the runs of the last multiplyRow, made for its pool's thread count
        if (r0 == null) return false;
        int[] starts = r0.starts;
        int lead = narrowFirst();
        long from, to;
        if (thread < lead) {
            from = groupStart(groups - 1);
            to = data.byteSize();
        } else {
            int r = thread - lead;
            if (r + 1 >= starts.length) return false;
            from = groupStart(starts[r]);
            to = groupStart(starts[r + 1]);   // a narrow last group is not in starts, so this is within the weights
        }
        long at = from + (long) piece * WARM_PIECE;
        if (at >= to || (long) piece * WARM_PIECE >= WARM_BYTES) return false;
        long end = Math.min(to, at + WARM_PIECE), sum = 0;
        for (long o = at; o < end; o += 64) sum += data.get(ValueLayout.JAVA_LONG_UNALIGNED, o);
        warmSink += sum;
        return true;
    }

    private void multiplyRow(float[] x, int xOff, float[][] y, int[] yOff, float[] z, int zOff, float[] mask, WorkerPool pool,
                             float[][] out) {
        Objects.checkFromIndexSize(xOff, k, x.length);
        int[] starts = runStarts(pool.threads());
        int lead = narrowFirst();   // run 0 is then the narrow last group
        PackedWeights then = next;
        pool.run(lead + starts.length - 1, (run, t) -> {
            float[] o = out[t];
            int from = run < lead ? groups - 1 : starts[run - lead], to = run < lead ? groups : starts[run - lead + 1];
            for (int gr = from; gr < to; gr++) {
                if (panelsIn(gr) == GROUP) {
                    if (bf16 && PERMUTE_WIDEN) groupRowBf16Permuted(k, x, xOff, data, offset(gr * GROUP, 0), o);
                    else if (bf16) groupRowBf16(k, x, xOff, data, offset(gr * GROUP, 0), o);
                    else groupRow(k, x, xOff, data, offset(gr * GROUP, 0), o);
                } else {
                    for (int g = gr * GROUP; g < panelCount; g++) {
                        if (bf16 && PERMUTE_WIDEN) panelRowBf16Permuted(k, x, xOff, data, offset(g, 0), rowStride(g), o, (g - gr * GROUP) * NR);
                        else if (bf16) panelRowBf16(k, x, xOff, data, offset(g, 0), rowStride(g), o, (g - gr * GROUP) * NR);
                        else panelRow(k, x, xOff, data, offset(g, 0), rowStride(g), o, (g - gr * GROUP) * NR);
                    }
                }
                int last = Math.min(panelCount, (gr + 1) * GROUP);
                if (z != null) {   // pairs: a group holds whole pairs (GROUP is even)
                    for (int g = gr * GROUP; g < last; g += 2) {
                        int at = (g - gr * GROUP) * NR;
                        Ops.swiglu(o, at, o, at + NR, z, zOff + col0[g], Math.min(NR, n[0] - col0[g]), mask, col0[g]);
                    }
                } else {
                    for (int g = gr * GROUP; g < last; g++) {
                        int j = productOf[g];
                        System.arraycopy(o, (g - gr * GROUP) * NR, y[j], yOff[j] + col0[g], Math.min(NR, n[j] - col0[g]));
                    }
                }
            }
        }, then == null ? null : then::warm);
    }

    /**
     * 1 when the last group is narrower than GROUP, else 0: such a group (read a panel at a time, two chains, at about
     * half a group's speed) is a decode product's first run, on its own, so that it overlaps the other thread's first
     * long run instead of ending the product. Placed last, it was the product's tail whenever a thread drew it
     * (smol's q/k/v, o and down all end in a group of two panels). Products of smol's shapes, bf16, 2 threads, the
     * same packed weights with the narrow group last and first, alternating (`NarrowAB`, medians of 21 rounds, three
     * runs): down 960×2560 0.97, 0.95, 0.88 of the time; q/k/v 1600×960 0.97, 0.97, 0.99; o 960×960 0.97, 0.96, 0.98;
     * bsmall's down (no narrow group) 1.02, 0.99, 1.02. A whole smol bf16 decode, the order toggled in one model
     * (`NfToggle`, 20 rounds of 64 tokens, three runs): 1.008, 1.021, 0.996 of the time, inside that probe's noise.
     */
    private int narrowFirst() { return panelsIn(groups - 1) < GROUP ? 1 : 0; }

    /** {@link #runStarts(int, int)} for these weights' groups but a narrow last one, made once per thread count. */
    private int[] runStarts(int threads) {
        Runs r = runs;
        if (r == null || r.threads != threads) runs = r = new Runs(threads, runStarts(groups - narrowFirst(), threads));
        return r.starts;
    }

    /**
     * The first group of each run a decode step's threads claim, then the group count: runs that shrink as the work
     * runs out ({@link WorkerPool#shrinkingShare}, down to one group), so that each thread streams long runs first and
     * the threads finish within about one group of each other. Even runs (four a thread) left a thread idle for up to a
     * run at the end of every product: `AbDecode`, both builds in one JVM, 16 rounds, both orders, ms a token: bsmall
     * 4.69 → 4.49, 5.36 → 4.95, 5.49 → 5.21, 5.98 → 5.47; smol bf16 17.85 → 17.06, 18.58 → 17.53.
     */
    static int[] runStarts(int groups, int threads) {
        int[] s = new int[groups + 1];
        int n = 0;
        for (int at = 0; at < groups; n++) {
            s[n] = at;
            at += WorkerPool.shrinkingShare(groups - at, threads);
        }
        s[n] = groups;
        return Arrays.copyOf(s, n + 1);
    }

    /**
     * One row against one F32 group (contiguous from byte bo): GROUP·NR results into out, one chain per vector and
     * k block, each block's sums added to out from 0, as the GEMM adds its first tile to a zero C.
     */
    private static void groupRow(int k, float[] x, int xo, MemorySegment b, long bo, float[] out) {
        Arrays.fill(out, 0, GROUP * NR, 0f);
        for (int pc = 0; pc < k; pc += KC) {
            int kc = Math.min(KC, k - pc);
            FloatVector t0 = FloatVector.zero(S), t1 = t0, t2 = t0, t3 = t0, t4 = t0, t5 = t0, t6 = t0, t7 = t0;
            for (int p = 0; p < kc; p++) {
                // the offset from p, not a running sum (here and in every decode kernel below): C2 then checks the
                // loads' bounds once, before the loop, instead of at every load (four instructions each); tiny bf16,
                // whose weights sit in caches, decoded 1.18× as fast, the DRAM-bound models the same within the noise
                long at = bo + (long) p * (GROUP * NR * 4L);
                FloatVector xb = FloatVector.broadcast(S, x[xo + pc + p]);
                t0 = FloatVector.fromMemorySegment(S, b, at, NATIVE).fma(xb, t0);
                t1 = FloatVector.fromMemorySegment(S, b, at + 4 * V, NATIVE).fma(xb, t1);
                t2 = FloatVector.fromMemorySegment(S, b, at + 8 * V, NATIVE).fma(xb, t2);
                t3 = FloatVector.fromMemorySegment(S, b, at + 12 * V, NATIVE).fma(xb, t3);
                t4 = FloatVector.fromMemorySegment(S, b, at + 16 * V, NATIVE).fma(xb, t4);
                t5 = FloatVector.fromMemorySegment(S, b, at + 20 * V, NATIVE).fma(xb, t5);
                t6 = FloatVector.fromMemorySegment(S, b, at + 24 * V, NATIVE).fma(xb, t6);
                t7 = FloatVector.fromMemorySegment(S, b, at + 28 * V, NATIVE).fma(xb, t7);
            }
            bo += (long) kc * (GROUP * NR * 4L);
            // out += t, written out: as a method taking the eight vectors, C2 sometimes declines to inline it
            // (NodeCountInliningCutoff) and boxes them, and decode ran 3-4x slower in those JVMs
            FloatVector.fromArray(S, out, 0).add(t0).intoArray(out, 0);
            FloatVector.fromArray(S, out, V).add(t1).intoArray(out, V);
            FloatVector.fromArray(S, out, 2 * V).add(t2).intoArray(out, 2 * V);
            FloatVector.fromArray(S, out, 3 * V).add(t3).intoArray(out, 3 * V);
            FloatVector.fromArray(S, out, 4 * V).add(t4).intoArray(out, 4 * V);
            FloatVector.fromArray(S, out, 5 * V).add(t5).intoArray(out, 5 * V);
            FloatVector.fromArray(S, out, 6 * V).add(t6).intoArray(out, 6 * V);
            FloatVector.fromArray(S, out, 7 * V).add(t7).intoArray(out, 7 * V);
        }
    }

    /** One row against one BF16 group. */
    static void groupRowBf16(int k, float[] x, int xo, MemorySegment b, long bo, float[] out) {
        Arrays.fill(out, 0, GROUP * NR, 0f);
        for (int pc = 0; pc < k; pc += KC) {
            int kc = Math.min(KC, k - pc);
            FloatVector t0 = FloatVector.zero(S), t1 = t0, t2 = t0, t3 = t0, t4 = t0, t5 = t0, t6 = t0, t7 = t0;
            for (int p = 0; p < kc; p++) {
                long at = bo + (long) p * (GROUP * NR * 2L);
                // bfloats widened in place: a bfloat is the high half of its float (written out, as a helper
                // method is not always inlined here, and then boxes its vectors: 5x slower)
                FloatVector xb = FloatVector.broadcast(S, x[xo + pc + p]);
                t0 = ((IntVector) ShortVector.fromMemorySegment(SS, b, at, NATIVE).convertShape(VectorOperators.S2I, SI, 0))
                        .lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(xb, t0);
                t1 = ((IntVector) ShortVector.fromMemorySegment(SS, b, at + 2 * V, NATIVE).convertShape(VectorOperators.S2I, SI, 0))
                        .lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(xb, t1);
                t2 = ((IntVector) ShortVector.fromMemorySegment(SS, b, at + 4 * V, NATIVE).convertShape(VectorOperators.S2I, SI, 0))
                        .lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(xb, t2);
                t3 = ((IntVector) ShortVector.fromMemorySegment(SS, b, at + 6 * V, NATIVE).convertShape(VectorOperators.S2I, SI, 0))
                        .lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(xb, t3);
                t4 = ((IntVector) ShortVector.fromMemorySegment(SS, b, at + 8 * V, NATIVE).convertShape(VectorOperators.S2I, SI, 0))
                        .lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(xb, t4);
                t5 = ((IntVector) ShortVector.fromMemorySegment(SS, b, at + 10 * V, NATIVE).convertShape(VectorOperators.S2I, SI, 0))
                        .lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(xb, t5);
                t6 = ((IntVector) ShortVector.fromMemorySegment(SS, b, at + 12 * V, NATIVE).convertShape(VectorOperators.S2I, SI, 0))
                        .lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(xb, t6);
                t7 = ((IntVector) ShortVector.fromMemorySegment(SS, b, at + 14 * V, NATIVE).convertShape(VectorOperators.S2I, SI, 0))
                        .lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(xb, t7);
            }
            bo += (long) kc * (GROUP * NR * 2L);
            // out += t, written out as in groupRow
            FloatVector.fromArray(S, out, 0).add(t0).intoArray(out, 0);
            FloatVector.fromArray(S, out, V).add(t1).intoArray(out, V);
            FloatVector.fromArray(S, out, 2 * V).add(t2).intoArray(out, 2 * V);
            FloatVector.fromArray(S, out, 3 * V).add(t3).intoArray(out, 3 * V);
            FloatVector.fromArray(S, out, 4 * V).add(t4).intoArray(out, 4 * V);
            FloatVector.fromArray(S, out, 5 * V).add(t5).intoArray(out, 5 * V);
            FloatVector.fromArray(S, out, 6 * V).add(t6).intoArray(out, 6 * V);
            FloatVector.fromArray(S, out, 7 * V).add(t7).intoArray(out, 7 * V);
        }
    }

    /**
     * {@link #groupRowBf16}, widening each bfloat by a permute ({@link #HIGH_HALVES}): the same bits, one instruction
     * fewer a vector. In L2 it reads 79–88 GB/s a thread against 66–75 (`KProbe3`); from DRAM the two stream at the same
     * speed, and whole bench runs of the DRAM-bound models did not tell them apart (in one JVM, switching between the
     * two made the permute look 0.88 of the time, which other JVMs did not reproduce: see BENCHMARKS.md, session 20).
     */
    static void groupRowBf16Permuted(int k, float[] x, int xo, MemorySegment b, long bo, float[] out) {
        Arrays.fill(out, 0, GROUP * NR, 0f);
        for (int pc = 0; pc < k; pc += KC) {
            int kc = Math.min(KC, k - pc);
            FloatVector t0 = FloatVector.zero(S), t1 = t0, t2 = t0, t3 = t0, t4 = t0, t5 = t0, t6 = t0, t7 = t0;
            for (int p = 0; p < kc; p++) {
                long at = bo + (long) p * (GROUP * NR * 2L);
                // bfloats widened in place: a bfloat is the high half of its float (written out, as a helper
                // method is not always inlined here, and then boxes its vectors: 5x slower)
                FloatVector xb = FloatVector.broadcast(S, x[xo + pc + p]);
                t0 = ((ShortVector) ShortVector.fromMemorySegment(SS, b, at, NATIVE).reinterpretShape(SW, 0))
                        .rearrange(HIGH_HALVES).reinterpretAsFloats().fma(xb, t0);
                t1 = ((ShortVector) ShortVector.fromMemorySegment(SS, b, at + 2 * V, NATIVE).reinterpretShape(SW, 0))
                        .rearrange(HIGH_HALVES).reinterpretAsFloats().fma(xb, t1);
                t2 = ((ShortVector) ShortVector.fromMemorySegment(SS, b, at + 4 * V, NATIVE).reinterpretShape(SW, 0))
                        .rearrange(HIGH_HALVES).reinterpretAsFloats().fma(xb, t2);
                t3 = ((ShortVector) ShortVector.fromMemorySegment(SS, b, at + 6 * V, NATIVE).reinterpretShape(SW, 0))
                        .rearrange(HIGH_HALVES).reinterpretAsFloats().fma(xb, t3);
                t4 = ((ShortVector) ShortVector.fromMemorySegment(SS, b, at + 8 * V, NATIVE).reinterpretShape(SW, 0))
                        .rearrange(HIGH_HALVES).reinterpretAsFloats().fma(xb, t4);
                t5 = ((ShortVector) ShortVector.fromMemorySegment(SS, b, at + 10 * V, NATIVE).reinterpretShape(SW, 0))
                        .rearrange(HIGH_HALVES).reinterpretAsFloats().fma(xb, t5);
                t6 = ((ShortVector) ShortVector.fromMemorySegment(SS, b, at + 12 * V, NATIVE).reinterpretShape(SW, 0))
                        .rearrange(HIGH_HALVES).reinterpretAsFloats().fma(xb, t6);
                t7 = ((ShortVector) ShortVector.fromMemorySegment(SS, b, at + 14 * V, NATIVE).reinterpretShape(SW, 0))
                        .rearrange(HIGH_HALVES).reinterpretAsFloats().fma(xb, t7);
            }
            bo += (long) kc * (GROUP * NR * 2L);
            // out += t, written out as in groupRow
            FloatVector.fromArray(S, out, 0).add(t0).intoArray(out, 0);
            FloatVector.fromArray(S, out, V).add(t1).intoArray(out, V);
            FloatVector.fromArray(S, out, 2 * V).add(t2).intoArray(out, 2 * V);
            FloatVector.fromArray(S, out, 3 * V).add(t3).intoArray(out, 3 * V);
            FloatVector.fromArray(S, out, 4 * V).add(t4).intoArray(out, 4 * V);
            FloatVector.fromArray(S, out, 5 * V).add(t5).intoArray(out, 5 * V);
            FloatVector.fromArray(S, out, 6 * V).add(t6).intoArray(out, 6 * V);
            FloatVector.fromArray(S, out, 7 * V).add(t7).intoArray(out, 7 * V);
        }
    }

    /**
     * One row against one F32 panel of a group narrower than GROUP (rows stride bytes apart): NR results into out
     * from off, in the order of {@link #groupRow}. Two chains only, but such a group is a product's last.
     */
    private static void panelRow(int k, float[] x, int xo, MemorySegment b, long bo, long stride, float[] out, int off) {
        FloatVector acc0 = FloatVector.zero(S), acc1 = acc0;
        for (int pc = 0; pc < k; pc += KC) {
            int kc = Math.min(KC, k - pc);
            FloatVector t0 = FloatVector.zero(S), t1 = t0;
            for (int p = 0; p < kc; p++) {
                long at = bo + (long) p * stride;
                FloatVector xb = FloatVector.broadcast(S, x[xo + pc + p]);
                t0 = FloatVector.fromMemorySegment(S, b, at, NATIVE).fma(xb, t0);
                t1 = FloatVector.fromMemorySegment(S, b, at + 4 * V, NATIVE).fma(xb, t1);
            }
            bo += (long) kc * stride;
            acc0 = acc0.add(t0);
            acc1 = acc1.add(t1);
        }
        acc0.intoArray(out, off);
        acc1.intoArray(out, off + V);
    }

    /** {@link #panelRow} for a BF16 panel. */
    static void panelRowBf16(int k, float[] x, int xo, MemorySegment b, long bo, long stride, float[] out, int off) {
        FloatVector acc0 = FloatVector.zero(S), acc1 = acc0;
        for (int pc = 0; pc < k; pc += KC) {
            int kc = Math.min(KC, k - pc);
            FloatVector t0 = FloatVector.zero(S), t1 = t0;
            for (int p = 0; p < kc; p++) {
                long at = bo + (long) p * stride;
                FloatVector xb = FloatVector.broadcast(S, x[xo + pc + p]);
                t0 = ((IntVector) ShortVector.fromMemorySegment(SS, b, at, NATIVE).convertShape(VectorOperators.S2I, SI, 0))
                        .lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(xb, t0);
                t1 = ((IntVector) ShortVector.fromMemorySegment(SS, b, at + 2 * V, NATIVE).convertShape(VectorOperators.S2I, SI, 0))
                        .lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(xb, t1);
            }
            bo += (long) kc * stride;
            acc0 = acc0.add(t0);
            acc1 = acc1.add(t1);
        }
        acc0.intoArray(out, off);
        acc1.intoArray(out, off + V);
    }

    /** {@link #panelRowBf16}, widening by permutes as {@link #groupRowBf16Permuted} does. */
    static void panelRowBf16Permuted(int k, float[] x, int xo, MemorySegment b, long bo, long stride, float[] out, int off) {
        FloatVector acc0 = FloatVector.zero(S), acc1 = acc0;
        for (int pc = 0; pc < k; pc += KC) {
            int kc = Math.min(KC, k - pc);
            FloatVector t0 = FloatVector.zero(S), t1 = t0;
            for (int p = 0; p < kc; p++) {
                long at = bo + (long) p * stride;
                FloatVector xb = FloatVector.broadcast(S, x[xo + pc + p]);
                t0 = ((ShortVector) ShortVector.fromMemorySegment(SS, b, at, NATIVE).reinterpretShape(SW, 0))
                        .rearrange(HIGH_HALVES).reinterpretAsFloats().fma(xb, t0);
                t1 = ((ShortVector) ShortVector.fromMemorySegment(SS, b, at + 2 * V, NATIVE).reinterpretShape(SW, 0))
                        .rearrange(HIGH_HALVES).reinterpretAsFloats().fma(xb, t1);
            }
            bo += (long) kc * stride;
            acc0 = acc0.add(t0);
            acc1 = acc1.add(t1);
        }
        acc0.intoArray(out, off);
        acc1.intoArray(out, off + V);
    }
}
