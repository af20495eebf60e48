package dev.arbor.model;

import dev.arbor.format.DType;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * {@link Backend} on the CPU: Vector API kernels on all threads of a private pool. BF16 and F32
 * weights are repacked at their first use into the GEMM's panels ({@link PackedWeights}, the same
 * bytes as stored); then several rows go through the GEMM and a single decode row through
 * {@link PackedWeights#multiplyRow}, with the same bits. F16 weights stay in place: prompt segments
 * go through the GEMM (widened and packed per product), decode rows through the Matmul kernels.
 * Attention runs in units of up to eight queries that share the cache they read (see
 * {@link #attention}); a prompt's per-row steps are shared out by rows ({@link #forRows}).
 */
final class CpuBackend implements Backend {
    /**
     * The threads every job runs on, the GEMM's included: one set, so that no idle thread of a
     * second pool spins for CPU time while the other works (this machine has two cores).
     */
    private final WorkerPool pool;
    /** Matrix-matrix products (packed GEMM). */
    private final Gemm gemm;
    /** Per-thread buffers: widened weight rows for Matmul's tiles and attention scores. */
    private final float[][] scratch, scores;
    /** A whole F16 weight widened to F32 for the GEMM, reused between products. */
    private float[] widened;
    /** Each product's weights packed at first use (keyed by the product's first weight), empty where not packed. */
    private final Map<Weight, Optional<PackedWeights>> packedWeights = new IdentityHashMap<>();
    /** Gate and up weights packed as pairs for {@link #linearSwiGLU} (keyed by the gate weight; guarded by packedWeights). */
    private final Map<Weight, Optional<PackedWeights>> pairedWeights = new IdentityHashMap<>();
    /** Holds the packed weights; closed with this backend, which frees them. */
    private final Arena packedArena = Arena.ofShared();
    /** Per-thread output panel of a decode row. */
    private final float[][] rowOut;
    /**
     * Whether BF16/F32 weights are repacked. Repacking copies the weights once, which a long-running user earns
     * back and a one-shot command does not (fresh memory costs ~2 s a GB to fault in on the development VM; see
     * {@link LlamaModel#loadForOneShot}).
     */
    private final boolean repack;

    /** Whether weights are repacked unless a caller says otherwise: yes, but for ARBOR_REPACK=0. */
    static final boolean REPACK_BY_DEFAULT = repack(true);

    /**
     * Whether to repack: ARBOR_REPACK=0 never, ARBOR_REPACK=1 always, and otherwise as the caller wants (a
     * long-running user yes, a one-shot command no: see {@link LlamaModel#loadForOneShot}).
     */
    static boolean repack(boolean wanted) {
        String v = System.getenv("ARBOR_REPACK");
        return v == null || v.isBlank() ? wanted : !"0".equals(v.strip());
    }

    CpuBackend(int threads) {
        this(threads, REPACK_BY_DEFAULT);
    }

    /** Whether BF16/F32 weights are repacked at their first use. */
    boolean repacks() { return repack; }

    /** With repack false, BF16 and F32 weights are read in place as F16 ones are. */
    CpuBackend(int threads, boolean repack) {
        this.repack = repack;
        pool = new WorkerPool(threads);
        gemm = new Gemm(pool);
        scratch = new float[threads][0];
        scores = new float[threads][0];
        unitScratch = new int[threads][2 * UNIT];
        rowOut = new float[threads][PackedWeights.GROUP * Gemm.NR];
    }

    @Override public int threads() { return pool.threads(); }

    /** The packed weights of the last decode row's product (see {@link #decodeOrder}). */
    private PackedWeights lastDecoded;

    /**
     * Records that pw follows the last decode product, so that threads idle at the end of that product warm pw's
     * first weights ({@link PackedWeights#warm}). Decode runs the same products in the same order every token (the
     * LM head is followed by the first layer's q/k/v), so the order seen in one token is the next token's.
     */
    private void decodeOrder(PackedWeights pw) {
        if (lastDecoded != null && lastDecoded != pw) lastDecoded.setNext(pw);
        lastDecoded = pw;
    }

    /**
     * y_j = x·W_jᵀ for each weight. The weights of one call (q, k and v; gate and up) are one product,
     * so the pool shares out all their columns at once. Packed weights: every row through the GEMM, or
     * a lone row through {@link PackedWeights#multiplyRow}. F16: prompt segments by GEMM and decode
     * rows by Matmul (see RowPlan); segments shorter than {@link #gemmMinRows} go with the decode rows,
     * since the GEMM widens and packs the whole weight whatever the row count.
     */
    @Override public void linear(float[] x, int rows, Weight[] ws, float[][] ys, RowPlan plan) {
        PackedWeights pw = packed(ws);
        if (pw != null) {
            // a row's result depends neither on the other rows nor on which of the two computes it
            int[] at = new int[ws.length];
            if (rows == 1) {
                decodeOrder(pw);
                pw.multiplyRow(x, 0, ys, at, pool, rowOut);
            } else gemm.multiplyStacked(rows, pw.k(), x, 0, pw.k(), pw, ys, at);
            return;
        }
        int minRows = gemmMinRows(ws[0].dtype());
        int[] small = plan.rowsOutside(minRows);
        if (small.length == rows) {   // no segment worth the GEMM (decode steps, short prompts): rows in order
            linear(x, rows, ws, ys);
            return;
        }
        int k = ws[0].cols();
        int[] n = new int[ws.length], cOff = new int[ws.length];
        for (int j = 0; j < ws.length; j++) n[j] = ws[j].rows();
        float[] wf = widenAll(ws);
        for (int s = 0; s < plan.segStart().length; s++) {
            if (plan.segLen()[s] < minRows) continue;
            int r0 = plan.segStart()[s];
            for (int j = 0; j < ws.length; j++) cOff[j] = r0 * n[j];
            gemm.multiplyStacked(plan.segLen()[s], k, x, r0 * k, k, wf, n, ys, cOff);
        }
        int dec = small.length;
        if (dec == 0) return;
        // The other rows: gathered, multiplied by the Matmul kernels, scattered back.
        float[] xd = new float[dec * k];
        for (int i = 0; i < dec; i++) System.arraycopy(x, small[i] * k, xd, i * k, k);
        float[][] yd = new float[ws.length][];
        for (int j = 0; j < ws.length; j++) yd[j] = new float[dec * ws[j].rows()];
        linear(xd, dec, ws, yd);
        for (int j = 0; j < ws.length; j++) {
            for (int i = 0; i < dec; i++) System.arraycopy(yd[j], i * n[j], ys[j], small[i] * n[j], n[j]);
        }
    }

    /**
     * A prompt's MLP on packed weights goes through {@link Gemm#multiplyMlp}, which hands SwiGLU's output to the down
     * product already packed (z then holds it in that layout); decode rows and weights that are not packed take the
     * two products one after the other. A 512-token prompt, the two ways alternating in one model (`MlpToggle`, 20
     * rounds): 0.983, 0.990 (small bf16), 0.996 (small f32), 0.995 (smol bf16) of the time; the same logits.
     */
    @Override public void mlp(float[] x, int rows, Weight gate, Weight up, Weight down, float[] z, float[] mask, float[] out,
                              RowPlan plan, ProductScratch scratch) {
        if (rows > 1) {
            PackedWeights pairs = packed(pairedWeights, new Weight[]{gate, up}, true), d = packed(new Weight[]{down});
            if (pairs != null && d != null) {
                gemm.multiplyMlp(rows, pairs.k(), x, 0, pairs.k(), pairs, mask, d, out, z);
                return;
            }
        }
        Backend.super.mlp(x, rows, gate, up, down, z, mask, out, plan, scratch);
    }

    /**
     * Gate and up weights packed as pairs: each GEMM task, or each decode run, writes SwiGLU's output from its own
     * sums, and the gate and up products are never written out (a small model's prompt: 8 MB a layer written and read
     * again, and a pass over them, less).
     */
    @Override public void linearSwiGLU(float[] x, int rows, Weight gate, Weight up, float[] z, float[] mask, RowPlan plan,
                                       ProductScratch scratch) {
        PackedWeights pairs = packed(pairedWeights, new Weight[]{gate, up}, true);
        if (pairs == null) {
            Backend.super.linearSwiGLU(x, rows, gate, up, z, mask, plan, scratch);
        } else if (rows == 1) {
            decodeOrder(pairs);
            pairs.multiplyRowSwiGLU(x, 0, z, 0, mask, pool, rowOut);
        } else {
            gemm.multiplySwiGLU(rows, pairs.k(), x, 0, pairs.k(), pairs, z, mask);
        }
    }

    /**
     * The weights of one product packed (at the first call that needs them), or null: F16 weights, or
     * repacking turned off, or no memory left for the copy (then the weights are read in place, a little slower).
     */
    private PackedWeights packed(Weight[] ws) { return packed(packedWeights, ws, false); }

    private PackedWeights packed(Map<Weight, Optional<PackedWeights>> cache, Weight[] ws, boolean pairs) {
        if (!repack) return null;
        synchronized (packedWeights) {
            Optional<PackedWeights> pw = cache.get(ws[0]);
            if (pw == null) {
                pw = Optional.empty();
                if (PackedWeights.supports(ws) && (!pairs || ws[0].rows() == ws[1].rows())) {
                    try {
                        pw = Optional.of(pairs ? PackedWeights.packPairs(ws[0], ws[1], pool, packedArena)
                                : PackedWeights.pack(ws, pool, packedArena));
                    } catch (OutOfMemoryError e) {
                        if (!warnedNoMemory) System.err.println("arbor: no memory to repack the weights (" + e.getMessage()
                                + "); reading them in place instead, prompts run slower");
                        warnedNoMemory = true;
                    }
                }
                cache.put(ws[0], pw);
            }
            return pw.orElse(null);
        }
    }

    private boolean warnedNoMemory;

    /**
     * The shortest segment the GEMM takes when the weights are not packed beforehand (F16, or
     * ARBOR_REPACK=0). Below it the Matmul kernels, which read the weights in place a chunk at a time,
     * are faster for BF16 and F16 weights: 12 layers' MLP products of the small model, 2 threads,
     * GEMM against Matmul (PathProbe): 2 rows 27.3 / 5.1 ms, 16 rows 32.0 / 21.1, 32 rows 37.2 /
     * 28.8, 64 rows 47.9 / 50.3. F32 segments all take the GEMM: Matmul (a dot product
     * per row, no tiles) wins only below ~10 rows (8 rows 26.2 / 22.9 ms), and the GEMM's sequential
     * sums keep a grown model's prompts within GROWTH.md's 1e-6 of its parent (the Matmul tree
     * regroups the old terms when the hidden size grows: 1.13e-6 in PreservationTest's T2).
     */
    static int gemmMinRows(DType d) { return d == DType.F32 ? 2 : 48; }

    /** The weights widened to F32 and stacked, W_0's rows first (reused buffer), chunk by chunk on the pool. */
    private float[] widenAll(Weight[] ws) {
        int k = ws[0].cols();
        int[] firstChunk = new int[ws.length + 1], firstRow = new int[ws.length + 1];
        for (int j = 0; j < ws.length; j++) {
            if (ws[j].cols() != k) throw new IllegalArgumentException("weights of one product must share their column count");
            firstChunk[j + 1] = firstChunk[j] + Math.ceilDiv(ws[j].rows(), Matmul.CHUNK);
            firstRow[j + 1] = firstRow[j] + ws[j].rows();
        }
        long size = (long) firstRow[ws.length] * k;
        if (widened == null || widened.length < size) widened = new float[Math.toIntExact(size)];
        float[] dst = widened;
        pool.run(firstChunk[ws.length], (chunk, thread) -> {
            int j = 0;
            while (firstChunk[j + 1] <= chunk) j++;
            Weight wt = ws[j];
            int r0 = (chunk - firstChunk[j]) * Matmul.CHUNK;
            Matmul.widen(wt, r0, Math.min(Matmul.CHUNK, wt.rows() - r0), dst, (firstRow[j] + r0) * k);
        });
        return dst;
    }

    /**
     * y_j = x·W_jᵀ for each weight by the Matmul kernels, over chunks of rows cut by
     * {@link Matmul#chunks}; a product's result does not depend on the chunks, so neither does it
     * on the thread count.
     */
    private void linear(float[] x, int rows, Weight[] ws, float[][] ys) {
        Matmul.Chunks c = Matmul.chunks(ws, pool.threads());
        if (rows >= Matmul.TILE_MIN_T) ensureScratch(ws[0].cols());
        pool.run(c.count(), (i, thread) -> {
            int j = c.weight()[i];
            Matmul.multiply(x, rows, ws[j], c.n0()[i], c.n1()[i], ys[j], ws[j].rows(), 0, scratch[thread]);
        });
    }

    /**
     * Work is cut into units of up to eight queries (row, query head) that read the same cache, one
     * sequence's kv head: consecutive rows of a prompt, or the query heads of a kv group. A unit
     * loads each key and value once for all its queries ({@link Attention#attend8} for five to
     * eight, {@link Attention#attend4} for two to four, so a decode step's small kv groups are
     * padded to four, not eight; eight instead of four made a 512-row prompt's attention 15–30 %
     * faster, 12/12 and 15/5 heads, 2 threads, AttnProbe A/B); a lone query
     * (decode with one query head per kv head) is a unit of its own, so decode still spreads its
     * heads over every thread.
     */
    @Override public void attention(int l, float[] q, Sequence[] rowSeq, int[] rowPos, int rows, int heads, int kvHeads,
                                    int headDim, float scale, float[] out) {
        int maxPos = 0;
        for (int r = 0; r < rows; r++) maxPos = Math.max(maxPos, rowPos[r]);
        int stride = Math.ceilDiv(maxPos + 1, Attention.LANES) * Attention.LANES + 1;   // one query's scores (whole vectors) and 1/Σ
        ensureScores(UNIT * stride);
        int group = heads / kvHeads;
        int qStride = heads * headDim;
        int units = planUnits(rowSeq, rows, heads, kvHeads);
        int[] uStart = unitStart, qRow = queryRow, qHead = queryHead;
        pool.run(units, (u, thread) -> {
            int from = uStart[u], count = uStart[u + 1] - from;
            int r = qRow[from], j = qHead[from];
            Sequence s = rowSeq[r];
            int g = j / group;
            if (count == 1) {
                int o = r * qStride + j * headDim;
                Attention.attend(q, o, s.keys[l][g], s.values[l][g], headDim, rowPos[r], scale, scores[thread], out, o);
                return;
            }
            int width = count <= 4 ? 4 : 8;
            int[] a = unitScratch[thread];
            for (int i = 0; i < width; i++) {
                int x = from + Math.min(i, count - 1);   // fewer than the width: the last query again
                a[i] = qRow[x] * qStride + qHead[x] * headDim;
                a[width + i] = rowPos[qRow[x]];
            }
            if (width == 4) Attention.attend4(q, a, s.keys[l][g], s.values[l][g], headDim, scale, scores[thread], stride, out);
            else Attention.attend8(q, a, s.keys[l][g], s.values[l][g], headDim, scale, scores[thread], stride, out);
        });
    }

    /** Queries per attention unit at most: eight share each key and value load ({@link Attention#attend8}). */
    private static final int UNIT = 8;

    /** Query lists of the attention units (see {@link #attention}), reused between calls. */
    private int[] unitStart = new int[1], queryRow = new int[0], queryHead = new int[0];
    private final int[][] unitScratch;

    /**
     * Fills unitStart/queryRow/queryHead: for each run of consecutive rows of one sequence and each
     * kv head, its queries, the last rows first (under the causal mask they cost most, so they
     * start first), cut into units of up to {@link #UNIT}. Returns the number of units.
     */
    private int planUnits(Sequence[] rowSeq, int rows, int heads, int kvHeads) {
        int n = rows * heads, group = heads / kvHeads;
        if (queryRow.length < n) {
            queryRow = new int[n];
            queryHead = new int[n];
            unitStart = new int[n + 1];
        }
        int qi = 0, units = 0;
        for (int r0 = 0; r0 < rows; ) {
            int r1 = r0 + 1;
            while (r1 < rows && rowSeq[r1] == rowSeq[r0]) r1++;
            for (int g = 0; g < kvHeads; g++) {
                int first = qi;
                for (int r = r1 - 1; r >= r0; r--) {
                    for (int j = g * group; j < (g + 1) * group; j++) {
                        if ((qi - first) % UNIT == 0) unitStart[units++] = qi;
                        queryRow[qi] = r;
                        queryHead[qi++] = j;
                    }
                }
            }
            r0 = r1;
        }
        unitStart[units] = qi;
        return units;
    }

    private void ensureScratch(int k) {
        int need = Matmul.scratchSize(k);
        for (int t = 0; t < scratch.length; t++) if (scratch[t].length < need) scratch[t] = new float[need];
    }

    private void ensureScores(int n) {
        for (int t = 0; t < scores.length; t++) if (scores[t].length < n) scores[t] = new float[Math.max(n, 2 * scores[t].length)];
    }

    /** Below this many rows the element-wise steps cost less than handing them to the pool. */
    private static final int PARALLEL_ROWS = 8;

    @Override public void forRows(int rows, RowRange body) {
        if (rows < PARALLEL_ROWS || pool.threads() == 1) {
            body.run(0, rows);
            return;
        }
        int chunks = Math.min(rows, 4 * pool.threads()), per = Math.ceilDiv(rows, chunks);
        pool.run(Math.ceilDiv(rows, per), (c, thread) -> body.run(c * per, Math.min(rows, (c + 1) * per)));
    }

    /**
     * Reads the bytes decode reads for these weights: the packed copy of every product that has one (the copy, not
     * the checkpoint's pages: decode streams the copy, and the two lie in different memory — reading the mapped file
     * of smol bf16 ran at 19–24 GB/s in a JVM where its packed copies read at 37–42), the rest (F16, or weights not
     * packed) in place. Each thread sums one contiguous share of the bytes, taken in order across the regions; only
     * that is timed, not finding the regions.
     */
    @Override public MachineLimits.Read read(Weight[] ws) {
        List<MemorySegment> regions = new ArrayList<>();
        Set<Weight> wanted = identitySet(), covered = identitySet();
        wanted.addAll(Arrays.asList(ws));
        synchronized (packedWeights) {
            // pairs first: decode multiplies gate and up as pairs wherever they are packed as pairs
            for (Map<Weight, Optional<PackedWeights>> cache : List.of(pairedWeights, packedWeights)) {
                for (Optional<PackedWeights> o : cache.values()) {
                    if (o.isEmpty()) continue;
                    List<Weight> from = o.get().sources();
                    if (from.stream().allMatch(wanted::contains) && from.stream().noneMatch(covered::contains)) {
                        regions.add(o.get().data());
                        covered.addAll(from);
                    }
                }
            }
        }
        for (Weight w : ws) if (!covered.contains(w)) regions.add(w.data().asSlice(0, w.byteSize()));
        long total = regions.stream().mapToLong(MemorySegment::byteSize).sum();
        int threads = pool.threads();
        long share = Math.ceilDiv(total, threads);
        long[] sums = new long[threads];
        long t0 = System.nanoTime();
        pool.run(threads, (chunk, thread) -> {
            long from = chunk * share, to = Math.min(total, from + share), base = 0, s = 0;
            for (MemorySegment r : regions) {
                long end = base + r.byteSize();
                if (end > from && base < to) s += MachineLimits.sum(r, Math.max(from, base) - base, Math.min(to, end) - base);
                base = end;
            }
            sums[chunk] = s;
        });
        long nanos = System.nanoTime() - t0;
        for (long x : sums) MachineLimits.keep(x);
        return new MachineLimits.Read(total, nanos);
    }

    private static Set<Weight> identitySet() { return Collections.newSetFromMap(new IdentityHashMap<>()); }

    @Override public void close() {
        gemm.close();
        pool.close();
        synchronized (packedWeights) {
            packedWeights.clear();
            pairedWeights.clear();
            if (packedArena.scope().isAlive()) packedArena.close();
        }
    }
}
