package dev.arbor.model.sample;

import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.stream.IntStream;

import static org.assertj.core.api.Assertions.assertThat;

class SamplerTest {
    private static final float[] LOGITS = {1f, 3f, 2.5f, -1f, 3f, 0f};
    private static final SamplingParams BASE = new SamplingParams(1, 0, 1, 0, 0, 0, 10, List.of(), List.of(), 42);

    private static int[] draws(SamplingParams p, int n) {
        Sampler s = new Sampler(p);
        return IntStream.range(0, n).map(i -> s.sample(LOGITS)).toArray();
    }

    @Test
    void greedyTakesTheLowestIdOfTheMaximum() {
        assertThat(new Sampler(BASE.withTemperature(0)).sample(LOGITS)).isEqualTo(1);
    }

    /** Vocabulary-sized and odd-sized arrays, the maximum tied across vectors, in the scalar tail, NaN and -∞. */
    @Test
    void argmaxFindsTheFirstMaximumAtAnyLength() {
        java.util.SplittableRandom r = new java.util.SplittableRandom(5);
        for (int n : new int[]{1, 2, 15, 16, 17, 31, 33, 100, 32000, 49152}) {
            for (int trial = 0; trial < 20; trial++) {
                float[] l = new float[n];
                for (int i = 0; i < n; i++) l[i] = (float) r.nextGaussian();
                int first = r.nextInt(n), second = first + r.nextInt(n - first);
                l[first] = 9f;
                l[second] = 9f;
                assertThat(Sampler.argmax(l)).as("n=%d", n).isEqualTo(first);
            }
        }
        float[] ascending = new float[40];
        for (int i = 0; i < ascending.length; i++) ascending[i] = i;
        assertThat(Sampler.argmax(ascending)).isEqualTo(39);
        assertThat(Sampler.argmax(new float[]{Float.NEGATIVE_INFINITY, Float.NaN, -1e30f, Float.NaN})).isEqualTo(2);
        assertThat(Sampler.argmax(new float[]{Float.NaN, 1f, 2f})).isEqualTo(0);
    }

    @Test
    void theSameSeedGivesTheSameDrawsAndAnotherSeedOthers() {
        assertThat(draws(BASE, 200)).containsExactly(draws(BASE, 200));
        assertThat(draws(BASE, 200)).isNotEqualTo(draws(BASE.withSeed(43), 200));
    }

    @Test
    void topKTopPAndMinPKeepOnlyTheLikelyTokens() {
        assertThat(draws(BASE.withTopK(2), 300)).containsOnly(1, 4).contains(1, 4);
        // probabilities ∝ e^x: ids 1 and 4 hold 2·e^3/(Σ) ≈ 0.68 of the mass; top-p 0.6 keeps them only
        assertThat(draws(BASE.withTopP(0.6), 300)).containsOnly(1, 4);
        assertThat(draws(BASE.withTopP(0.8), 300)).containsOnly(1, 2, 4).contains(2);
        // min-p 0.5: e^(x−3) ≥ 0.5 ⇔ x ≥ 3 − ln 2 ≈ 2.31: ids 1, 2, 4
        assertThat(draws(BASE.withMinP(0.5), 300)).containsOnly(1, 2, 4);
        assertThat(draws(BASE, 2000)).contains(0, 1, 2, 3, 4, 5);
    }

    @Test
    void lowTemperatureConcentratesOnTheMaxima() {
        assertThat(draws(BASE.withTemperature(0.01), 200)).containsOnly(1, 4);
    }

    @Test
    void penaltiesDiscourageRepeats() {
        Sampler s = new Sampler(BASE.withTemperature(0).withPenalties(0.4, 0.2));
        s.accept(1);                     // logit 3 → 3 − 0.4 − 0.2 = 2.4
        assertThat(s.sample(LOGITS)).isEqualTo(4);
        s.accept(4);                     // 4 → 2.4 as well; 2 (2.5) now leads
        assertThat(s.sample(LOGITS)).isEqualTo(2);
    }
}
