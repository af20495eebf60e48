package dev.arbor.train.data;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.List;
import java.util.stream.IntStream;

import static dev.arbor.train.data.TestData.arborError;
import static org.assertj.core.api.Assertions.assertThat;

/** Windows, the validation split, shuffling and resuming, on corpora whose tokens are their positions. */
class BatcherTest {
    @TempDir Path dir;

    /** A corpus of n tokens where token i is i (vocab 65536 so ids are positions up to 65535). */
    private TokenCorpus corpus(int n) {
        return TokenCorpus.open(TestData.tokenFile(dir.resolve("c" + n + ".tokens"), TestData.positions(n), 65536, 0));
    }

    @Test void windowsAreConsecutiveWithTargetsShiftedByOne() {
        try (TokenCorpus c = corpus(1001)) {
            Batcher b = new Batcher(c, Batcher.Config.of(10, 4).withValFraction(0));
            assertThat(b.trainWindows()).isEqualTo(100);            // (1001 - 1) / 10
            for (int k = 0; k < 30; k++) {
                Batcher.Batch batch = b.next();
                assertThat(batch.size()).isEqualTo(4);
                assertThat(batch.seqLen()).isEqualTo(10);
                assertThat(batch.inputs()).hasSize(40);
                for (int r = 0; r < 4; r++) {
                    long w = batch.windows()[r];
                    for (int t = 0; t < 10; t++) {
                        assertThat(batch.inputs()[r * 10 + t]).isEqualTo(w * 10 + t);      // window w covers [w·T, w·T + T]
                        assertThat(batch.targets()[r * 10 + t]).isEqualTo(w * 10 + t + 1);
                    }
                }
            }
        }
    }

    @Test void validationComesFromTheEndAndSharesNoTokenWithTraining() {
        try (TokenCorpus c = corpus(1001)) {
            Batcher b = new Batcher(c, Batcher.Config.of(10, 4).withValFraction(0.1));
            assertThat(b.valWindows()).isEqualTo(10);               // 10% of 100 windows
            assertThat(b.valWindowStart(0)).isEqualTo(1001 - 101);  // V·T + 1 tokens at the end
            assertThat(b.valWindowStart(9) + 10).isEqualTo(1000);   // the last window ends on the last token
            assertThat(b.trainWindows()).isEqualTo(89);

            BitSet train = new BitSet(), val = new BitSet();
            int batches = (int) Math.ceil(b.trainWindows() / 4.0);
            for (int k = 0; k < batches; k++) {
                Batcher.Batch batch = b.next();
                for (int i = 0; i < batch.inputs().length; i++) {
                    train.set(batch.inputs()[i]);
                    train.set(batch.targets()[i]);
                }
            }
            List<Long> valWindows = new ArrayList<>();
            List<Integer> sizes = new ArrayList<>();
            for (Batcher.Batch batch : b.validationBatches(3)) {
                sizes.add(batch.size());
                for (long w : batch.windows()) valWindows.add(w);
                for (int r = 0; r < batch.size(); r++) {
                    long start = b.valWindowStart(batch.windows()[r]);
                    for (int t = 0; t < 10; t++) {
                        assertThat(batch.inputs()[r * 10 + t]).isEqualTo(start + t);
                        assertThat(batch.targets()[r * 10 + t]).isEqualTo(start + t + 1);
                        val.set(batch.inputs()[r * 10 + t]);
                        val.set(batch.targets()[r * 10 + t]);
                    }
                }
            }
            assertThat(sizes).containsExactly(3, 3, 3, 1);
            assertThat(valWindows).containsExactlyElementsOf(IntStream.range(0, 10).mapToObj(i -> (long) i).toList());
            assertThat(train.intersects(val)).isFalse();
            assertThat(train.length() - 1).isLessThan(val.nextSetBit(0));
            assertThat(val.cardinality()).isEqualTo(101);
            // The same windows, in the same order, every time.
            List<Long> again = new ArrayList<>();
            for (Batcher.Batch batch : b.validationBatches(7)) for (long w : batch.windows()) again.add(w);
            assertThat(again).isEqualTo(valWindows);
        }
    }

