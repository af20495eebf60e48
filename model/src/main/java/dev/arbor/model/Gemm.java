package dev.arbor.model;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

import java.util.Arrays;
import java.util.Objects;
import java.util.concurrent.atomic.AtomicIntegerArray;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Deterministic single-precision GEMM for the training engine: C = A·B or C += A·B with optional transposes,
 * on a fixed pool of threads (the caller runs as thread 0, plus {@code threads - 1} daemon workers).
 *
 * <p>Structure (as in BLIS): k is cut into blocks of {@link #KC} and n into blocks of up to {@link #NC} columns
 * (several products that share A, {@link #multiplyStacked}, are one run of columns).
 * For each block, B is packed into NR-wide micro-panels (KC × NR floats, contiguous) that all threads share (each
 * panel packed once, by whichever thread needs it first, so there is one barrier per block), and the output is
 * cut into tasks (row blocks of up to {@link #MC} rows, further split into ranges of micro-panels when there are few
 * rows). A task packs its rows of A into a per-thread buffer, then runs an MR × NR register-blocked micro-kernel
 * (MR × 2 vectors of accumulators) over every micro-tile of its block: the B micro-panel (32 KB with 512-bit
 * vectors) stays in L1 while the A block (128 KB) streams from L2.
 * Packing copies contiguous runs wherever the layout allows (A untransposed is packed row by row, A transposed
 * column by column, so both are plain copies); only the transposed B of the forward pass needs a scalar transpose,
 * done once per product and amortised over all m rows. Buffers are reused: no allocation per call beyond a few
 * small objects.
 *
 * <p>A model's weights are packed once ({@link PackedWeights}) and not per call. Their products need no barrier per
 * k block: each task (row block of {@link #PACKED_MC} × range of micro-panels) runs all k blocks of its outputs,
 * summing into a contiguous block of its own, and copies each micro-panel it uses into one buffer (BF16 widened on
 * the way); see {@link #gemmPacked}. Gate and up weights packed as pairs end in SwiGLU inside the tasks
 * ({@link #multiplySwiGLU}).
 *
 * <p>Determinism: every C element is computed the same way whatever the thread count or the task split: for each
 * k block in order, one fused multiply-add chain over that block's p in order, starting from 0, then added to C
 * (or added to 0, for the first block when not accumulating). Threads only partition the output, never k, and the
 * blocking (KC) is a constant, so results are bitwise identical for any pool size, from call to call, and between
 * {@link #multiply} and {@link #multiplySerial}. The tile shape does not enter the sums either, so results are
 * also the same for every vector width (checked with 512-, 256- and 128-bit species).
 *
 * <p>Measured on the 2-core AVX-512 (Zen 5) development VM: about 180 GFLOP/s on one thread and 280–360 GFLOP/s on
 * two for the training shapes, against an FMA peak of 221 / 431 GFLOP/s with 512-bit vectors (see GemmBench).
 */
public final class Gemm implements AutoCloseable {

    @FunctionalInterface
    public interface IndexBody { void run(int index, int thread); }

    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int V = S.length();
    /**
     * Micro-tile: MR rows × NR columns = MR × 2 vectors. 8 rows (16 accumulators) where vectors are 512-bit (AVX-512
     * has 32 vector registers); 4 rows (8 accumulators) for narrower vectors, where C2 has 16 registers and spills
     * the larger tile (measured: 8×2 runs at half speed with -XX:UseAVX=2, 4×2 near the FMA peak).
     */
    static final int MR = V >= 16 ? 8 : 4;
    static final int NR = 2 * V;
    /** k block: a KC × NR micro-panel of B (32 KB with 16-float vectors) fits the 48 KB L1 next to the A stream. */
    static final int KC = 256;
    /** Row block of A per task (MC × KC floats = 128 KB, kept in the 1 MB L2); also the unit of work sharing. */
    static final int MC = 128;
    /**
     * Row block for weights packed beforehand: each micro-panel a task copies out (BF16: widens) then serves twice
     * MC's rows (small model, 512 rows, 2 threads, alternating in one process: GFLOP/s 337 → 339, 337 → 345 and
     * 325 → 338 for bf16 q/k/v, bf16 gate/up and f32 gate/up; down within the noise). Training keeps MC.
     */
    static final int PACKED_MC = 2 * MC;
    /** Column block of B packed at once (KC × NC floats = 4 MB, shared by the threads, lives in L3). */
    static final int NC = 4096;
    /**
     * Most bytes of C one task of a product with weights packed beforehand computes: its C block stays in the 1 MB
     * L2 next to the 256 KB A block from one k block to the next.
     */
    static final long C_BLOCK_BYTES = 256 << 10;
    /** Products smaller than this (m·n·k) run on the calling thread: waking the pool would cost more. */
    private static final long PARALLEL_MIN_WORK = 1L << 20;
    /** Output tasks wanted per thread and k block, for load balance on a busy machine. */
    private static final int TASKS_PER_THREAD = 4;

    private final int threads;
    /** The threads (the caller is thread 0); shared with the rest of a CpuBackend, or this Gemm's own. */
    private final WorkerPool pool;
    private final boolean ownsPool;
    private final Workspace[] workspaces;    // per thread id; workspaces[0].b is the shared packed B panel
    private final ReentrantLock multiplyLock = new ReentrantLock();

    /** Packing buffers for the calling threads of multiplySerial (each may run concurrently). */
    private static final ThreadLocal<Workspace> SERIAL_WORKSPACE = ThreadLocal.withInitial(Workspace::new);

    public Gemm(int threads) {
        this(new WorkerPool(threads), true);
    }

    /** A GEMM on an existing pool, which the caller keeps and closes. */
    Gemm(WorkerPool pool) {
        this(pool, false);
    }

    private Gemm(WorkerPool pool, boolean ownsPool) {
        this.pool = pool;
        this.ownsPool = ownsPool;
        this.threads = pool.threads();
        this.workspaces = new Workspace[threads];
        for (int t = 0; t < threads; t++) workspaces[t] = new Workspace();
    }

    public int threads() { return threads; }

    /**
     * C = A·B (accumulate=false: C's old contents are ignored, even NaN) or C += A·B (accumulate=true), on the pool.
     * A is m×k: stored row-major at a[aOff + i*lda + p] when !transA, or as its transpose (k×m) at
     * a[aOff + p*lda + i] when transA. B is k×n: row-major at b[bOff + p*ldb + j] when !transB, or transposed (n×k)
     * at b[bOff + j*ldb + p] when transB. C is m×n row-major at c[cOff + i*ldc + j].
     */
    public void multiply(int m, int n, int k,
                  float[] a, int aOff, int lda, boolean transA,
                  float[] b, int bOff, int ldb, boolean transB,
                  float[] c, int cOff, int ldc, boolean accumulate) {
        if (!checkTrivial(m, n, k, a, aOff, lda, transA, b, bOff, ldb, transB, c, cOff, ldc, accumulate)) return;
        run(m, (long) n, k, a, aOff, lda, transA, new Outputs(b, bOff, ldb, transB, n, c, cOff, ldc), accumulate);
    }

    /**
     * C_j = A·B_jᵀ for several weights that share A: B_j (n[j] × k, row-major, so transposed in the terms of
     * {@link #multiply}) lies in b row after row, B_0 first; C_j (m × n[j], leading dimension n[j]) at
     * c[j][cOff[j] …], overwritten. The products run as one, the pool sharing out the columns of all of them: one
     * barrier per k block instead of one per product and k block (the q, k and v products of a 512-row prompt of the
     * small model ran 1–8 % faster as one than as three, six alternating runs). Each C_j gets exactly the bits
     * {@link #multiply} would give it alone.
     */
    public void multiplyStacked(int m, int k, float[] a, int aOff, int lda, float[] b, int[] n, float[][] c, int[] cOff) {
        long columns = 0;
        int[] bOff = new int[n.length], ld = new int[n.length];
        for (int j = 0; j < n.length; j++) {
            bOff[j] = Math.toIntExact(columns * k);
            ld[j] = k;
            columns += n[j];
        }
        boolean work = false;   // checkTrivial also validates each product and zeroes C_j when k == 0
        for (int j = 0; j < n.length; j++) work |= checkTrivial(m, n[j], k, a, aOff, lda, false, b, bOff[j], k, true, c[j], cOff[j], n[j], false);
        if (!work) return;
        float[][] bs = new float[n.length][];
        Arrays.fill(bs, b);
        run(m, columns, k, a, aOff, lda, false, new Outputs(bs, bOff, ld, true, n, c, cOff, n.clone()), false);
    }

    /** C_j = A·W_jᵀ as {@link #multiplyStacked} gives it, with the W_j packed beforehand: the same bits. */
    void multiplyStacked(int m, int k, float[] a, int aOff, int lda, PackedWeights b, float[][] c, int[] cOff) {
        if (k != b.k()) throw new IllegalArgumentException("A has " + k + " columns, the packed weights " + b.k());
        if (m < 0) throw new IllegalArgumentException("negative row count " + m);
        checkMatrix("A", a, aOff, lda, m, k);
        int[] n = b.rows();
        for (int j = 0; j < n.length; j++) checkMatrix("C", c[j], cOff[j], n[j], m, n[j]);
        if (m == 0) return;
        if (b.pairs()) throw new IllegalArgumentException("gate/up pairs are multiplied by multiplySwiGLU");
        Outputs o = Outputs.packed(b, c, cOff);
        run(m, o.panels(), k, a, aOff, lda, false, o, false);
    }

    /**
     * z = silu(A·W_gateᵀ) ⊙ (A·W_upᵀ) (⊙ mask, if not null) for gate and up weights packed as pairs
     * ({@link PackedWeights#packPairs}): A m × k (row-major, leading dimension lda), z m × n (row-major, from 0). Each
     * task holds whole pairs, so it writes z from its sums and never writes the gate and up products out: the bits of
     * {@link #multiplyStacked(int, int, float[], int, int, PackedWeights, float[][], int[])} followed by
     * {@link Ops#swiglu}, with a third of the output traffic.
     */
    void multiplySwiGLU(int m, int k, float[] a, int aOff, int lda, PackedWeights pairs, float[] z, float[] mask) {
        int n = checkSwiGLU(m, k, a, aOff, lda, pairs, mask);
        checkMatrix("z", z, 0, n, m, n);
        if (m == 0) return;
        Outputs o = Outputs.swiGLU(pairs, z, mask);
        run(m, o.panels(), k, a, aOff, lda, false, o, false);
    }

    /** Checks the arguments of a SwiGLU product on gate/up pairs; returns its width n. */
    private static int checkSwiGLU(int m, int k, float[] a, int aOff, int lda, PackedWeights pairs, float[] mask) {
        if (!pairs.pairs()) throw new IllegalArgumentException("the weights are not packed as gate/up pairs");
        if (k != pairs.k()) throw new IllegalArgumentException("A has " + k + " columns, the packed weights " + pairs.k());
        if (m < 0) throw new IllegalArgumentException("negative row count " + m);
        int n = pairs.rows()[0];
        checkMatrix("A", a, aOff, lda, m, k);
        if (mask != null) Objects.checkFromIndexSize(0, n, mask.length);
        return n;
    }

    /**
     * A prompt's MLP on packed weights: out = (silu(A·W_gateᵀ) ⊙ (A·W_upᵀ) ⊙ mask)·W_downᵀ, A m × k (row-major,
     * leading dimension lda), out m × n_down. The bits of {@link #multiplySwiGLU} followed by
     * {@link #multiplyStacked(int, int, float[], int, int, PackedWeights, float[][], int[])}, but SwiGLU's output goes
     * straight into the layout in which the down product packs its A, so that product skips its packing phase (a
     * small model's down: 7–11 % of its time, A being m × 2048). SwiGLU's output is kept in z when z is large enough
     * (it is then in that layout, not row-major), else in a buffer of the calling thread.
     */
    void multiplyMlp(int m, int k, float[] a, int aOff, int lda, PackedWeights pairs, float[] mask, PackedWeights down, float[] out,
                     float[] z) {
        int n = checkSwiGLU(m, k, a, aOff, lda, pairs, mask);
        if (down.pairs()) throw new IllegalArgumentException("the down weights are packed as pairs");
        if (down.k() != n || down.rows().length != 1) throw new IllegalArgumentException("the down weights do not take " + n + " inputs");
        checkMatrix("out", out, 0, down.rows()[0], m, down.rows()[0]);
        if (m == 0) return;
        PackedA layout = PackedA.of(m, n);
        float[] zp = z.length >= layout.size() ? z : SERIAL_WORKSPACE.get().packedZ(layout.size());
        layout.zeroPadding(zp, m);
        Outputs gateUp = Outputs.swiGLU(pairs, zp, mask);
        gateUp.zLayout = layout;
        run(m, gateUp.panels(), k, a, aOff, lda, false, gateUp, false);
        Outputs o = Outputs.packed(down, new float[][]{out}, new int[1]);
        o.prepackedA = zp;
        run(m, o.panels(), n, zp, 0, n, false, o, false);
    }

    /**
     * {@link #gemmPacked}'s layout of an m × k A: row blocks of mc rows (a multiple of MR, up to PACKED_MC) × k blocks
     * of KC, one block after another (row block by row block), each mc × KC row-major.
     */
    private record PackedA(int rowBlocks, int mc, int kBlocks) {
        static PackedA of(int m, int k) {
            int rowBlocks = ceilDiv(m, PACKED_MC);
            return new PackedA(rowBlocks, roundUp(ceilDiv(m, rowBlocks), MR), ceilDiv(k, KC));
        }

        int size() { return rowBlocks * kBlocks * mc * KC; }

        /** Where element (r, c) goes (r may be a padding row of the last row block). */
        int index(int r, int c) { return ((r / mc) * kBlocks + c / KC) * mc * KC + (r % mc) * KC + c % KC; }

        /** Zeroes the rows past m with which the micro-kernel pads the last row block, as packA writes them. */
        void zeroPadding(float[] ap, int m) {
            int last = (rowBlocks - 1) * mc, padded = roundUp(m - last, MR);
            for (int pc = 0; pc < kBlocks * KC; pc += KC) {
                int at = index(last, pc);   // the last row block's k block from pc
                Arrays.fill(ap, at + (m - last) * KC, at + padded * KC, 0f);
            }
        }
    }

    private void run(int m, long columns, int k, float[] a, int aOff, int lda, boolean transA, Outputs o, boolean accumulate) {
        // with weights packed beforehand, reading them is the cost for a few rows: share it out as for MR rows
        long work = (o.packed != null ? Math.max(m, MR) : m) * columns * k;
        if (threads == 1 || work < PARALLEL_MIN_WORK || pool.selfId() >= 0) {
            // small, or called from inside a pool job (whose threads are all busy): same result, computed here
            if (o.packed != null) gemmPacked(m, k, a, aOff, lda, o, SERIAL_WORKSPACE.get());
            else gemmSerial(m, k, a, aOff, lda, transA, o, accumulate, SERIAL_WORKSPACE.get());
            return;
        }
        multiplyLock.lock();   // the shared B panel and the per-thread buffers serve one product at a time
        try {
            if (o.packed != null) gemmPacked(m, k, a, aOff, lda, o, null);
            else gemmParallel(m, k, a, aOff, lda, transA, o, accumulate);
        } finally {
            multiplyLock.unlock();
        }
    }

    /** The same product computed on the calling thread only (for callers that parallelise over many small products). */
    public void multiplySerial(int m, int n, int k,
                        float[] a, int aOff, int lda, boolean transA,
                        float[] b, int bOff, int ldb, boolean transB,
                        float[] c, int cOff, int ldc, boolean accumulate) {
        if (!checkTrivial(m, n, k, a, aOff, lda, transA, b, bOff, ldb, transB, c, cOff, ldc, accumulate)) return;
        gemmSerial(m, k, a, aOff, lda, transA, new Outputs(b, bOff, ldb, transB, n, c, cOff, ldc), accumulate, SERIAL_WORKSPACE.get());
    }

    /**
     * The B operands and C outputs of one call: products C_j (+)= A·B_j that share A, their columns cut into
     * NR-wide micro-panels numbered across all of them (product j's panels are [firstPanel[j], firstPanel[j+1]),
     * its last one partial when NR does not divide n_j; packed weights number them in their own order, which
     * {@link #product} and {@link #col0} follow).
     */
    private static final class Outputs {
        final float[][] b, c;
        final int[] bOff, ldb, n, cOff, ldc, firstPanel, productOf;
        final boolean transB;
        /** B packed beforehand (then b is not read), or null. */
        final PackedWeights packed;
        /** Gate/up pairs ({@link #multiplySwiGLU}): SwiGLU's neuron mask, or null. */
        final float[] swigluMask;
        /** A already in {@link #gemmPacked}'s packed layout (its packing phase skipped), or null. */
        float[] prepackedA;
        /** Gate/up pairs: the packed A layout in which z is written for the next product (k = n), or null: row-major. */
        PackedA zLayout;

        Outputs(float[][] b, int[] bOff, int[] ldb, boolean transB, int[] n, float[][] c, int[] cOff, int[] ldc) {
            this(b, bOff, ldb, transB, n, c, cOff, ldc, null, null);
        }

        Outputs(float[][] b, int[] bOff, int[] ldb, boolean transB, int[] n, float[][] c, int[] cOff, int[] ldc, PackedWeights packed,
                float[] swigluMask) {
            this.b = b; this.bOff = bOff; this.ldb = ldb; this.transB = transB; this.packed = packed; this.swigluMask = swigluMask;
            this.n = n; this.c = c; this.cOff = cOff; this.ldc = ldc;
            firstPanel = new int[n.length + 1];
            for (int j = 0; j < n.length; j++) firstPanel[j + 1] = firstPanel[j] + ceilDiv(n[j], NR);
            productOf = new int[firstPanel[n.length]];
            for (int j = 0; j < n.length; j++) Arrays.fill(productOf, firstPanel[j], firstPanel[j + 1], j);
        }

        /** Products C_j = A·W_jᵀ on weights packed beforehand, C_j at c[j][cOff[j] …] with leading dimension n_j. */
        static Outputs packed(PackedWeights b, float[][] c, int[] cOff) {
            int[] n = b.rows();
            return new Outputs(new float[n.length][], new int[n.length], new int[n.length], true, n, c, cOff, n, b, null);
        }

        /** SwiGLU of gate/up pairs into z ([m, n] row-major unless {@link #zLayout} says otherwise), masked if mask != null. */
        static Outputs swiGLU(PackedWeights pairs, float[] z, float[] mask) {
            int n = pairs.rows()[0];
            return new Outputs(new float[2][], new int[2], new int[2], true, new int[]{n, n}, new float[][]{z, z}, new int[2],
                    new int[]{n, n}, pairs, mask);
        }

        Outputs(float[] b, int bOff, int ldb, boolean transB, int n, float[] c, int cOff, int ldc) {
            this(new float[][]{b}, new int[]{bOff}, new int[]{ldb}, transB, new int[]{n}, new float[][]{c}, new int[]{cOff}, new int[]{ldc});
        }

        int panels() { return firstPanel[n.length]; }

        /** The product that panel q belongs to (packed weights keep their own order: gate/up pairs interleave). */
        int product(int q) { return packed != null ? packed.productOf(q) : productOf[q]; }

        /** The first column of panel q in its product. */
        int col0(int q) { return packed != null ? packed.col0(q) : (q - firstPanel[productOf[q]]) * NR; }
    }

    /** Validates the arguments; handles empty products (k == 0 zeroes C unless accumulating). Returns whether work remains. */
    private static boolean checkTrivial(int m, int n, int k,
                                        float[] a, int aOff, int lda, boolean transA,
                                        float[] b, int bOff, int ldb, boolean transB,
                                        float[] c, int cOff, int ldc, boolean accumulate) {
        if (m < 0 || n < 0 || k < 0) throw new IllegalArgumentException("negative size " + m + "x" + n + "x" + k);
        checkMatrix("A", a, aOff, lda, transA ? k : m, transA ? m : k);
        checkMatrix("B", b, bOff, ldb, transB ? n : k, transB ? k : n);
        checkMatrix("C", c, cOff, ldc, m, n);
        if (m == 0 || n == 0) return false;
        if (k == 0) {
            if (!accumulate) for (int i = 0; i < m; i++) Arrays.fill(c, cOff + i * ldc, cOff + i * ldc + n, 0f);
            return false;
        }
        return true;
    }

    private static void checkMatrix(String name, float[] x, int off, int ld, int rows, int cols) {
        Objects.requireNonNull(x, name);
        if (rows == 0 || cols == 0) return;
        if (off < 0 || ld < cols || (long) off + (long) (rows - 1) * ld + cols > x.length) {
            throw new IllegalArgumentException(name + ": " + rows + "x" + cols + " at offset " + off + " with leading dimension "
                    + ld + " does not fit in an array of " + x.length);
        }
    }

    /**
     * Buffers of one thread: a packed A block, a scratch C tile, (workspace 0 / serial use) a packed B panel; for
     * products with weights packed beforehand a copied-out micro-panel, a block of sums, and (workspace 0 / serial
     * use) A packed whole.
     */
    private static final class Workspace {
        final float[] a = new float[MC * KC];
        final float[] tile = new float[MR * NR];
        /** A micro-panel of packed weights, copied out (BF16: widened). */
        final float[] panel = new float[KC * NR];
        float[] b = new float[0], cBlock = new float[0], sharedA = new float[0], packedZ = new float[0];

        float[] b(int size) {
            if (b.length < size) b = new float[size];
            return b;
        }

        float[] cBlock(int size) {
            if (cBlock.length < size) cBlock = new float[size];
            return cBlock;
        }

        float[] sharedA(int size) {
            if (sharedA.length < size) sharedA = new float[size];
            return sharedA;
        }

        /** SwiGLU's output in the down product's packed A layout ({@link #multiplyMlp}). */
        float[] packedZ(int size) {
            if (packedZ.length < size) packedZ = new float[size];
            return packedZ;
        }
    }

    private void gemmParallel(int m, int k, float[] a, int aOff, int lda, boolean transA, Outputs o, boolean accumulate) {
        // Output tasks: balanced row blocks (multiples of MR), split further into ranges of micro-panels when there
        // are too few row blocks for TASKS_PER_THREAD tasks a thread (dynamic claiming then evens out threads that
        // the OS delays). The split only decides who computes a tile, never how.
        int rowBlocks = ceilDiv(m, MC);
        int mc = roundUp(ceilDiv(m, rowBlocks), MR);
        for (int g0 = 0; g0 < o.panels(); g0 += NC / NR) {
            int panels = Math.min(NC / NR, o.panels() - g0);
            int colSplits = Math.max(1, Math.min(panels, ceilDiv(TASKS_PER_THREAD * threads, rowBlocks)));
            float[] bp = workspaces[0].b(panels * NR * KC);
            for (int pc = 0; pc < k; pc += KC) {
                // one barrier per k block: B's micro-panels are packed inside the tasks, by whichever thread needs
                // one first, so packing is shared out without a separate phase
                PackedB pb = new PackedB(o, pc, Math.min(KC, k - pc), g0, panels, bp, true);
                boolean add = accumulate || pc > 0;
                parallelFor(rowBlocks * colSplits, (task, t) -> {
                    int block = task / colSplits, split = task % colSplits;
                    int i0 = block * mc;
                    if (i0 >= m) return;
                    int rows = Math.min(mc, m - i0);
                    int q0 = split * panels / colSplits, q1 = (split + 1) * panels / colSplits;
                    Workspace ws = workspaces[t];
                    packA(a, aOff, lda, transA, i0, rows, pb.pc, pb.kc, ws.a, 0);
                    // row blocks start at different micro-panels so that threads rarely wait on each other's packing
                    int first = q0 + (int) ((long) block * (q1 - q0) / rowBlocks);
                    macroKernel(ws.a, transA, i0, rows, pb, q0, q1, first, add, ws);
                });
            }
        }
    }

    /**
     * Products with weights packed beforehand ({@link #multiplyStacked(int, int, float[], int, int, PackedWeights,
     * float[][], int[])}), on the pool or (serial != null) on the calling thread. No B panel needs packing, so each
     * task runs every k block of its output block itself, with no barrier between k blocks, and sums into a contiguous
     * block of its own ({@link #C_BLOCK_BYTES} at most, in L2), written to C once at the end. Adding each k block's
     * tiles into C itself cost a quarter of a small model's prompt products: C's rows are a power of two of floats
     * apart in the gate/up products (2048), so a column of tiles fell into a few cache sets, and each k block swept all
     * of C. A is packed once per product, first, into a buffer the tasks share.
     * Each tile is still summed k block by k block in order from 0: the same bits as {@link #multiply}.
     */
    private void gemmPacked(int m, int k, float[] a, int aOff, int lda, Outputs o, Workspace serial) {
        PackedA layout = PackedA.of(m, k);
        int rowBlocks = layout.rowBlocks(), mc = layout.mc(), kBlocks = layout.kBlocks(), panels = o.panels();
        int panelsPerTask = (int) Math.max(1, C_BLOCK_BYTES / ((long) mc * NR * Float.BYTES));
        int unit = o.packed.pairs() ? 2 : 1;   // a task holds whole gate/up pairs
        int[] tasks = packedTasks(rowBlocks, panels / unit, Math.max(1, panelsPerTask / unit), serial != null ? 1 : threads);
        float[] ap = o.prepackedA != null ? o.prepackedA : (serial != null ? serial : workspaces[0]).sharedA(layout.size());
        IndexBody packing = (piece, t) -> {
            int i0 = piece / kBlocks * mc, pc = piece % kBlocks * KC;
            if (i0 < m) packA(a, aOff, lda, false, i0, Math.min(mc, m - i0), pc, Math.min(KC, k - pc), ap, piece * mc * KC);
        };
        IndexBody task = (index, t) -> {
            int block = tasks[3 * index], i0 = block * mc;
            if (i0 >= m) return;   // rounding mc up to MR can leave a last block empty
            packedTask(o, k, ap, block * kBlocks * mc * KC, mc * KC, i0, Math.min(mc, m - i0),
                    unit * tasks[3 * index + 1], unit * tasks[3 * index + 2], serial != null ? serial : workspaces[t]);
        };
        // A is packed first, shared out over the threads (packed on first use, the other thread waited for the
        // block: 5 % of a profile's samples in a prompt, though no faster overall without)
        if (serial != null) {
            if (o.prepackedA == null) for (int piece = 0; piece < rowBlocks * kBlocks; piece++) packing.run(piece, 0);
            for (int index = 0; index < tasks.length / 3; index++) task.run(index, 0);
        } else {
            if (o.prepackedA == null) parallelFor(rowBlocks * kBlocks, packing);
            parallelFor(tasks.length / 3, task);
        }
    }

    /**
     * The tasks of {@link #gemmPacked} in the order the threads claim them, as (row block, first unit, end unit)
     * triples, a unit being one micro-panel (or one gate/up pair): up to maxUnits a task while much work is left, then
     * {@link WorkerPool#shrinkingShare} of what is left, down to one unit, so that the threads finish a product within
     * about one panel's work of each other instead of one whole task (a row block of 256 rows × 8 panels: 0.5 ms, 1 ms
     * for the small model's down product). Splitting by panels copies no panel twice: each is copied once per task that
     * uses it. (Matmul's chunks for weights that are not packed follow the same rule, in bytes.)
     * Products of a 512-token prompt against even tasks (`AbParts`, both builds in one JVM, 10 rounds, both orders), ms:
     * bsmall 303.0 → 295.2 and 293.8 → 289.5, smol bf16 992.1 → 984.9 and 988.5 → 969.5.
     */
    static int[] packedTasks(int rowBlocks, int units, int maxUnits, int threads) {
        int[] t = new int[3 * rowBlocks * units];
        int n = 0, left = rowBlocks * units;
        for (int b = 0; b < rowBlocks; b++) {
            for (int u = 0; u < units; n++) {
                int size = Math.min(units - u, Math.min(maxUnits, WorkerPool.shrinkingShare(left, threads)));
                t[3 * n] = b;
                t[3 * n + 1] = u;
                t[3 * n + 2] = u + size;
                u += size;
                left -= size;
            }
        }
        return Arrays.copyOf(t, 3 * n);
    }

    /**
     * One task of {@link #gemmPacked}: rows [i0, i0+rows) × micro-panels [q0, q1) of C over all k blocks, with A's
     * blocks for these rows packed at ap[at …], one k block after another, aStride apart. The micro-kernels are too
     * large for C2 to inline here (so their vector code is never duplicated into this method, where a compilation
     * that ran out of inlining budget would box the vectors of whatever it left out).
     */
    private static void packedTask(Outputs o, int k, float[] ap, int at, int aStride, int i0, int rows, int q0, int q1,
                                   Workspace ws) {
        int padded = roundUp(rows, MR);
        float[] sums = ws.cBlock((q1 - q0) * padded * NR);
        for (int pc = 0; pc < k; pc += KC, at += aStride) {
            int kc = Math.min(KC, k - pc);
            for (int q = q0; q < q1; q++) {
                // copied (BF16: widened) into one contiguous buffer once for all the task's rows: F32 read in place
                // (its rows a group's row apart) measured no faster, and widening BF16 inside the micro-kernel cost
                // it a quarter of its speed (PrepackProbe, q/k/v and gate/up of the small model)
                o.packed.copyPanel(q, pc, kc, ws.panel);
                int column = (q - q0) * padded * NR;   // this panel's sums, rows [i0, i0 + padded)
                for (int ir = 0; ir < padded; ir += MR) {
                    // the first k block's tile is the sums (0 + t is t: a chain from +0 never ends at -0); the
                    // later ones are added to them by the kernel itself
                    if (pc == 0) kernel(false, kc, ap, at + ir * KC, ws.panel, 0, sums, column + ir * NR);
                    else kernelAdd(kc, ap, at + ir * KC, ws.panel, 0, sums, column + ir * NR);
                }
            }
        }
        if (o.packed.pairs()) {   // z = SwiGLU of each pair, gate panel q and up panel q + 1
            float[] z = o.c[0];
            int n = o.n[0];
            for (int q = q0; q < q1; q += 2) {
                int col0 = o.col0(q), cols = Math.min(NR, n - col0);
                for (int r = 0, from = (q - q0) * padded * NR; r < rows; r++, from += NR) {
                    // z row-major, or in the next product's packed A (NR columns from col0, a multiple of NR, stay
                    // inside one k block); one call site of swiglu, as of the micro-kernel (see above)
                    int to = o.zLayout != null ? o.zLayout.index(i0 + r, col0) : (i0 + r) * n + col0;
                    Ops.swiglu(sums, from, sums, from + padded * NR, z, to, cols, o.swigluMask, col0);
                }
            }
            return;
        }
        for (int q = q0; q < q1; q++) {
            int j = o.product(q), col0 = o.col0(q), cols = Math.min(NR, o.n[j] - col0), ldc = o.ldc[j];
            float[] c = o.c[j];
            for (int r = 0, from = (q - q0) * padded * NR, to = o.cOff[j] + i0 * ldc + col0; r < rows; r++, from += NR, to += ldc) {
                // a whole panel's row (128 bytes with 16 lanes) as two vectors: System.arraycopy's cost per call made
                // the prompt 2 % slower (`Multi`, both ways in one JVM, bsmall and small f32, 10 rounds each)
                if (cols == NR) {
                    FloatVector.fromArray(S, sums, from).intoArray(c, to);
                    FloatVector.fromArray(S, sums, from + V).intoArray(c, to + V);
                } else {
                    System.arraycopy(sums, from, c, to, cols);
                }
            }
        }
    }

    private static void gemmSerial(int m, int k, float[] a, int aOff, int lda, boolean transA, Outputs o, boolean accumulate,
                                   Workspace ws) {
        for (int g0 = 0; g0 < o.panels(); g0 += NC / NR) {
            int panels = Math.min(NC / NR, o.panels() - g0);
            float[] bp = ws.b(panels * NR * KC);
            for (int pc = 0; pc < k; pc += KC) {
                PackedB pb = new PackedB(o, pc, Math.min(KC, k - pc), g0, panels, bp, false);
                for (int q = 0; q < panels; q++) pb.pack(q);
                boolean add = accumulate || pc > 0;
                for (int i0 = 0; i0 < m; i0 += MC) {
                    int rows = Math.min(MC, m - i0);
                    packA(a, aOff, lda, transA, i0, rows, pc, pb.kc, ws.a, 0);
                    macroKernel(ws.a, transA, i0, rows, pb, 0, panels, 0, add, ws);
                }
            }
        }
    }

    /**
     * Runs the micro-kernel over B micro-panels [q0, q1) of pb (starting at {@code first}, wrapping around) × all
     * MR-row panels of the packed A block (rows [i0, i0+rows) of C). The B micro-panel is the inner loop's invariant,
     * so it stays in L1 (or L2) while A panels stream past it.
     */
    private static void macroKernel(float[] ap, boolean colA, int i0, int rows, PackedB pb, int q0, int q1, int first,
                                    boolean add, Workspace ws) {
        int addC = add ? 1 : 0, kc = pb.kc;
        float[] tile = ws.tile;
        Outputs o = pb.o;
        for (int s = q0; s < q1; s++) {
            int q = first + (s - q0);
            if (q >= q1) q -= q1 - q0;
            pb.ensurePacked(q);
            int g = pb.g0 + q, j = o.product(g), col0 = o.col0(g);
            int cols = Math.min(NR, o.n[j] - col0), ldc = o.ldc[j];
            float[] c = o.c[j];
            int cBase = o.cOff[j] + i0 * ldc + col0;
            for (int ir = 0; ir < rows; ir += MR) {
                kernel(colA, kc, ap, ir * KC, pb.bp, q * kc * NR, tile, 0);
                updateC(tile, c, cBase + ir * ldc, ldc, Math.min(MR, rows - ir), cols, addC);
            }
        }
    }

    /**
     * The micro-kernel: tile[to …] (MR × NR, row-major) = A panel · B micro-panel over kc steps, as one fused
     * multiply-add chain per element from 0. It writes a tile (scratch, or the first k block's sums of a packed
     * product) rather than adding into C so that it stays small and branch-free: C1
     * cannot compile these methods at all (too many virtual registers), and a profile-driven branch that flips late
     * would send C2's code back to the interpreter, where vector code runs a thousand times slower.
     */
    private static void kernel(boolean colA, int kc, float[] a, int ai, float[] b, int bi, float[] tile, int to) {
        if (MR == 8) {   // constant-folded
            if (colA) kernelColA8(kc, a, ai, b, bi, tile, to);
            else kernelRowA8(kc, a, ai, b, bi, tile, to);
        } else {
            if (colA) kernelColA4(kc, a, ai, b, bi, tile, to);
            else kernelRowA4(kc, a, ai, b, bi, tile, to);
        }
    }

    /**
     * t[to …] += A panel · B micro-panel (A packed row by row): the later k blocks of a packed product, added to its
     * sums in the kernel's epilogue as chain + old, the bits of the chain from 0 added to them afterwards. A pass over
     * a scratch tile instead cost 3–5 % of a small model's prompt (`Multi`, both ways in one JVM, bsmall, 2 runs of 10
     * rounds). The add kernels repeat the store kernels' loop on purpose: one kernel for both, its epilogue's adds
     * masked by a flag, made the prompt 8 % slower than the separate pass.
     */
    private static void kernelAdd(int kc, float[] a, int ai, float[] b, int bi, float[] t, int to) {
        if (MR == 8) kernelRowA8Add(kc, a, ai, b, bi, t, to);
        else kernelRowA4Add(kc, a, ai, b, bi, t, to);
    }

    /**
     * C = (addC == 1 ? C : 0) + tile over a rows × cols corner of the tile. Full tiles use vectors; the masked loads
     * read nothing (zeros) when overwriting, so old NaNs vanish, and the mask comes from a compare, not a branch.
     * Partial tiles (past m or n) do the same sums in scalar code, so every element gets the same bits either way.
     */
    private static void updateC(float[] tile, float[] c, int ci, int ldc, int rows, int cols, int addC) {
        if (rows == MR && cols == NR) {
            VectorMask<Float> load = FloatVector.broadcast(S, (float) addC).compare(VectorOperators.NE, 0f);
            for (int r = 0; r < MR; r++, ci += ldc) {
                FloatVector.fromArray(S, c, ci, load).add(FloatVector.fromArray(S, tile, r * NR)).intoArray(c, ci);
                FloatVector.fromArray(S, c, ci + V, load).add(FloatVector.fromArray(S, tile, r * NR + V)).intoArray(c, ci + V);
            }
        } else {
            for (int r = 0; r < rows; r++, ci += ldc) {
                for (int j = 0; j < cols; j++) c[ci + j] = (addC != 0 ? c[ci + j] : 0f) + tile[r * NR + j];
            }
        }
    }

    /**
     * One k block [pc, pc+kc) × micro-panels [g0, g0+panels) of the outputs' B operands, packed into bp (panel
     * g0 + q at q*kc*NR: kc rows of NR floats, zero-padded past its product's last column). When shared, each panel
     * is packed once, on first use, by whichever thread gets there first; the others wait for it (a few microseconds).
     */
    private static final class PackedB {
        private static final int TODO = 0, PACKING = 1, READY = 2, FAILED = 3;
        final Outputs o;
        final float[] bp;
        final int pc, kc, g0;
        /** Which panels are packed, when the threads share them; null when the caller packs them all itself. */
        private final AtomicIntegerArray state;

        PackedB(Outputs o, int pc, int kc, int g0, int panels, float[] bp, boolean shared) {
            this.o = o;
            this.pc = pc; this.kc = kc; this.g0 = g0; this.bp = bp;
            this.state = shared ? new AtomicIntegerArray(panels) : null;
        }

        void ensurePacked(int q) {
            if (state == null || state.get(q) == READY) return;
            if (state.compareAndSet(q, TODO, PACKING)) {
                try {
                    pack(q);
                } catch (Throwable e) {
                    state.set(q, FAILED);
                    throw e;
                }
                state.set(q, READY);   // publishes the packed panel
                return;
            }
            for (int spins = 0; ; spins++) {
                int s = state.get(q);
                if (s == READY) return;
                if (s == FAILED) throw new IllegalStateException("packing a panel of B failed on another thread");
                if (spins < 10_000) Thread.onSpinWait();
                else Thread.yield();   // the packer may have been descheduled
            }
        }

        /**
         * Untransposed B: vector copies of NR floats a row. Transposed B (the weight in the forward pass): a scalar
         * transpose, done once per product and amortised over all m rows.
         */
        void pack(int q) {
            int g = g0 + q, j = o.product(g), j0 = o.col0(g), cols = Math.min(NR, o.n[j] - j0), dst = q * kc * NR;
            float[] b = o.b[j];
            int bOff = o.bOff[j], ldb = o.ldb[j];
            if (!o.transB) {
                int src = bOff + pc * ldb + j0;
                if (cols == NR) {
                    for (int p = 0; p < kc; p++, src += ldb, dst += NR) {
                        FloatVector.fromArray(S, b, src).intoArray(bp, dst);
                        FloatVector.fromArray(S, b, src + V).intoArray(bp, dst + V);
                    }
                } else {
                    VectorMask<Float> m0 = S.indexInRange(0, cols), m1 = S.indexInRange(V, cols);
                    for (int p = 0; p < kc; p++, src += ldb, dst += NR) {
                        FloatVector.fromArray(S, b, src, m0).intoArray(bp, dst);
                        FloatVector.fromArray(S, b, src + V, m1).intoArray(bp, dst + V);
                    }
                }
            } else {
                for (int jj = 0; jj < NR; jj++) {
                    if (jj < cols) {
                        int src = bOff + (j0 + jj) * ldb + pc;
                        for (int p = 0; p < kc; p++) bp[dst + p * NR + jj] = b[src + p];
                    } else {
                        for (int p = 0; p < kc; p++) bp[dst + p * NR + jj] = 0f;
                    }
                }
            }
        }
    }

    /**
     * Packs rows [i0, i0+rows) × k range [pc, pc+kc) of A into MR-row panels of ap (panel at ir*KC), zero-padding
     * the last panel. Untransposed A is copied row by row (row r of a panel at r*KC, consecutive p adjacent: plain
     * copies, no transpose). Transposed A is copied column by column (the MR values of one p adjacent), reading each
     * source row (fixed p) once, sequentially, rather than striding through memory panel by panel.
     */
    private static void packA(float[] a, int aOff, int lda, boolean transA, int i0, int rows, int pc, int kc, float[] ap, int apOff) {
        int padded = roundUp(rows, MR);
        if (!transA) {
            for (int r = 0; r < padded; r++) {
                int dst = apOff + r * KC;
                if (r < rows) System.arraycopy(a, aOff + (i0 + r) * lda + pc, ap, dst, kc);
                else Arrays.fill(ap, dst, dst + kc, 0f);
            }
        } else {
            int full = rows - rows % MR;
            for (int p = 0; p < kc; p++) {
                int src = aOff + (pc + p) * lda + i0, dst = apOff + p * MR;
                for (int ir = 0; ir < full; ir += MR, src += MR, dst += MR * KC) {
                    for (int r = 0; r < MR; r++) ap[dst + r] = a[src + r];
                }
                if (full < rows) {
                    for (int r = 0; r < MR; r++) ap[dst + r] = r < rows - full ? a[src + r] : 0f;
                }
            }
        }
    }

    private static int ceilDiv(int x, int y) { return Math.ceilDiv(x, y); }

    private static int roundUp(int x, int y) { return ceilDiv(x, y) * y; }

    // ---------------------------------------------------------------------------------------------------------
    // Micro-kernels: an MR x NR tile from kc rank-1 updates, the accumulators held in registers

    /** 8 × 2V kernel (AVX-512: 16 accumulators of the 32 registers), A packed row by row (row r at ai + r*KC). */
    private static void kernelRowA8(int kc, float[] a, int ai, float[] b, int bi, float[] t, int to) {
        FloatVector c00 = FloatVector.zero(S), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00,
                c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00, c60 = c00, c61 = c00, c70 = c00, c71 = c00;
        for (int p = 0; p < kc; p++) {
            FloatVector b0 = FloatVector.fromArray(S, b, bi), b1 = FloatVector.fromArray(S, b, bi + V);
            FloatVector x;
            x = FloatVector.broadcast(S, a[ai]); c00 = b0.fma(x, c00); c01 = b1.fma(x, c01);
            x = FloatVector.broadcast(S, a[ai + 1 * KC]); c10 = b0.fma(x, c10); c11 = b1.fma(x, c11);
            x = FloatVector.broadcast(S, a[ai + 2 * KC]); c20 = b0.fma(x, c20); c21 = b1.fma(x, c21);
            x = FloatVector.broadcast(S, a[ai + 3 * KC]); c30 = b0.fma(x, c30); c31 = b1.fma(x, c31);
            x = FloatVector.broadcast(S, a[ai + 4 * KC]); c40 = b0.fma(x, c40); c41 = b1.fma(x, c41);
            x = FloatVector.broadcast(S, a[ai + 5 * KC]); c50 = b0.fma(x, c50); c51 = b1.fma(x, c51);
            x = FloatVector.broadcast(S, a[ai + 6 * KC]); c60 = b0.fma(x, c60); c61 = b1.fma(x, c61);
            x = FloatVector.broadcast(S, a[ai + 7 * KC]); c70 = b0.fma(x, c70); c71 = b1.fma(x, c71);
            ai += 1;
            bi += NR;
        }
        c00.intoArray(t, to); c01.intoArray(t, to + V);
        c10.intoArray(t, to + 1 * NR); c11.intoArray(t, to + 1 * NR + V);
        c20.intoArray(t, to + 2 * NR); c21.intoArray(t, to + 2 * NR + V);
        c30.intoArray(t, to + 3 * NR); c31.intoArray(t, to + 3 * NR + V);
        c40.intoArray(t, to + 4 * NR); c41.intoArray(t, to + 4 * NR + V);
        c50.intoArray(t, to + 5 * NR); c51.intoArray(t, to + 5 * NR + V);
        c60.intoArray(t, to + 6 * NR); c61.intoArray(t, to + 6 * NR + V);
        c70.intoArray(t, to + 7 * NR); c71.intoArray(t, to + 7 * NR + V);
    }

    /** {@link #kernelRowA8} adding its tile to t: t = chain + t. */
    private static void kernelRowA8Add(int kc, float[] a, int ai, float[] b, int bi, float[] t, int to) {
        FloatVector c00 = FloatVector.zero(S), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00,
                c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00, c60 = c00, c61 = c00, c70 = c00, c71 = c00;
        for (int p = 0; p < kc; p++) {
            FloatVector b0 = FloatVector.fromArray(S, b, bi), b1 = FloatVector.fromArray(S, b, bi + V);
            FloatVector x;
            x = FloatVector.broadcast(S, a[ai]); c00 = b0.fma(x, c00); c01 = b1.fma(x, c01);
            x = FloatVector.broadcast(S, a[ai + 1 * KC]); c10 = b0.fma(x, c10); c11 = b1.fma(x, c11);
            x = FloatVector.broadcast(S, a[ai + 2 * KC]); c20 = b0.fma(x, c20); c21 = b1.fma(x, c21);
            x = FloatVector.broadcast(S, a[ai + 3 * KC]); c30 = b0.fma(x, c30); c31 = b1.fma(x, c31);
            x = FloatVector.broadcast(S, a[ai + 4 * KC]); c40 = b0.fma(x, c40); c41 = b1.fma(x, c41);
            x = FloatVector.broadcast(S, a[ai + 5 * KC]); c50 = b0.fma(x, c50); c51 = b1.fma(x, c51);
            x = FloatVector.broadcast(S, a[ai + 6 * KC]); c60 = b0.fma(x, c60); c61 = b1.fma(x, c61);
            x = FloatVector.broadcast(S, a[ai + 7 * KC]); c70 = b0.fma(x, c70); c71 = b1.fma(x, c71);
            ai += 1;
            bi += NR;
        }
        c00.add(FloatVector.fromArray(S, t, to)).intoArray(t, to); c01.add(FloatVector.fromArray(S, t, to + V)).intoArray(t, to + V);
        c10.add(FloatVector.fromArray(S, t, to + 1 * NR)).intoArray(t, to + 1 * NR); c11.add(FloatVector.fromArray(S, t, to + 1 * NR + V)).intoArray(t, to + 1 * NR + V);
        c20.add(FloatVector.fromArray(S, t, to + 2 * NR)).intoArray(t, to + 2 * NR); c21.add(FloatVector.fromArray(S, t, to + 2 * NR + V)).intoArray(t, to + 2 * NR + V);
        c30.add(FloatVector.fromArray(S, t, to + 3 * NR)).intoArray(t, to + 3 * NR); c31.add(FloatVector.fromArray(S, t, to + 3 * NR + V)).intoArray(t, to + 3 * NR + V);
        c40.add(FloatVector.fromArray(S, t, to + 4 * NR)).intoArray(t, to + 4 * NR); c41.add(FloatVector.fromArray(S, t, to + 4 * NR + V)).intoArray(t, to + 4 * NR + V);
        c50.add(FloatVector.fromArray(S, t, to + 5 * NR)).intoArray(t, to + 5 * NR); c51.add(FloatVector.fromArray(S, t, to + 5 * NR + V)).intoArray(t, to + 5 * NR + V);
        c60.add(FloatVector.fromArray(S, t, to + 6 * NR)).intoArray(t, to + 6 * NR); c61.add(FloatVector.fromArray(S, t, to + 6 * NR + V)).intoArray(t, to + 6 * NR + V);
        c70.add(FloatVector.fromArray(S, t, to + 7 * NR)).intoArray(t, to + 7 * NR); c71.add(FloatVector.fromArray(S, t, to + 7 * NR + V)).intoArray(t, to + 7 * NR + V);
    }

    /** 8 × 2V kernel, A packed column by column (the 8 values of one p adjacent). */
    private static void kernelColA8(int kc, float[] a, int ai, float[] b, int bi, float[] t, int to) {
        FloatVector c00 = FloatVector.zero(S), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00,
                c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00, c60 = c00, c61 = c00, c70 = c00, c71 = c00;
        for (int p = 0; p < kc; p++) {
            FloatVector b0 = FloatVector.fromArray(S, b, bi), b1 = FloatVector.fromArray(S, b, bi + V);
            FloatVector x;
            x = FloatVector.broadcast(S, a[ai]); c00 = b0.fma(x, c00); c01 = b1.fma(x, c01);
            x = FloatVector.broadcast(S, a[ai + 1]); c10 = b0.fma(x, c10); c11 = b1.fma(x, c11);
            x = FloatVector.broadcast(S, a[ai + 2]); c20 = b0.fma(x, c20); c21 = b1.fma(x, c21);
            x = FloatVector.broadcast(S, a[ai + 3]); c30 = b0.fma(x, c30); c31 = b1.fma(x, c31);
            x = FloatVector.broadcast(S, a[ai + 4]); c40 = b0.fma(x, c40); c41 = b1.fma(x, c41);
            x = FloatVector.broadcast(S, a[ai + 5]); c50 = b0.fma(x, c50); c51 = b1.fma(x, c51);
            x = FloatVector.broadcast(S, a[ai + 6]); c60 = b0.fma(x, c60); c61 = b1.fma(x, c61);
            x = FloatVector.broadcast(S, a[ai + 7]); c70 = b0.fma(x, c70); c71 = b1.fma(x, c71);
            ai += 8;
            bi += NR;
        }
        c00.intoArray(t, to); c01.intoArray(t, to + V);
        c10.intoArray(t, to + 1 * NR); c11.intoArray(t, to + 1 * NR + V);
        c20.intoArray(t, to + 2 * NR); c21.intoArray(t, to + 2 * NR + V);
        c30.intoArray(t, to + 3 * NR); c31.intoArray(t, to + 3 * NR + V);
        c40.intoArray(t, to + 4 * NR); c41.intoArray(t, to + 4 * NR + V);
        c50.intoArray(t, to + 5 * NR); c51.intoArray(t, to + 5 * NR + V);
        c60.intoArray(t, to + 6 * NR); c61.intoArray(t, to + 6 * NR + V);
        c70.intoArray(t, to + 7 * NR); c71.intoArray(t, to + 7 * NR + V);
    }

    /** 4 × 2V kernel for 16-register machines (AVX2: 8 accumulators), A packed row by row. */
    private static void kernelRowA4(int kc, float[] a, int ai, float[] b, int bi, float[] t, int to) {
        FloatVector c00 = FloatVector.zero(S), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00,
                c31 = c00;
        for (int p = 0; p < kc; p++) {
            FloatVector b0 = FloatVector.fromArray(S, b, bi), b1 = FloatVector.fromArray(S, b, bi + V);
            FloatVector x;
            x = FloatVector.broadcast(S, a[ai]); c00 = b0.fma(x, c00); c01 = b1.fma(x, c01);
            x = FloatVector.broadcast(S, a[ai + 1 * KC]); c10 = b0.fma(x, c10); c11 = b1.fma(x, c11);
            x = FloatVector.broadcast(S, a[ai + 2 * KC]); c20 = b0.fma(x, c20); c21 = b1.fma(x, c21);
            x = FloatVector.broadcast(S, a[ai + 3 * KC]); c30 = b0.fma(x, c30); c31 = b1.fma(x, c31);
            ai += 1;
            bi += NR;
        }
        c00.intoArray(t, to); c01.intoArray(t, to + V);
        c10.intoArray(t, to + 1 * NR); c11.intoArray(t, to + 1 * NR + V);
        c20.intoArray(t, to + 2 * NR); c21.intoArray(t, to + 2 * NR + V);
        c30.intoArray(t, to + 3 * NR); c31.intoArray(t, to + 3 * NR + V);
    }

    /** {@link #kernelRowA4} adding its tile to t: t = chain + t. */
    private static void kernelRowA4Add(int kc, float[] a, int ai, float[] b, int bi, float[] t, int to) {
        FloatVector c00 = FloatVector.zero(S), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00,
                c31 = c00;
        for (int p = 0; p < kc; p++) {
            FloatVector b0 = FloatVector.fromArray(S, b, bi), b1 = FloatVector.fromArray(S, b, bi + V);
            FloatVector x;
            x = FloatVector.broadcast(S, a[ai]); c00 = b0.fma(x, c00); c01 = b1.fma(x, c01);
            x = FloatVector.broadcast(S, a[ai + 1 * KC]); c10 = b0.fma(x, c10); c11 = b1.fma(x, c11);
            x = FloatVector.broadcast(S, a[ai + 2 * KC]); c20 = b0.fma(x, c20); c21 = b1.fma(x, c21);
            x = FloatVector.broadcast(S, a[ai + 3 * KC]); c30 = b0.fma(x, c30); c31 = b1.fma(x, c31);
            ai += 1;
            bi += NR;
        }
        c00.add(FloatVector.fromArray(S, t, to)).intoArray(t, to); c01.add(FloatVector.fromArray(S, t, to + V)).intoArray(t, to + V);
        c10.add(FloatVector.fromArray(S, t, to + 1 * NR)).intoArray(t, to + 1 * NR); c11.add(FloatVector.fromArray(S, t, to + 1 * NR + V)).intoArray(t, to + 1 * NR + V);
        c20.add(FloatVector.fromArray(S, t, to + 2 * NR)).intoArray(t, to + 2 * NR); c21.add(FloatVector.fromArray(S, t, to + 2 * NR + V)).intoArray(t, to + 2 * NR + V);
        c30.add(FloatVector.fromArray(S, t, to + 3 * NR)).intoArray(t, to + 3 * NR); c31.add(FloatVector.fromArray(S, t, to + 3 * NR + V)).intoArray(t, to + 3 * NR + V);
    }

    /** 4 × 2V kernel, A packed column by column. */
    private static void kernelColA4(int kc, float[] a, int ai, float[] b, int bi, float[] t, int to) {
        FloatVector c00 = FloatVector.zero(S), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00,
                c31 = c00;
        for (int p = 0; p < kc; p++) {
            FloatVector b0 = FloatVector.fromArray(S, b, bi), b1 = FloatVector.fromArray(S, b, bi + V);
            FloatVector x;
            x = FloatVector.broadcast(S, a[ai]); c00 = b0.fma(x, c00); c01 = b1.fma(x, c01);
            x = FloatVector.broadcast(S, a[ai + 1]); c10 = b0.fma(x, c10); c11 = b1.fma(x, c11);
            x = FloatVector.broadcast(S, a[ai + 2]); c20 = b0.fma(x, c20); c21 = b1.fma(x, c21);
            x = FloatVector.broadcast(S, a[ai + 3]); c30 = b0.fma(x, c30); c31 = b1.fma(x, c31);
            ai += 4;
            bi += NR;
        }
        c00.intoArray(t, to); c01.intoArray(t, to + V);
        c10.intoArray(t, to + 1 * NR); c11.intoArray(t, to + 1 * NR + V);
        c20.intoArray(t, to + 2 * NR); c21.intoArray(t, to + 2 * NR + V);
        c30.intoArray(t, to + 3 * NR); c31.intoArray(t, to + 3 * NR + V);
    }


    // ---------------------------------------------------------------------------------------------------------
    // Thread pool

    /**
     * Runs body.run(i, thread) for i in [0, n) on the pool, thread in [0, threads()); returns when all are done;
     * rethrows the first exception. A call from inside a running job runs inline on that thread.
     */
    public void parallelFor(int n, IndexBody body) {
        pool.run(n, body::run);
    }

    /** Stops the worker threads if this Gemm owns them (idempotent); products still work afterwards, on the caller. */
    @Override
    public void close() {
        if (ownsPool) pool.close();
    }
}
