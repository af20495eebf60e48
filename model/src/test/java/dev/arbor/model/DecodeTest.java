package dev.arbor.model;

import dev.arbor.format.Checkpoint;
import dev.arbor.format.DType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.time.Duration;
import java.util.Arrays;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** KV-cache decode and batching against the full forward. */
class DecodeTest {

    @Test
    void decodingTokenByTokenEqualsTheFullForward() {
        // long_t520 grows the cache several times (64, 128, 256, 512, 520 positions) between steps
        for (String name : List.of("gqa_bf16", "mqa_f16_3sh", "tied_hd12", "long_t520")) {
            int[] tokens = Goldens.tokens(name);
            try (Checkpoint ck = Goldens.open(name); LlamaModel m = LlamaModel.load(ck, 2)) {
                int v = m.vocabSize();
                float[] full = m.logits(tokens);
                Sequence s = m.newSequence();
                // a prompt chunk of 5, then one token at a time
                float[] last = m.step(s, Arrays.copyOf(tokens, 5));
                assertThat(Goldens.maxRel(last, Arrays.copyOfRange(full, 4 * v, 5 * v))).isLessThanOrEqualTo(1e-6);
                for (int t = 5; t < tokens.length; t++) {
                    last = m.step(s, tokens[t]);
                    float[] want = Arrays.copyOfRange(full, t * v, (t + 1) * v);
                    if (!repacked(ck)) {
                        // F16 weights are not repacked: prompts go through the GEMM, single tokens through the
                        // Matmul kernels, two summation orders, apart by f32 rounding only
                        assertThat(Goldens.maxRel(last, want)).as("%s position %d", name, t).isLessThanOrEqualTo(5e-6);
                    } else {
                        // repacked BF16/F32 weights: a decode row gets the GEMM's bits for that row
                        assertThat(last).as("%s position %d", name, t).isEqualTo(want);
                    }
                }
                assertThat(s.length()).isEqualTo(tokens.length);
            }
        }
    }

    /**
     * A released sequence's cache serves the next sequence: a long prompt's cache, its values still in the arrays,
     * is taken by a shorter prompt (and a cache outgrown by decoding goes back to the pool), and every logit is the
     * bit pattern a model that never reused a cache gives.
     */
    @ParameterizedTest
    @ValueSource(strings = {"gqa_bf16", "mqa_f16_3sh"})
    void aReleasedCacheServesTheNextSequenceWithTheSameResults(String name) {
        int[] tokens = Goldens.tokens(name);
        try (Checkpoint ck = Goldens.open(name); LlamaModel reusing = LlamaModel.load(ck, 2); LlamaModel fresh = LlamaModel.load(ck, 2)) {
            Sequence first = reusing.newSequence();
            reusing.step(first, Arrays.copyOfRange(tokens, 3, 40));
            long bytes = first.cacheBytes();
            assertThat(reusing.kvCaches.freeBytes()).isZero();
            first.release();
            assertThat(first.length()).isZero();
            assertThat(first.cacheBytes()).isZero();
            assertThat(reusing.kvCaches.freeBytes()).isEqualTo(bytes);

            Sequence second = reusing.newSequence(), alone = fresh.newSequence();
            float[] got = reusing.step(second, Arrays.copyOf(tokens, 7)), want = fresh.step(alone, Arrays.copyOf(tokens, 7));
            assertThat(reusing.kvCaches.freeBytes()).as("the released cache was taken").isZero();
            assertThat(second.cacheBytes()).isEqualTo(bytes);
            assertThat(got).isEqualTo(want);
            // decode past the cache's capacity (64 positions): the sequence moves to a larger cache, the old goes back
            for (int t = 7; t < 70; t++) {
                got = reusing.step(second, tokens[t % tokens.length]);
                want = fresh.step(alone, tokens[t % tokens.length]);
                assertThat(got).as("position %d", t).isEqualTo(want);
            }
            assertThat(reusing.kvCaches.freeBytes()).as("the outgrown cache").isEqualTo(bytes);
            // and a released sequence can be fed again, from empty
            second.release();
            assertThat(reusing.step(second, Arrays.copyOf(tokens, 5))).isEqualTo(fresh.step(fresh.newSequence(), Arrays.copyOf(tokens, 5)));
        }
    }

