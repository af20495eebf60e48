package dev.arbor.model;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.arbor.format.ArborException;
import dev.arbor.format.LlamaConfig;
import dev.arbor.format.LlamaTensors;
import dev.arbor.format.ModelSource;
import dev.arbor.format.Tensor;

import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * HF {@code LlamaForCausalLM} on the CPU, with the MSG growth masks of GROWTH.md §2.
 *
 * <p>Weights stay in their stored dtype in the (memory-mapped) source and are widened to F32
 * inside the kernels; activations and accumulation are F32. Matrix products and attention run
 * on a {@link Backend} (all cores of the CPU). One model runs one forward at a time (calls are serialised);
 * batching is done by passing several {@link Sequence}s to one {@link #step} call, which is what
 * a server does at every decode step.
 *
 * <p>The model reads tensors from the source lazily: keep the source open while the model is
 * used. {@link #close} stops the threads; it does not close the source.
 */
public final class LlamaModel implements AutoCloseable {
    static final String MASK_HIDDEN = "model.grow_mask.hidden";

    /** One decoder layer's parameters; masks are null when absent (all ones), gate 1 when absent. */
    record Layer(float[] inputNorm, Weight q, Weight k, Weight v, Weight o, float[] postNorm,
                 Weight gate, Weight up, Weight down, float[] headMask, float[] ffnMask, float layerGate) {
        /** The layer's matrices, in the order a decode step reads them. */
        List<Weight> matrices() { return List.of(q, k, v, o, gate, up, down); }
    }

    private final LlamaConfig config;
    private final String where;
    final int hidden, heads, kvHeads, headDim, ffn, vocab, numLayers;
    final double eps;
    private final Tensor embedding;
    private final Weight lmHead;
    private final float[] finalNorm;
    final Layer[] layers;
    private final float[] hiddenMask;
    private final double hiddenMaskSum;
    private final Rope rope;
    /** Where the matrix products and attention run (the CPU now; see {@link Backend}). */
    private final Backend backend;
    private final List<Integer> eosIds;
    private final float attentionScale;
    private Workspace workspace;
    /** Caches released by finished sequences, for new ones. */
    final KvCachePool kvCaches;

    /** A model whose BF16/F32 weights are repacked at first use, or read in place (repack false). */
    LlamaModel(ModelSource src, int threads, boolean repack) {
        if (threads < 1) throw new ArborException("The number of threads must be at least 1.");
        this.where = src.describe();
        LlamaConfig cfg = src.requireConfig();
        cfg.requireLlama(where);
        this.config = cfg;
        hidden = cfg.hiddenSize();
        heads = cfg.numAttentionHeads();
        kvHeads = cfg.numKeyValueHeads();
        headDim = cfg.headDim();
        ffn = cfg.intermediateSize();
        vocab = cfg.vocabSize();
        numLayers = cfg.numHiddenLayers();
        eps = cfg.rmsNormEps();
        rope = new Rope(cfg, where);
        attentionScale = (float) (1.0 / Math.sqrt(headDim));
        kvCaches = new KvCachePool(numLayers, kvHeads, headDim);
        if ((long) vocab * hidden > Integer.MAX_VALUE || (long) ffn * hidden > Integer.MAX_VALUE
                || (long) heads * headDim * hidden > Integer.MAX_VALUE) {
            throw new ArborException(where + ": a weight matrix has more than 2^31 elements, which the CPU engine does not support.");
        }

        Map<String, long[]> expected = LlamaTensors.expectedShapes(cfg);
        for (Map.Entry<String, long[]> e : expected.entrySet()) check(src, e.getKey(), e.getValue());
        embedding = src.tensor("model.embed_tokens.weight");
        lmHead = Weight.of(cfg.tieWordEmbeddings() ? embedding : src.tensor("lm_head.weight"));
        finalNorm = src.tensor("model.norm.weight").toFloatArray();
        hiddenMask = mask(src, MASK_HIDDEN, hidden);
        hiddenMaskSum = hiddenMask == null ? hidden : sum(hiddenMask);
        if (hiddenMask != null && !(hiddenMaskSum > 0)) throw new ArborException(where + ": " + MASK_HIDDEN + " is all zeros.");
        layers = new Layer[numLayers];
        for (int l = 0; l < numLayers; l++) {
            float[] gate = mask(src, LlamaTensors.layer(l, "grow_mask"), 1);
            layers[l] = new Layer(
                    src.tensor(LlamaTensors.layer(l, "input_layernorm.weight")).toFloatArray(),
                    weight(src, l, "self_attn.q_proj.weight"), weight(src, l, "self_attn.k_proj.weight"),
                    weight(src, l, "self_attn.v_proj.weight"), weight(src, l, "self_attn.o_proj.weight"),
                    src.tensor(LlamaTensors.layer(l, "post_attention_layernorm.weight")).toFloatArray(),
                    weight(src, l, "mlp.gate_proj.weight"), weight(src, l, "mlp.up_proj.weight"),
                    weight(src, l, "mlp.down_proj.weight"),
                    mask(src, LlamaTensors.layer(l, "self_attn.grow_mask"), heads),
                    mask(src, LlamaTensors.layer(l, "mlp.grow_mask"), ffn),
                    gate == null ? 1f : gate[0]);
        }
        eosIds = readEos(src, cfg);
        backend = new CpuBackend(threads, repack);
    }

    /** Loads a model on all available processors. */
    public static LlamaModel load(ModelSource src) { return load(src, Runtime.getRuntime().availableProcessors()); }

    /**
     * Loads a model, checking the config (LLaMA only, supported rope_scaling), every tensor's
     * presence, shape and dtype, and the growth masks' shapes and values.
     * @throws ArborException with one sentence naming what is wrong
     */
    public static LlamaModel load(ModelSource src, int threads) {
        return new LlamaModel(src, threads, CpuBackend.REPACK_BY_DEFAULT);
    }

    /**
     * {@link #load(ModelSource, int)} for a single short job (one {@code generate} or {@code logits} run): BF16/F32
     * weights are read in place instead of repacked. Repacking pays off over many prompts and tokens, but a fresh
     * process first pays to fault in the copy (about 1 s per 512 MiB on the development VM): one-shot
     * {@code generate} of 16 tokens took 4.5–4.8 s repacked against 3.4–3.9 s in place for the small bf16 model,
     * 6.7–7.0 against 4.5–4.7 s for smol bf16 (BENCHMARKS.md, session 10). ARBOR_REPACK=1 repacks anyway.
     */
    public static LlamaModel loadForOneShot(ModelSource src, int threads) {
        return new LlamaModel(src, threads, CpuBackend.repack(false));
    }

    private void check(ModelSource src, String name, long[] shape) {
        if (!src.contains(name)) throw new ArborException(where + " lacks tensor '" + name + "'.");
        var info = src.info(name);
        if (!Arrays.equals(info.shape(), shape)) {
            throw new ArborException(where + ": tensor '" + name + "' has shape " + Arrays.toString(info.shape())
                    + " but config.json implies " + Arrays.toString(shape) + ".");
        }
        if (!Matmul.supports(info.dtype())) {
            throw new ArborException(where + ": tensor '" + name + "' is " + info.dtype().code() + "; the engine reads BF16, F16 and F32.");
        }
    }

    private static Weight weight(ModelSource src, int l, String rest) { return Weight.of(src.tensor(LlamaTensors.layer(l, rest))); }

    private float[] mask(ModelSource src, String name, int size) {
        if (!src.contains(name)) return null;
        var info = src.info(name);
        if (!Arrays.equals(info.shape(), new long[]{size}) || !info.dtype().isFloatingPoint()) {
            throw new ArborException(where + ": growth mask '" + name + "' must be a float tensor of shape [" + size
                    + "] but is " + info.dtype().code() + " " + Arrays.toString(info.shape()) + ".");
        }
        float[] m = src.tensor(name).toFloatArray();
        for (float x : m) {
            if (!(x >= 0f && x <= 1f)) throw new ArborException(where + ": growth mask '" + name + "' holds " + x + ", outside [0, 1].");
        }
        // A mask of ones is the plain model exactly (GROWTH.md §6); dropping it also keeps the
        // plain kernels' summation order, so a model at the end of its ramp computes bit for bit
        // what its folded export computes.
        boolean allOnes = true;
        for (float x : m) allOnes &= x == 1f;
        return allOnes ? null : m;
    }

    private static double sum(float[] a) {
        double s = 0;
        for (float x : a) s += x;
        return s;
    }

    private static List<Integer> readEos(ModelSource src, LlamaConfig cfg) {
        Optional<Path> gen = src.sideFile("generation_config.json");
        if (gen.isPresent()) {
            try {
                JsonNode n = new ObjectMapper().readTree(Files.readString(gen.get())).get("eos_token_id");
                List<Integer> ids = new ArrayList<>();
                if (n != null && n.isArray()) for (JsonNode x : n) ids.add(x.intValue());
                else if (n != null && n.isIntegralNumber()) ids.add(n.intValue());
                if (!ids.isEmpty()) return List.copyOf(ids);
            } catch (IOException | RuntimeException e) {
                throw new ArborException(gen.get() + " cannot be read as JSON.");
            }
        }
        return List.copyOf(cfg.eosTokenIds());
    }

    public LlamaConfig config() { return config; }

    public int vocabSize() { return vocab; }

    /** The longest sequence the model accepts (max_position_embeddings). */
    public int maxPositions() { return rope.maxPositions(); }

    /** End-of-sequence ids: generation_config.json's eos_token_id if present, else config.json's. */
    public List<Integer> eosIds() { return eosIds; }

    public int threads() { return backend.threads(); }

    /** Whether the checkpoint carries an MSG growth mask that is not all ones (masks of ones are dropped). */
    public boolean hasGrowthMasks() {
        if (hiddenMask != null) return true;
        for (Layer l : layers) if (l.headMask != null || l.ffnMask != null || l.layerGate != 1f) return true;
        return false;
    }

    /** Bytes of weights a decode step reads per token: every layer matrix and the LM head. */
    public long weightBytesPerToken() {
        long b = 0;
        for (Weight w : decodeWeights()) b += w.byteSize();
        return b;
    }

    /**
     * Floating-point operations (a multiply-add counts 2) of processing a prompt of n tokens into
     * an empty sequence with logits for its last token only, as {@link #step} does: every layer's
     * matrix products for all n rows, causal attention (the query at position p scores and sums
     * p + 1 keys and values: 4·head_dim FLOPs each per query head) and one row of the LM head.
     * Norms, RoPE and the softmax are left out (element-wise, a few FLOPs per value).
     */
    public double promptFlops(int n) {
        double layerMacs = 0;
        for (Layer l : layers) {
            for (Weight w : l.matrices()) layerMacs += (double) w.rows() * w.cols();
        }
        double attention = 4.0 * headDim * heads * numLayers * ((double) n * (n + 1) / 2);
        return 2 * n * layerMacs + attention + 2.0 * lmHead.rows() * lmHead.cols();
    }

    /** The weights a decode step reads, in the order it reads them. */
    Weight[] decodeWeights() {
        List<Weight> ws = new ArrayList<>();
        for (Layer l : layers) ws.addAll(l.matrices());
        ws.add(lmHead);
        return ws.toArray(Weight[]::new);
    }

    Backend backend() { return backend; }

    /** A new, empty sequence for this model ({@link Sequence#release} it when done, for the next one to reuse). */
    public Sequence newSequence() { return new Sequence(this, kvCaches, numLayers, kvHeads, headDim); }

    /**
     * Runs the kinds of step a server runs (a short and a long prompt, one sequence decoding, batches of
     * two to four) on scratch sequences, round after round, until the JIT spends less than a tenth of
     * a round compiling or the budget is spent (a round under way is finished). The kernels are Vector API code, which runs a thousand
     * times slower until C2 has compiled it, and that takes a few thousand calls: without this, a fresh
     * server's first requests pay for it. (bsmall, 2 threads: round 0 takes 3.2 s and compiles for
     * 4.1 s of compiler-thread time, round 1 0.64 s, then 0.32–0.43 s a round.) Leaves no state behind.
     * Returns the rounds run.
     */
    public int warmUp(Duration budget) {
        long deadline = System.nanoTime() + budget.toNanos();
        int longPrompt = Math.min(WARM_LONG_PROMPT, maxPositions() - WARM_DECODE), shortPrompt = Math.min(WARM_SHORT_PROMPT, longPrompt);
        if (shortPrompt < 1) return 0;
        int[] ids = new int[longPrompt];
        for (int i = 0; i < ids.length; i++) ids[i] = (int) ((7919L * i + 1) % vocab);
        var jit = ManagementFactory.getCompilationMXBean();
        boolean timed = jit != null && jit.isCompilationTimeMonitoringSupported();
        int rounds = 0;
        while (System.nanoTime() < deadline) {
            long compiledMs = timed ? jit.getTotalCompilationTime() : 0, t0 = System.nanoTime();
            warmUpRound(ids, shortPrompt);
            rounds++;
            // compilation time is summed over the compiler threads, in milliseconds
            if (timed && 10 * (jit.getTotalCompilationTime() - compiledMs) < (System.nanoTime() - t0) / 1_000_000) break;
        }
        return rounds;
    }

    private static final int WARM_SHORT_PROMPT = 16, WARM_LONG_PROMPT = 64, WARM_DECODE = 8;

    /**
     * One round of {@link #warmUp}: a short and a long prompt (which take different paths where weights are
     * read in place), decode alone and in batches of 2, 3 and 4.
     */
    private void warmUpRound(int[] ids, int shortPrompt) {
        Sequence alone = newSequence(), longOne = newSequence();
        step(alone, Arrays.copyOf(ids, shortPrompt));
        for (int i = 0; i < WARM_DECODE; i++) step(alone, ids[i]);
        step(longOne, ids);
        alone.release();
        longOne.release();
        for (int batch = 2; batch <= 4; batch++) {
            List<Sequence> seqs = new ArrayList<>();
            List<int[]> tokens = new ArrayList<>();
            for (int j = 0; j < batch; j++) {
                seqs.add(newSequence());
                tokens.add(new int[]{ids[j]});
            }
            for (int i = 0; i < WARM_DECODE / 2; i++) step(seqs, tokens);
            seqs.forEach(Sequence::release);
        }
    }

    /** Logits at every position of a fresh sequence, row-major [T, vocab]. */
    public float[] logits(int[] tokens) {
        Sequence s = newSequence();
        try {
            return forward(List.of(s), List.of(tokens), true)[0];
        } finally {
            s.release();
        }
    }

    /**
     * Appends tokens.get(i) to seqs.get(i) for every i in one batched forward pass and returns, per
     * sequence, the logits [vocab] after its last new token. Sequences may be at different
     * lengths and receive different numbers of tokens (a prompt for one, a single token for
     * another).
     */
    public float[][] step(List<Sequence> seqs, List<int[]> tokens) { return forward(seqs, tokens, false); }

    /** step() for one sequence. */
    public float[] step(Sequence seq, int... tokens) { return forward(List.of(seq), List.of(tokens), false)[0]; }

    /**
     * The batched forward. With allPositions, each sequence's result is [T_i, vocab] (row-major)
     * for all its new tokens; otherwise [vocab] for its last one.
     */
    public synchronized float[][] forward(List<Sequence> seqs, List<int[]> tokens, boolean allPositions) {
        if (seqs.size() != tokens.size()) throw new IllegalArgumentException("one token array per sequence is needed");
        int rows = 0;
        IdentityHashMap<Sequence, Boolean> seen = new IdentityHashMap<>();
        for (int i = 0; i < seqs.size(); i++) {
            Sequence s = seqs.get(i);
            int[] t = tokens.get(i);
            if (s.owner != this) throw new IllegalArgumentException("a sequence belongs to another model");
            if (seen.put(s, Boolean.TRUE) != null) throw new IllegalArgumentException("a sequence appears twice in one step");
            if (t.length == 0) throw new ArborException("A sequence was given no tokens.");
            for (int id : t) {
                if (id < 0 || id >= vocab) throw new ArborException("Token id " + id + " is outside the vocabulary (size " + vocab + ").");
            }
            if ((long) s.length + t.length > maxPositions()) {
                throw new ArborException("The sequence would be " + ((long) s.length + t.length)
                        + " tokens long, more than max_position_embeddings (" + maxPositions() + ").");
            }
            rows += t.length;
        }
        Workspace w = workspace(rows);
        int r = 0;
        int maxLen = 0;
        for (int i = 0; i < seqs.size(); i++) {
            Sequence s = seqs.get(i);
            int[] t = tokens.get(i);
            s.ensureCapacity(s.length + t.length, maxPositions());
            maxLen = Math.max(maxLen, s.length + t.length);
            for (int j = 0; j < t.length; j++, r++) {
                w.rowSeq[r] = s;
                w.rowPos[r] = s.length + j;
                embedding.readFloats((long) t[j] * hidden, w.h, r * hidden, hidden);
                if (hiddenMask != null) for (int c = 0; c < hidden; c++) w.h[r * hidden + c] *= hiddenMask[c];
            }
        }
        rope.ensure(maxLen);
        w.plan = RowPlan.of(tokens);
        for (int l = 0; l < numLayers; l++) layer(l, w, rows);

        float[][] out = new float[seqs.size()][];
        if (allPositions) {
            r = 0;
            for (int i = 0; i < seqs.size(); i++) {
                int n = tokens.get(i).length;
                out[i] = head(w, r, n, RowPlan.of(List.of(tokens.get(i))));
                r += n;
            }
        } else {
            // Gather each sequence's last row, then one LM-head product for the whole batch.
            r = 0;
            for (int i = 0; i < seqs.size(); i++) {
                r += tokens.get(i).length;
                System.arraycopy(w.h, (r - 1) * hidden, w.h, i * hidden, hidden);
            }
            float[] all = head(w, 0, seqs.size(), RowPlan.decode(seqs.size()));
            if (seqs.size() == 1) out[0] = all;   // one sequence: its logits are the whole product, no copy
            else for (int i = 0; i < seqs.size(); i++) out[i] = Arrays.copyOfRange(all, i * vocab, (i + 1) * vocab);
        }
        for (int i = 0; i < seqs.size(); i++) seqs.get(i).length += tokens.get(i).length;
        return out;
    }

    /** One decoder layer (GROWTH.md §2, equations 2–7) over all rows of the batch. */
    private void layer(int l, Workspace w, int rows) {
        Layer p = layers[l];
        int q = heads * headDim, kv = kvHeads * headDim;
        backend.forRows(rows, (r0, r1) -> Ops.rmsNorm(w.h, w.a, r0, r1, hidden, p.inputNorm, hiddenMask, hiddenMaskSum, eps, w.invRms));
        backend.linear(w.a, rows, new Weight[]{p.q, p.k, p.v}, new float[][]{w.q, w.k, w.v}, w.plan);
        backend.forRows(rows, (r0, r1) -> {
            for (int r = r0; r < r1; r++) {
                rope.apply(w.q, r * q, heads, w.rowPos[r]);
                rope.apply(w.k, r * kv, kvHeads, w.rowPos[r]);
            }
            Sequence.put(w.rowSeq, w.rowPos, r0, r1, l, w.k, w.v, kvHeads, headDim);
        });
        attention(l, w, rows);
        if (p.headMask != null) backend.forRows(rows, (r0, r1) -> Ops.scaleHeads(w.att, r0, r1, heads, headDim, p.headMask));
        backend.linear(w.att, rows, new Weight[]{p.o}, new float[][]{w.out}, w.plan);
        backend.forRows(rows, (r0, r1) -> {
            Ops.residualAdd(w.h, w.out, r0, r1, hidden, hiddenMask, p.layerGate);
            Ops.rmsNorm(w.h, w.a, r0, r1, hidden, p.postNorm, hiddenMask, hiddenMaskSum, eps, w.invRms);
        });
        backend.mlp(w.a, rows, p.gate, p.up, p.down, w.z, p.ffnMask, w.out, w.plan, w);
        backend.forRows(rows, (r0, r1) -> Ops.residualAdd(w.h, w.out, r0, r1, hidden, hiddenMask, p.layerGate));
    }

    /** Final norm and LM head for rows [r0, r0+n) of the residual stream: [n, vocab]. */
    private float[] head(Workspace w, int r0, int n, RowPlan plan) {
        float[] normed = new float[n * hidden];
        System.arraycopy(w.h, r0 * hidden, normed, 0, n * hidden);
        Ops.rmsNorm(normed, normed, 0, n, hidden, finalNorm, hiddenMask, hiddenMaskSum, eps, new float[n]);
        float[] logits = new float[Math.multiplyExact(n, vocab)];
        backend.linear(normed, n, new Weight[]{lmHead}, new float[][]{logits}, plan);
        return logits;
    }

    /** Causal attention of every (row, query head) of the batch against its sequence's cache. */
    private void attention(int l, Workspace w, int rows) {
        backend.attention(l, w.q, w.rowSeq, w.rowPos, rows, heads, kvHeads, headDim, attentionScale, w.att);
    }

    private Workspace workspace(int rows) {
        if (workspace == null || workspace.rows < rows) workspace = new Workspace(this, Math.max(rows, 1));
        return workspace;
    }

    /**
     * Activation buffers for a batch of up to `rows` token rows, reused between calls. The gate and up products'
     * buffers are made only for a backend that asks for them: the CPU backend's packed weights write SwiGLU's output
     * directly (the two would be 42 MB of a 2048-token smol prompt's workspace).
     */
    static final class Workspace implements Backend.ProductScratch {
        final int rows, ffn;
        final float[] h, a, q, k, v, att, out, z, invRms;
        final Sequence[] rowSeq;
        final int[] rowPos;
        RowPlan plan;
        private float[][] gateAndUp;

        Workspace(LlamaModel m, int rows) {
            this.rows = rows;
            this.ffn = m.ffn;
            int d = m.hidden, qd = m.heads * m.headDim, kvd = m.kvHeads * m.headDim;
            h = new float[rows * d];
            a = new float[rows * d];
            q = new float[rows * qd];
            k = new float[rows * kvd];
            v = new float[rows * kvd];
            att = new float[rows * qd];
            out = new float[rows * d];
            z = new float[rows * m.ffn];
            invRms = new float[rows];
            rowSeq = new Sequence[rows];
            rowPos = new int[rows];
        }

        @Override public float[][] gateAndUp() {
            if (gateAndUp == null) gateAndUp = new float[][]{new float[rows * ffn], new float[rows * ffn]};
            return gateAndUp;
        }
    }

    @Override public void close() { backend.close(); }

    @Override public String toString() { return "LlamaModel(" + where + ")"; }
}
