package dev.arbor.train.data;

import dev.arbor.format.ArborException;

import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.NoSuchElementException;

/**
 * Training batches cut from a {@link TokenCorpus}.
 *
 * <p>The stream is cut into windows of {@code T + 1} tokens (T inputs and the T targets shifted
 * by one). The last {@code V × T + 1} tokens are held out for validation, cut the same way, so no
 * token is in both sets; training window {@code i} covers tokens {@code [i·T, i·T + T]}. Documents
 * are packed, so a window may cross a document's EOS into the next document.
 *
 * <p>Training windows are drawn in a new pseudo-random order each epoch (a permutation derived
 * from the seed and the epoch number only), B at a time; a batch that reaches the end of an epoch
 * continues into the next one, so every window is used exactly once per epoch. The position is
 * {@link State} (epoch, index in epoch): a batcher made from a saved state yields exactly the
 * batches the original would have.
 *
 * <pre>{@code
 * Batcher batcher = new Batcher(corpus, Batcher.Config.of(1024, 8).withSeed(42), savedStateOrNull);
 * Batcher.Batch b = batcher.next();   // b.inputs(), b.targets(): [8 × 1024] row-major
 * save(batcher.state());              // with the checkpoint
 * for (Batcher.Batch v : batcher.validationBatches(8)) ...   // eval loss, fixed order
 * }</pre>
 *
 * Not thread-safe: one batcher per data loader.
 */
public final class Batcher {
    /** The default share of windows held out for validation. */
    public static final double DEFAULT_VAL_FRACTION = 0.01;

    /**
     * @param seqLen      T, tokens per training sequence
     * @param batchSize   B, sequences per batch
     * @param valFraction share of the windows held out for validation, in [0, 1); when positive at
     *                    least one window is held out if the data leaves a full batch for training
     * @param seed        the shuffling seed
     */
    public record Config(int seqLen, int batchSize, double valFraction, long seed) {
        public Config {
            if (seqLen < 1) throw new ArborException("The sequence length must be at least 1 (got " + seqLen + ").");
            if (batchSize < 1) throw new ArborException("The batch size must be at least 1 (got " + batchSize + ").");
            if (!(valFraction >= 0 && valFraction < 1))
                throw new ArborException("The validation fraction must be at least 0 and below 1 (got " + valFraction + ").");
        }

        /** Sequence length T, batch size B, {@value #DEFAULT_VAL_FRACTION} for validation, seed 0. */
        public static Config of(int seqLen, int batchSize) {
            return new Config(seqLen, batchSize, DEFAULT_VAL_FRACTION, 0);
        }

        public Config withValFraction(double f) { return new Config(seqLen, batchSize, f, seed); }
        public Config withSeed(long s) { return new Config(seqLen, batchSize, valFraction, s); }
    }

    /** Where the next batch starts: an epoch and an index into that epoch's order of training windows. */
    public record State(long epoch, long index) {}

    /**
     * A batch of {@code size} sequences of {@code seqLen}: {@code inputs[r·seqLen + t]} is token t
     * of sequence r and {@code targets[r·seqLen + t]} the token after it. {@code windows[r]} is the
     * window sequence r came from (a training window index, or a validation window index for
     * validation batches).
     */
    public record Batch(int size, int seqLen, int[] inputs, int[] targets, long[] windows) {}

    private final TokenCorpus corpus;
    private final Config config;
    private final int trainWindows;
    private final long valWindows;
    private final long valStart;          // first token of the validation part
    private final int[] window;           // scratch: one window's T + 1 tokens
    private long epoch;
    private int index;
    private int[] order;                  // this epoch's permutation, made when first needed
    private long orderEpoch = -1;

    /** A batcher at the start of epoch 0. */
    public Batcher(TokenCorpus corpus, Config config) {
        this(corpus, config, null);
    }