    @Test
    void thePoolKeepsNoMoreThanItsLimitAndHandsOutTheSmallestCacheThatFits() {
        KvCachePool pool = new KvCachePool(2, 3, 4, 8L * 4 * 2 * 3 * 192);   // room for 192 positions
        KvCachePool.Cache a = pool.take(64), b = pool.take(128), c = pool.take(96);
        assertThat(a.keys()[1][2]).hasSize(4 * 64);
        assertThat(a.values()[1][2]).hasSize(4 * 64);
        pool.give(b);
        pool.give(a);
        assertThat(pool.freeBytes()).isEqualTo(a.bytes() + b.bytes());
        pool.give(c);   // would pass the limit: dropped
        assertThat(pool.freeBytes()).isEqualTo(a.bytes() + b.bytes());
        assertThat(pool.take(60)).isSameAs(a);
        assertThat(pool.take(65)).isSameAs(b);
        assertThat(pool.take(10)).isNotIn(a, b, c);
        assertThat(pool.freeBytes()).isZero();
    }

    /**
     * The JIT warm-up runs whole rounds on scratch sequences and leaves nothing behind: a sequence decoded
     * across it gives the bits it gives without it, and a zero budget runs nothing.
     */
    @Test
    void warmingUpLeavesNoStateBehind() {
        int[] tokens = Goldens.tokens("gqa_bf16");
        try (Checkpoint ck = Goldens.open("gqa_bf16"); LlamaModel m = LlamaModel.load(ck, 2)) {
            Sequence plain = m.newSequence(), across = m.newSequence();
            m.step(plain, Arrays.copyOf(tokens, 6));
            m.step(across, Arrays.copyOf(tokens, 6));
            assertThat(m.warmUp(Duration.ZERO)).isZero();
            assertThat(m.warmUp(Duration.ofMillis(300))).isPositive();
            for (int t = 6; t < 12; t++) {
                assertThat(m.step(across, tokens[t])).as("position %d", t).isEqualTo(m.step(plain, tokens[t]));
            }
            assertThat(across.length()).isEqualTo(12);
        }
    }

    /**
     * A short prompt's logits at every position equal, bit for bit, those of feeding its tokens one at a time:
     * repacked weights give a row the same bits in the GEMM and alone, and an F16 prompt too short for the GEMM
     * (CpuBackend.gemmMinRows) runs through the decode kernels, whose rows and attention units keep each row's
     * one-row bits.
     */
    @Test
    void aShortPromptGivesTheBitsOfFeedingItsTokensOneByOne() {
        for (String name : List.of("gqa_bf16", "mqa_f16_3sh", "tied_hd12")) {
            int[] tokens = Arrays.copyOf(Goldens.tokens(name), 9);
            try (Checkpoint ck = Goldens.open(name); LlamaModel m = LlamaModel.load(ck, 2)) {
                assertThat(tokens.length).isLessThan(CpuBackend.gemmMinRows(DType.BF16));
                int v = m.vocabSize();
                float[] all = m.logits(tokens);
                Sequence s = m.newSequence();
                for (int t = 0; t < tokens.length; t++) {
                    float[] one = m.step(s, tokens[t]);
                    assertThat(Arrays.copyOfRange(all, t * v, (t + 1) * v)).as("%s position %d", name, t).isEqualTo(one);
                }
            }
        }
    }

    /** Weights read in place (ARBOR_REPACK=0) give what repacked ones give, up to f32 rounding. */
    @Test
    void weightsReadInPlaceAgreeWithRepackedOnes() {
        for (String name : List.of("gqa_bf16", "mha_f32")) {
            int[] tokens = Goldens.tokens(name);
            try (Checkpoint ck = Goldens.open(name); LlamaModel packed = LlamaModel.load(ck, 2);
                 LlamaModel inPlace = new LlamaModel(ck, 2, false)) {
                int v = packed.vocabSize();
                float[] a = packed.logits(tokens), b = inPlace.logits(tokens);
                assertThat(Goldens.maxRel(b, a)).as(name).isLessThanOrEqualTo(5e-6);
                // decode rows through the Matmul kernels: a different summation order, the same values
                Sequence s = inPlace.newSequence();
                inPlace.step(s, Arrays.copyOf(tokens, 5));
                float[] next = inPlace.step(s, tokens[5]);
                assertThat(Goldens.maxRel(next, Arrays.copyOfRange(a, 5 * v, 6 * v))).as(name).isLessThanOrEqualTo(5e-6);
            }
        }
    }

