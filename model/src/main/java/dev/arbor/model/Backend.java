package dev.arbor.model;

/**
 * The seam between the model's maths and the hardware that runs its heavy work: the matrix
 * products (weights in their stored dtype, F32 activations and accumulation) and causal attention
 * against the KV cache. {@link LlamaModel} keeps the rest (embedding, norms, RoPE, masks,
 * residuals), which is element-wise and cheap. The CPU implementation is {@link CpuBackend}; a CUDA
 * implementation goes behind the same calls (DESIGN.md, Compute).
 *
 * <p>Contract, for every implementation: each output row depends only on its own input row and
 * sequence (so a batch equals its sequences run alone), and results do not depend on the number
 * of threads.
 */
interface Backend extends AutoCloseable {
    /** Compute threads (CPU) or streams; informational. */
    int threads();

    /**
     * ys[j] = x·ws[j]ᵀ for each weight, x [rows, K] row-major, ys[j] [rows, N_j]. The plan says
     * which rows are prompt segments and which single decode rows (see {@link RowPlan}).
     */
    void linear(float[] x, int rows, Weight[] ws, float[][] ys, RowPlan plan);

    /**
     * z = silu(x·gateᵀ) ⊙ (x·upᵀ) (⊙ mask, if not null): the first half of an MLP, z [rows, N]. By default the two
     * products into buffers from the scratch (each at least rows·N floats), then SwiGLU row by row
     * ({@link Ops#swiglu}); an implementation may fuse them, with the same bits, and then never asks for the scratch.
     */
    default void linearSwiGLU(float[] x, int rows, Weight gate, Weight up, float[] z, float[] mask, RowPlan plan,
                              ProductScratch scratch) {
        float[][] gateUp = scratch.gateAndUp();
        linear(x, rows, new Weight[]{gate, up}, gateUp, plan);
        int f = gate.rows();
        forRows(rows, (r0, r1) -> Ops.swiglu(gateUp[0], gateUp[1], z, r0, r1, f, mask));
    }

    /**
     * out = z·downᵀ after z = {@link #linearSwiGLU}: a whole MLP, out [rows, N_down]. z is the implementation's to
     * use ([rows, N] floats at least); afterwards its contents are unspecified (an implementation may keep SwiGLU's
     * output there in another layout). The same bits as the two calls.
     */
    default void mlp(float[] x, int rows, Weight gate, Weight up, Weight down, float[] z, float[] mask, float[] out, RowPlan plan,
                     ProductScratch scratch) {
        linearSwiGLU(x, rows, gate, up, z, mask, plan, scratch);
        linear(z, rows, new Weight[]{down}, new float[][]{out}, plan);
    }

    /** Buffers for the gate and up products of {@link #linearSwiGLU}, made when first asked for. */
    @FunctionalInterface
    interface ProductScratch { float[][] gateAndUp(); }

    /**
     * Causal softmax attention of layer l for every row r and query head j of a batch: row r is
     * at position rowPos[r] of sequence rowSeq[r], whose cache already holds that position's key
     * and value; q and out are [rows, heads·headDim]. Query head j reads kv head j / (heads / kvHeads).
     */
    void attention(int l, float[] q, Sequence[] rowSeq, int[] rowPos, int rows, int heads, int kvHeads, int headDim,
                   float scale, float[] out);

    /**
     * Runs body(r0, r1) over disjoint ranges that cover rows [0, rows): the element-wise steps
     * of a layer (norms, RoPE and the cache writes, SwiGLU, residuals), which each row does on its
     * own. A prompt's rows are shared between threads; a few decode rows run on the caller.
     */
    void forRows(int rows, RowRange body);

    @FunctionalInterface
    interface RowRange { void run(int r0, int r1); }

    /**
     * Reads once, as fast as the hardware streams them, the bytes a decode step reads for these
     * weights (where the backend keeps a copy of them in another layout, the copy), and returns how
     * many bytes it read and how long the reading took: the bandwidth that bounds decode.
     */
    MachineLimits.Read read(Weight[] ws);

    @Override void close();
}