    /** A batcher that continues from {@code state} (null: from the start). */
    public Batcher(TokenCorpus corpus, Config config, State state) {
        this.corpus = corpus;
        this.config = config;
        long n = corpus.size();
        long t = config.seqLen();
        long b = config.batchSize();
        // One full batch of training windows needs B·T + 1 tokens.
        long needed = b * t + 1;
        if (n < needed)
            throw new ArborException("The training data has " + n + " tokens, but one batch of " + b + " sequences of "
                    + t + " tokens needs at least " + needed + ".");
        long all = (n - 1) / t;
        long v = config.valFraction() == 0 ? 0 : Math.max(1, (long) Math.floor(all * config.valFraction()));
        // Validation takes V·T + 1 tokens from the end; it shrinks (to none) before training loses its batch.
        long maxV = Math.max(0, (n - needed - 1) / t);
        this.valWindows = Math.min(v, maxV);
        this.valStart = valWindows == 0 ? n : n - (valWindows * t + 1);
        long train = (valStart - 1) / t;
        if (train > Integer.MAX_VALUE - 8)
            throw new ArborException("The training data has too many windows (" + train + ") of " + t + " tokens; use a longer sequence length.");
        this.trainWindows = (int) train;
        this.window = new int[config.seqLen() + 1];
        if (state != null) seek(state);
    }

    /** The next training batch; never runs out (epochs follow one another). */
    public Batch next() {
        int bs = config.batchSize(), t = config.seqLen();
        int[] inputs = new int[bs * t];
        int[] targets = new int[bs * t];
        long[] windows = new long[bs];
        for (int r = 0; r < bs; r++) {
            int w = order()[index];
            windows[r] = w;
            copyWindow((long) w * t, inputs, targets, r);
            if (++index == trainWindows) {
                epoch++;
                index = 0;
            }
        }
        return new Batch(bs, t, inputs, targets, windows);
    }

    /** The position of the next batch. */
    public State state() { return new State(epoch, index); }

    /** Moves to a saved position; fails clearly when it cannot belong to this data and configuration. */
    public void seek(State s) {
        if (s.epoch() < 0 || s.index() < 0 || s.index() >= trainWindows)
            throw new ArborException("The saved data position (epoch " + s.epoch() + ", window " + s.index()
                    + ") does not fit the training data's " + trainWindows
                    + " training windows; the data, sequence length or validation fraction changed since it was saved.");
        epoch = s.epoch();
        index = (int) s.index();
    }

    /** Number of training windows (sequences per epoch). */
    public long trainWindows() { return trainWindows; }

    /** Number of validation windows. */
    public long valWindows() { return valWindows; }

    /** The first token of validation window {@code j} (training window i starts at i·T). */
    public long valWindowStart(long j) { return valStart + j * config.seqLen(); }

    /** Batches per epoch (fractional when B does not divide the number of windows). */
    public double batchesPerEpoch() { return (double) trainWindows / config.batchSize(); }

    public Config config() { return config; }

    /**
     * All validation windows in order, in batches of at most {@code maxBatchSize} (the last one
     * may be smaller); empty when there is no validation split. Independent of the training position.
     */
    public Iterable<Batch> validationBatches(int maxBatchSize) {
        if (maxBatchSize < 1) throw new ArborException("The validation batch size must be at least 1 (got " + maxBatchSize + ").");
        int t = config.seqLen();
        return () -> new Iterator<>() {
            private long next;
            private final int[] scratch = new int[t + 1];

            @Override public boolean hasNext() { return next < valWindows; }

            @Override public Batch next() {
                if (!hasNext()) throw new NoSuchElementException();
                int bs = (int) Math.min(maxBatchSize, valWindows - next);
                int[] inputs = new int[bs * t];
                int[] targets = new int[bs * t];
                long[] windows = new long[bs];
                for (int r = 0; r < bs; r++, next++) {
                    windows[r] = next;
                    corpus.read(valWindowStart(next), scratch, 0, t + 1);
                    System.arraycopy(scratch, 0, inputs, r * t, t);
                    System.arraycopy(scratch, 1, targets, r * t, t);
                }
                return new Batch(bs, t, inputs, targets, windows);
            }
        };
    }

    /** The order of training windows in {@code epoch}, for tests and inspection. */
    List<Integer> epochOrder(long e) {
        List<Integer> out = new ArrayList<>(trainWindows);
        for (int w : Shuffle.permutation(trainWindows, Shuffle.forEpoch(config.seed(), e))) out.add(w);
        return out;
    }

    private int[] order() {
        if (orderEpoch != epoch) {
            order = Shuffle.permutation(trainWindows, Shuffle.forEpoch(config.seed(), epoch));
            orderEpoch = epoch;
        }
        return order;
    }

    private void copyWindow(long start, int[] inputs, int[] targets, int row) {
        int t = config.seqLen();
        corpus.read(start, window, 0, t + 1);
        System.arraycopy(window, 0, inputs, row * t, t);
        System.arraycopy(window, 1, targets, row * t, t);
    }
}