    @Test void validationSizeFollowsTheFractionWithinWhatTheDataAllows() {
        try (TokenCorpus c = corpus(1001)) {
            assertThat(new Batcher(c, Batcher.Config.of(10, 4).withValFraction(0)).valWindows()).isZero();
            assertThat(new Batcher(c, Batcher.Config.of(10, 4)).valWindows()).isEqualTo(1);            // 1% of 100
            assertThat(new Batcher(c, Batcher.Config.of(10, 4).withValFraction(0.001)).valWindows()).isEqualTo(1);  // at least one
            Batcher most = new Batcher(c, Batcher.Config.of(10, 4).withValFraction(0.99));
            assertThat(most.trainWindows()).isEqualTo(4);          // validation shrinks before training loses its one batch
            assertThat(most.valWindows()).isEqualTo(95);
            assertThat(most.valWindowStart(0)).isGreaterThan(4 * 10);
            assertThat(most.validationBatches(1000).iterator().next().windows()).hasSize(95);
        }
        try (TokenCorpus c = corpus(41)) {                         // exactly one batch: 4 × 10 + 1
            Batcher b = new Batcher(c, Batcher.Config.of(10, 4).withValFraction(0.5));
            assertThat(b.trainWindows()).isEqualTo(4);
            assertThat(b.valWindows()).isZero();
            assertThat(b.validationBatches(8).iterator().hasNext()).isFalse();
        }
        try (TokenCorpus c = corpus(52)) {                         // one batch plus T + 1: room for one validation window
            assertThat(new Batcher(c, Batcher.Config.of(10, 4).withValFraction(0.01)).valWindows()).isEqualTo(1);
        }
    }

    @Test void eachEpochIsANewPermutationOfAllTrainingWindows() {
        try (TokenCorpus c = corpus(1001)) {
            Batcher b = new Batcher(c, Batcher.Config.of(10, 4).withSeed(7));
            int w = (int) b.trainWindows();                          // 98 (99 windows, 1 for validation)
            assertThat(w).isEqualTo(98);
            List<Long> drawn = new ArrayList<>();
            while (drawn.size() < 3 * w) for (long x : b.next().windows()) drawn.add(x);
            List<List<Long>> epochs = List.of(drawn.subList(0, w), drawn.subList(w, 2 * w), drawn.subList(2 * w, 3 * w));
            List<Long> all = longsUpTo(w);
            for (int e = 0; e < 3; e++) {
                assertThat(epochs.get(e)).as("epoch " + e).containsExactlyInAnyOrderElementsOf(all);
                assertThat(epochs.get(e)).isEqualTo(b.epochOrder(e).stream().map(Integer::longValue).toList());
            }
            assertThat(epochs.get(0)).isNotEqualTo(epochs.get(1)).isNotEqualTo(all);
            assertThat(epochs.get(1)).isNotEqualTo(epochs.get(2));
            assertThat(b.state()).isEqualTo(new Batcher.State(3, drawn.size() - 3L * w));
        }
    }

    private static List<Long> longsUpTo(int n) {
        return IntStream.range(0, n).mapToObj(i -> (long) i).toList();
    }

    @Test void shufflingDependsOnlyOnSeedAndEpoch() {
        try (TokenCorpus c = corpus(1001)) {
            Batcher.Config cfg = Batcher.Config.of(10, 4).withSeed(42);
            Batcher a = new Batcher(c, cfg), b = new Batcher(c, cfg), other = new Batcher(c, cfg.withSeed(43));
            for (int k = 0; k < 60; k++) {
                Batcher.Batch x = a.next(), y = b.next();
                assertThat(x.windows()).isEqualTo(y.windows());
                assertThat(x.inputs()).isEqualTo(y.inputs());
                assertThat(x.targets()).isEqualTo(y.targets());
            }
            assertThat(other.epochOrder(0)).isNotEqualTo(a.epochOrder(0));
        }
        // Pinned values: the order must never change (a resumed run depends on it), on any JVM.
        assertThat(Shuffle.permutation(10, Shuffle.forEpoch(42, 0))).containsExactly(GOLDEN_42_0);
        assertThat(Shuffle.permutation(10, Shuffle.forEpoch(42, 1))).containsExactly(GOLDEN_42_1);
        assertThat(new Shuffle(0).nextLong()).isEqualTo(0xE220A8397B1DCDAFL);   // SplitMix64's reference first output for seed 0
    }