    /** One-shot commands read the weights in place (repacking costs them more than it saves); long-running users repack. */
    @Test
    void oneShotLoadsReadWeightsInPlace() {
        assumeTrue(System.getenv("ARBOR_REPACK") == null, "ARBOR_REPACK overrides the choice");
        try (Checkpoint ck = Goldens.open("gqa_bf16"); LlamaModel oneShot = LlamaModel.loadForOneShot(ck, 2);
             LlamaModel served = LlamaModel.load(ck, 2)) {
            assertThat(((CpuBackend) oneShot.backend()).repacks()).isFalse();
            assertThat(((CpuBackend) served.backend()).repacks()).isTrue();
        }
    }

    /** BF16 weights are repacked (one path for every row); F16 weights are not (GEMM segments amid Matmul rows). */
    @ParameterizedTest
    @ValueSource(strings = {"gqa_bf16", "mqa_f16_3sh"})
    void aBatchEqualsItsSequencesRunAlone(String name) {
        int[] tokens = Goldens.tokens(name);
        try (Checkpoint ck = Goldens.open(name); LlamaModel m = LlamaModel.load(ck, 2)) {
            // prompts of 1 to 48 rows (from 48 on, unpacked weights take the GEMM, CpuBackend.gemmMinRows, and one
            // step gathers and scatters the other rows around it) and decode rows in one step
            int[][] prompts = {Arrays.copyOfRange(tokens, 0, 7), Arrays.copyOfRange(tokens, 10, 13),
                    Arrays.copyOfRange(tokens, 20, 40), Arrays.copyOfRange(tokens, 3, 4), Arrays.copyOfRange(tokens, 30, 35),
                    Arrays.copyOf(tokens, 48)};
            assertThat(prompts[5].length).isGreaterThanOrEqualTo(CpuBackend.gemmMinRows(DType.BF16));
            // alone
            float[][] alone = new float[prompts.length][];
            float[][] aloneNext = new float[prompts.length][];
            for (int i = 0; i < prompts.length; i++) {
                Sequence s = m.newSequence();
                alone[i] = m.step(s, prompts[i]);
                aloneNext[i] = m.step(s, 5 + i);
            }
            // together: prefill of different lengths in one step, then one decode step for all
            List<Sequence> seqs = java.util.stream.Stream.generate(m::newSequence).limit(prompts.length).toList();
            float[][] batch = m.step(seqs, Arrays.asList(prompts));
            List<int[]> next = new java.util.ArrayList<>();
            for (int i = 0; i < prompts.length; i++) next.add(new int[]{5 + i});
            float[][] batchNext = m.step(seqs, next);
            for (int i = 0; i < prompts.length; i++) {
                assertSame(batch[i], alone[i], repacked(ck), "prefill " + i);
                assertSame(batchNext[i], aloneNext[i], repacked(ck), "decode " + i);
            }
            // mixed step: one sequence prefills while the others decode
            Sequence fresh = m.newSequence();
            float[][] mixed = m.step(List.of(seqs.get(0), fresh), List.of(new int[]{9}, prompts[2]));
            Sequence s0 = m.newSequence();
            m.step(s0, prompts[0]);
            m.step(s0, 5);
            assertSame(mixed[0], m.step(s0, 9), repacked(ck), "mixed decode");
            assertSame(mixed[1], alone[2], repacked(ck), "mixed prefill");
        }
    }

    /**
     * Bit for bit where the weights are repacked; within 1e-6 where they are not (a Matmul row's vectorised
     * exp and its GEMM counterpart may differ by an ulp with compilation state).
     */
    private static void assertSame(float[] got, float[] want, boolean repacked, String what) {
        if (repacked) assertThat(got).as(what).isEqualTo(want);
        else assertThat(Goldens.maxRel(got, want)).as(what).isLessThanOrEqualTo(1e-6);
    }

    /** Whether the engine repacks this checkpoint's weights (BF16 and F32 ones). */
    private static boolean repacked(Checkpoint ck) {
        return ck.tensor("model.layers.0.self_attn.q_proj.weight").dtype() != DType.F16;
    }

    @Test
    void threadCountDoesNotChangeTheResult() {
        int[] tokens = Goldens.tokens("mha_f32");
        try (Checkpoint ck = Goldens.open("mha_f32"); LlamaModel one = LlamaModel.load(ck, 1); LlamaModel three = LlamaModel.load(ck, 3)) {
            // Matmul results do not depend on the thread count; the vectorised exp (SVML when JIT-compiled,
            // Math.exp per lane before) can differ by an ulp with compilation state, hence no bit equality.
            assertThat(Goldens.maxRel(three.logits(tokens), one.logits(tokens))).isLessThanOrEqualTo(1e-6);
        }
    }
}
