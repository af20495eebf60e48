package dev.arbor.train;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

import java.util.Arrays;
import java.util.Objects;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.LockSupport;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Deterministic single-precision GEMM for the training engine: C = A·B or C += A·B with optional transposes,
 * on a fixed pool of threads.
 *
 * <p>Structure (as in BLIS): the k dimension is cut into blocks of {@link #KC}; for each block a panel of B
 * (KC × up to {@link #NC} columns) is packed once into NR-wide micro-panels shared by all threads, then the
 * output is cut into tasks (row blocks of up to {@link #MC} rows × ranges of micro-panels). Each task packs its
 * rows of A into a per-thread buffer and runs an MR × NR register-blocked micro-kernel over them: the
 * B micro-panel (KC × NR = 32 KB for 512-bit vectors) stays in L1 while the A block (MC × KC = 256 KB)
 * streams from L2.
 *
 * <p>Determinism: every C element is computed the same way whatever the thread count or the task split:
 * for each k block in order, a fused multiply-add chain over that block's p in order, starting from 0,
 * then added to C (or stored, for the first block when not accumulating). Threads only partition the output,
 * never k, and the blocking (KC) is a constant, so results are bitwise identical for any pool size and
 * between {@link #multiply} and {@link #multiplySerial}.
 */
final class Gemm implements AutoCloseable {

    @FunctionalInterface
    interface IndexBody { void run(int index, int thread); }

    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int V = S.length();
    /** Micro-tile: MR rows × NR columns = 8 × 2 vectors, 16 accumulator registers (of 32 with AVX-512). */
    static final int MR = 8;
    static final int NR = 2 * V;
    /** k block: a KC × NR micro-panel of B (32 KB with 16-float vectors) fits the 48 KB L1 next to the A stream. */
    static final int KC = 256;
    /** Row block of A per task (MC × KC floats = 256 KB, kept in the 1 MB L2). */
    static final int MC = 256;
    /** Column block of B packed at once (KC × NC floats = 4 MB, shared by the threads, lives in L3). */
    static final int NC = 4096;
    /** Products smaller than this (m·n·k) run on the calling thread: waking the pool would cost more. */
    private static final long PARALLEL_MIN_WORK = 1L << 18;

    private final int threads;
    private final Worker[] workers;          // workers[t] runs as thread id t (t >= 1); the caller is thread 0
    private final Workspace[] workspaces;    // per thread id; workspaces[0].b is the shared packed B panel
    private final ReentrantLock multiplyLock = new ReentrantLock();
    private final Object submitLock = new Object();
    private volatile boolean closed;

    /** Packing buffers for the calling threads of multiplySerial (each may run concurrently). */
    private static final ThreadLocal<Workspace> SERIAL_WORKSPACE = ThreadLocal.withInitial(Workspace::new);

    // the current parallelFor job, published to the workers by the volatile write of 'generation'
    private IndexBody jobBody;
    private int jobCount;
    private final AtomicInteger jobNext = new AtomicInteger();
    private final AtomicInteger jobPending = new AtomicInteger();
    private final AtomicReference<Throwable> jobError = new AtomicReference<>();
    private volatile long generation;
    private volatile Thread jobCaller;

    Gemm(int threads) {
        if (threads < 1) throw new IllegalArgumentException("threads must be >= 1: " + threads);
        this.threads = threads;
        this.workspaces = new Workspace[threads];
        for (int t = 0; t < threads; t++) workspaces[t] = new Workspace();
        this.workers = new Worker[threads];
        for (int t = 1; t < threads; t++) {
            workers[t] = new Worker(t);
            workers[t].start();
        }
    }

    int threads() { return threads; }

    /**
     * C = A·B (accumulate=false: C's old contents are ignored, even NaN) or C += A·B (accumulate=true), on the pool.
     * A is m×k: stored row-major at a[aOff + i*lda + p] when !transA, or as its transpose (k×m) at
     * a[aOff + p*lda + i] when transA. B is k×n: row-major at b[bOff + p*ldb + j] when !transB, or transposed (n×k)
     * at b[bOff + j*ldb + p] when transB. C is m×n row-major at c[cOff + i*ldc + j].
     */
    void multiply(int m, int n, int k,
                  float[] a, int aOff, int lda, boolean transA,
                  float[] b, int bOff, int ldb, boolean transB,
                  float[] c, int cOff, int ldc, boolean accumulate) {
        if (!checkTrivial(m, n, k, a, aOff, lda, transA, b, bOff, ldb, transB, c, cOff, ldc, accumulate)) return;
        if (threads == 1 || (long) m * n * k < PARALLEL_MIN_WORK || selfId(Thread.currentThread()) >= 0) {
            // small, or called from inside a pool job (whose threads are all busy): same result, computed here
            gemmSerial(m, n, k, a, aOff, lda, transA, b, bOff, ldb, transB, c, cOff, ldc, accumulate, SERIAL_WORKSPACE.get());
            return;
        }
        multiplyLock.lock();   // the shared B panel and the per-thread buffers serve one product at a time
        try {
            gemmParallel(m, n, k, a, aOff, lda, transA, b, bOff, ldb, transB, c, cOff, ldc, accumulate);
        } finally {
            multiplyLock.unlock();
        }
    }

    /** The same product computed on the calling thread only (for callers that parallelise over many small products). */
    void multiplySerial(int m, int n, int k,
                        float[] a, int aOff, int lda, boolean transA,
                        float[] b, int bOff, int ldb, boolean transB,
                        float[] c, int cOff, int ldc, boolean accumulate) {
        if (!checkTrivial(m, n, k, a, aOff, lda, transA, b, bOff, ldb, transB, c, cOff, ldc, accumulate)) return;
        gemmSerial(m, n, k, a, aOff, lda, transA, b, bOff, ldb, transB, c, cOff, ldc, accumulate, SERIAL_WORKSPACE.get());
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

    /** Buffers of one thread: a packed A block, a scratch C tile, and (workspace 0 / serial use) a packed B panel. */
    private static final class Workspace {
        final float[] a = new float[MC * KC];
        final float[] tile = new float[MR * NR];
        float[] b = new float[0];

        float[] b(int size) {
            if (b.length < size) b = new float[size];
            return b;
        }
    }

    private void gemmParallel(int m, int n, int k,
                              float[] a, int aOff, int lda, boolean transA,
                              float[] b, int bOff, int ldb, boolean transB,
                              float[] c, int cOff, int ldc, boolean accumulate) {
        // Output tasks: balanced row blocks (multiples of MR), split further by micro-panel ranges when there
        // are too few row blocks to keep the threads busy. The split only decides who computes a tile.
        int rowBlocks = ceilDiv(m, MC);
        int mc = roundUp(ceilDiv(m, rowBlocks), MR);
        for (int jc = 0; jc < n; jc += NC) {
            int nc = Math.min(NC, n - jc);
            int panels = ceilDiv(nc, NR);
            int colSplits = Math.max(1, Math.min(panels, ceilDiv(2 * threads, rowBlocks)));
            float[] bp = workspaces[0].b(panels * NR * KC);
            for (int pc = 0; pc < k; pc += KC) {
                int kc = Math.min(KC, k - pc);
                boolean add = accumulate || pc > 0;
                int jc0 = jc, pc0 = pc;
                parallelFor(panels, (q, t) -> packB(b, bOff, ldb, transB, pc0, kc, jc0, nc, q, bp));
                parallelFor(rowBlocks * colSplits, (task, t) -> {
                    int i0 = (task / colSplits) * mc, split = task % colSplits;
                    if (i0 >= m) return;
                    int rows = Math.min(mc, m - i0);
                    float[] ap = workspaces[t].a;
                    packA(a, aOff, lda, transA, i0, rows, pc0, kc, ap);
                    macroKernel(ap, transA, rows, bp, kc, split * panels / colSplits, (split + 1) * panels / colSplits,
                            nc, c, cOff + i0 * ldc + jc0, ldc, add, workspaces[t].tile);
                });
            }
        }
    }

    private static void gemmSerial(int m, int n, int k,
                                   float[] a, int aOff, int lda, boolean transA,
                                   float[] b, int bOff, int ldb, boolean transB,
                                   float[] c, int cOff, int ldc, boolean accumulate, Workspace ws) {
        for (int jc = 0; jc < n; jc += NC) {
            int nc = Math.min(NC, n - jc);
            int panels = ceilDiv(nc, NR);
            float[] bp = ws.b(panels * NR * KC);
            for (int pc = 0; pc < k; pc += KC) {
                int kc = Math.min(KC, k - pc);
                boolean add = accumulate || pc > 0;
                for (int q = 0; q < panels; q++) packB(b, bOff, ldb, transB, pc, kc, jc, nc, q, bp);
                for (int i0 = 0; i0 < m; i0 += MC) {
                    int rows = Math.min(MC, m - i0);
                    packA(a, aOff, lda, transA, i0, rows, pc, kc, ws.a);
                    macroKernel(ws.a, transA, rows, bp, kc, 0, panels, nc, c, cOff + i0 * ldc + jc, ldc, add, ws.tile);
                }
            }
        }
    }

    /**
     * Runs the micro-kernel over B micro-panels [q0, q1) × all MR-row panels of the packed A block.
     * The B micro-panel is the inner loop's invariant, so it stays in L1 while A panels stream past it.
     * Partial tiles (past m or n) go through a scratch tile so that the kernel itself has no edge branches
     * (a branch first taken late would deoptimise it, and interpreted vector code is very slow); the scratch
     * path computes the same (C or 0) + acc, so every element gets the same bits either way.
     */
    private static void macroKernel(float[] ap, boolean colA, int rows, float[] bp, int kc, int q0, int q1, int nc,
                                    float[] c, int cBase, int ldc, boolean add, float[] tile) {
        int addC = add ? 1 : 0;
        for (int q = q0; q < q1; q++) {
            int bi = q * kc * NR, cols = Math.min(NR, nc - q * NR);
            for (int ir = 0; ir < rows; ir += MR) {
                int ai = ir * KC, ci = cBase + ir * ldc + q * NR, r = Math.min(MR, rows - ir);
                if (r == MR && cols == NR) {
                    if (colA) kernelColA(kc, ap, ai, bp, bi, c, ci, ldc, addC);
                    else kernelRowA(kc, ap, ai, bp, bi, c, ci, ldc, addC);
                } else {
                    if (add) for (int i = 0; i < r; i++) System.arraycopy(c, ci + i * ldc, tile, i * NR, cols);
                    if (colA) kernelColA(kc, ap, ai, bp, bi, tile, 0, NR, addC);
                    else kernelRowA(kc, ap, ai, bp, bi, tile, 0, NR, addC);
                    for (int i = 0; i < r; i++) System.arraycopy(tile, i * NR, c, ci + i * ldc, cols);
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
    private static void packA(float[] a, int aOff, int lda, boolean transA, int i0, int rows, int pc, int kc, float[] ap) {
        int padded = roundUp(rows, MR);
        if (!transA) {
            for (int r = 0; r < padded; r++) {
                int dst = (r / MR) * MR * KC + (r % MR) * KC;
                if (r < rows) System.arraycopy(a, aOff + (i0 + r) * lda + pc, ap, dst, kc);
                else Arrays.fill(ap, dst, dst + kc, 0f);
            }
        } else {
            int full = rows - rows % MR;
            for (int p = 0; p < kc; p++) {
                int src = aOff + (pc + p) * lda + i0, dst = p * MR;
                for (int ir = 0; ir < full; ir += MR, src += MR, dst += MR * KC) {
                    for (int r = 0; r < MR; r++) ap[dst + r] = a[src + r];
                }
                if (full < rows) {
                    for (int r = 0; r < MR; r++) ap[dst + r] = r < rows - full ? a[src + r] : 0f;
                }
            }
        }
    }

    /**
     * Packs micro-panel q (columns jc+q*NR .. +NR, k range [pc, pc+kc)) of B into bp at q*kc*NR, as kc rows of NR
     * floats, zero-padding columns past nc. Untransposed B: vector copies. Transposed B (the weight in the forward
     * pass): a scalar transpose, done once per product and amortised over all m rows.
     */
    private static void packB(float[] b, int bOff, int ldb, boolean transB, int pc, int kc, int jc, int nc, int q, float[] bp) {
        int j0 = jc + q * NR, cols = Math.min(NR, nc - q * NR), dst = q * kc * NR;
        if (!transB) {
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

    private static int ceilDiv(int x, int y) { return (x + y - 1) / y; }

    private static int roundUp(int x, int y) { return ceilDiv(x, y) * y; }

    // ---------------------------------------------------------------------------------------------------------
    // Micro-kernels: an MR x NR tile of C from kc rank-1 updates, the 16 accumulators held in registers

    /** Micro-kernel for A packed row by row (row r of the panel at ai + r*KC; consecutive p adjacent). */
    private static void kernelRowA(int kc, float[] a, int ai, float[] b, int bi, float[] c, int ci, int ldc, int addC) {
        FloatVector c00 = FloatVector.zero(S), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00,
                c40 = c00, c41 = c00, c50 = c00, c51 = c00, c60 = c00, c61 = c00, c70 = c00, c71 = c00;
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
        // C += acc (addC = 1), or C = 0 + acc (addC = 0): the masked loads then read nothing, so old NaNs vanish.
        // The mask comes from a compare, not a branch: a branch that flips late would deoptimise this method.
        VectorMask<Float> l = FloatVector.broadcast(S, (float) addC).compare(VectorOperators.NE, 0f);
        FloatVector.fromArray(S, c, ci, l).add(c00).intoArray(c, ci);
        FloatVector.fromArray(S, c, ci + V, l).add(c01).intoArray(c, ci + V);
        ci += ldc;
        FloatVector.fromArray(S, c, ci, l).add(c10).intoArray(c, ci);
        FloatVector.fromArray(S, c, ci + V, l).add(c11).intoArray(c, ci + V);
        ci += ldc;
        FloatVector.fromArray(S, c, ci, l).add(c20).intoArray(c, ci);
        FloatVector.fromArray(S, c, ci + V, l).add(c21).intoArray(c, ci + V);
        ci += ldc;
        FloatVector.fromArray(S, c, ci, l).add(c30).intoArray(c, ci);
        FloatVector.fromArray(S, c, ci + V, l).add(c31).intoArray(c, ci + V);
        ci += ldc;
        FloatVector.fromArray(S, c, ci, l).add(c40).intoArray(c, ci);
        FloatVector.fromArray(S, c, ci + V, l).add(c41).intoArray(c, ci + V);
        ci += ldc;
        FloatVector.fromArray(S, c, ci, l).add(c50).intoArray(c, ci);
        FloatVector.fromArray(S, c, ci + V, l).add(c51).intoArray(c, ci + V);
        ci += ldc;
        FloatVector.fromArray(S, c, ci, l).add(c60).intoArray(c, ci);
        FloatVector.fromArray(S, c, ci + V, l).add(c61).intoArray(c, ci + V);
        ci += ldc;
        FloatVector.fromArray(S, c, ci, l).add(c70).intoArray(c, ci);
        FloatVector.fromArray(S, c, ci + V, l).add(c71).intoArray(c, ci + V);
    }

    /** Micro-kernel for A packed column by column (the MR values of one p adjacent). */
    private static void kernelColA(int kc, float[] a, int ai, float[] b, int bi, float[] c, int ci, int ldc, int addC) {
        FloatVector c00 = FloatVector.zero(S), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00,
                c40 = c00, c41 = c00, c50 = c00, c51 = c00, c60 = c00, c61 = c00, c70 = c00, c71 = c00;
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
            ai += MR;
            bi += NR;
        }
        // C += acc (addC = 1), or C = 0 + acc (addC = 0): the masked loads then read nothing, so old NaNs vanish.
        // The mask comes from a compare, not a branch: a branch that flips late would deoptimise this method.
        VectorMask<Float> l = FloatVector.broadcast(S, (float) addC).compare(VectorOperators.NE, 0f);
        FloatVector.fromArray(S, c, ci, l).add(c00).intoArray(c, ci);
        FloatVector.fromArray(S, c, ci + V, l).add(c01).intoArray(c, ci + V);
        ci += ldc;
        FloatVector.fromArray(S, c, ci, l).add(c10).intoArray(c, ci);
        FloatVector.fromArray(S, c, ci + V, l).add(c11).intoArray(c, ci + V);
        ci += ldc;
        FloatVector.fromArray(S, c, ci, l).add(c20).intoArray(c, ci);
        FloatVector.fromArray(S, c, ci + V, l).add(c21).intoArray(c, ci + V);
        ci += ldc;
        FloatVector.fromArray(S, c, ci, l).add(c30).intoArray(c, ci);
        FloatVector.fromArray(S, c, ci + V, l).add(c31).intoArray(c, ci + V);
        ci += ldc;
        FloatVector.fromArray(S, c, ci, l).add(c40).intoArray(c, ci);
        FloatVector.fromArray(S, c, ci + V, l).add(c41).intoArray(c, ci + V);
        ci += ldc;
        FloatVector.fromArray(S, c, ci, l).add(c50).intoArray(c, ci);
        FloatVector.fromArray(S, c, ci + V, l).add(c51).intoArray(c, ci + V);
        ci += ldc;
        FloatVector.fromArray(S, c, ci, l).add(c60).intoArray(c, ci);
        FloatVector.fromArray(S, c, ci + V, l).add(c61).intoArray(c, ci + V);
        ci += ldc;
        FloatVector.fromArray(S, c, ci, l).add(c70).intoArray(c, ci);
        FloatVector.fromArray(S, c, ci + V, l).add(c71).intoArray(c, ci + V);
    }

    // ---------------------------------------------------------------------------------------------------------
    // Thread pool

    /** Runs body.run(i, thread) for i in [0, n) on the pool, thread in [0, threads()); returns when all are done; rethrows the first exception. */
    void parallelFor(int n, IndexBody body) {
        if (n <= 0) return;
        Thread me = Thread.currentThread();
        int self = selfId(me);
        if (self >= 0 || threads == 1 || n == 1) {
            // a nested call from inside a running job, or nothing to share: run inline under this thread's own id
            int id = Math.max(self, 0);
            for (int i = 0; i < n; i++) body.run(i, id);
            return;
        }
        synchronized (submitLock) {
            if (closed) throw new IllegalStateException("Gemm pool is closed");
            jobBody = body;
            jobCount = n;
            jobNext.set(0);
            jobError.set(null);
            jobPending.set(threads - 1);
            jobCaller = me;
            generation = generation + 1;          // publishes the job
            for (int t = 1; t < threads; t++) LockSupport.unpark(workers[t]);
            runIndices(body, n, 0);
            long spinUntil = System.nanoTime() + SPIN_NANOS;
            while (jobPending.get() > 0) {        // wait for every worker to leave the job
                if (System.nanoTime() < spinUntil) Thread.onSpinWait();
                else LockSupport.parkNanos(this, 100_000);
            }
            jobCaller = null;
            jobBody = null;
            Throwable err = jobError.get();
            if (err != null) {
                if (err instanceof RuntimeException re) throw re;
                if (err instanceof Error e) throw e;
                throw new RuntimeException(err);
            }
        }
    }

    /** How long an idle thread spins before parking: covers the gap between the phases of one product. */
    private static final long SPIN_NANOS = 200_000;

    private int selfId(Thread me) {
        if (me instanceof Worker w && w.owner() == this) return w.id;
        if (me == jobCaller) return 0;
        return -1;
    }

    private void runIndices(IndexBody body, int n, int thread) {
        try {
            for (int i; (i = jobNext.getAndIncrement()) < n; ) body.run(i, thread);
        } catch (Throwable e) {
            jobError.compareAndSet(null, e);
            jobNext.set(n);   // stop handing out indices
        }
    }

    /** Stops the worker threads (idempotent). */
    @Override
    public void close() {
        synchronized (submitLock) {
            if (closed) return;
            closed = true;
            for (int t = 1; t < threads; t++) LockSupport.unpark(workers[t]);
        }
    }

    private final class Worker extends Thread {
        final int id;

        Worker(int id) {
            super("arbor-gemm-" + id);
            this.id = id;
            setDaemon(true);
        }

        Gemm owner() { return Gemm.this; }

        @Override
        public void run() {
            long seen = 0;
            while (true) {
                long spinUntil = System.nanoTime() + SPIN_NANOS;
                long g;
                while ((g = generation) == seen) {
                    if (closed) return;
                    if (System.nanoTime() < spinUntil) Thread.onSpinWait();
                    else LockSupport.park(this);
                }
                seen = g;
                runIndices(jobBody, jobCount, id);
                if (jobPending.decrementAndGet() == 0) {
                    Thread caller = jobCaller;
                    if (caller != null) LockSupport.unpark(caller);
                }
            }
        }
    }
}