    private static final int[] GOLDEN_42_0 = {2, 8, 6, 4, 7, 1, 5, 3, 0, 9};
    private static final int[] GOLDEN_42_1 = {8, 4, 7, 0, 3, 6, 1, 9, 2, 5};

    @Test void aResumedBatcherContinuesWithExactlyTheSameBatches() {
        try (TokenCorpus c = corpus(241)) {
            Batcher.Config cfg = Batcher.Config.of(10, 4).withSeed(3).withValFraction(0.05);
            Batcher straight = new Batcher(c, cfg);
            assertThat(straight.trainWindows()).isEqualTo(22);      // so 12 batches cross two epoch boundaries
            List<Batcher.Batch> expected = new ArrayList<>();
            for (int k = 0; k < 12; k++) expected.add(straight.next());

            Batcher first = new Batcher(c, cfg);
            for (int k = 0; k < 7; k++) first.next();
            Batcher.State saved = first.state();
            assertThat(saved).isEqualTo(new Batcher.State(1, 6));   // 28 windows drawn: epoch 0 (22) + 6

            Batcher resumed = new Batcher(c, cfg, new Batcher.State(saved.epoch(), saved.index()));
            for (int k = 7; k < 12; k++) {
                Batcher.Batch got = resumed.next(), want = expected.get(k);
                assertThat(got.windows()).as("batch " + k).isEqualTo(want.windows());
                assertThat(got.inputs()).isEqualTo(want.inputs());
                assertThat(got.targets()).isEqualTo(want.targets());
            }
            assertThat(resumed.state()).isEqualTo(straight.state());
        }
    }

    @Test void tooLittleDataSaysHowMuchIsNeeded() {
        try (TokenCorpus c = corpus(100)) {
            assertThat(arborError(() -> new Batcher(c, Batcher.Config.of(32, 4))))
                    .isEqualTo("The training data has 100 tokens, but one batch of 4 sequences of 32 tokens needs at least 129.");
            assertThat(new Batcher(c, Batcher.Config.of(32, 3)).trainWindows()).isEqualTo(3);   // 97 tokens suffice for 3
        }
    }

    @Test void badConfigurationsAndPositions() {
        assertThat(arborError(() -> Batcher.Config.of(0, 4))).isEqualTo("The sequence length must be at least 1 (got 0).");
        assertThat(arborError(() -> Batcher.Config.of(16, 0))).isEqualTo("The batch size must be at least 1 (got 0).");
        assertThat(arborError(() -> Batcher.Config.of(16, 4).withValFraction(1)))
                .isEqualTo("The validation fraction must be at least 0 and below 1 (got 1.0).");
        assertThat(arborError(() -> Batcher.Config.of(16, 4).withValFraction(-0.1)))
                .isEqualTo("The validation fraction must be at least 0 and below 1 (got -0.1).");
        assertThat(arborError(() -> Batcher.Config.of(16, 4).withValFraction(Double.NaN)))
                .isEqualTo("The validation fraction must be at least 0 and below 1 (got NaN).");
        try (TokenCorpus c = corpus(1001)) {
            Batcher.Config cfg = Batcher.Config.of(10, 4).withValFraction(0);
            assertThat(arborError(() -> new Batcher(c, cfg, new Batcher.State(0, 100)))).isEqualTo("The saved data position (epoch 0, window 100) does not fit the training data's 100 training windows;"
                    + " the data, sequence length or validation fraction changed since it was saved.");
            assertThat(arborError(() -> new Batcher(c, cfg, new Batcher.State(-1, 0)))).startsWith("The saved data position (epoch -1, window 0)");
            assertThat(arborError(() -> new Batcher(c, cfg).validationBatches(0))).isEqualTo("The validation batch size must be at least 1 (got 0).");
        }
    }
}
