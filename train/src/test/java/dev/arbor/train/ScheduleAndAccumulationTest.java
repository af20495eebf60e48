package dev.arbor.train;

import dev.arbor.model.Gemm;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.data.Offset.offset;

/** Learning-rate schedules, gradient accumulation and the two learning-rate groups. */
class ScheduleAndAccumulationTest {
    static final Gemm GEMM = new Gemm(2);

    @AfterAll static void close() { GEMM.close(); }

    @Test
    void warmupThenCosineLinearConstantAndWsd() {
        LrSchedule cos = new LrSchedule(LrSchedule.Kind.COSINE, 1e-3, 1e-4, 10, 110, 0.2);
        assertThat(cos.at(0)).isCloseTo(1e-4, offset(1e-15));          // (s+1)/warmup of the peak
        assertThat(cos.at(9)).isCloseTo(1e-3, offset(1e-15));
        assertThat(cos.at(10)).isCloseTo(1e-3, offset(1e-15));         // cosine starts at the peak
        assertThat(cos.at(60)).isCloseTo(5.5e-4, offset(1e-15));       // half way: (peak + min) / 2
        assertThat(cos.at(110)).isCloseTo(1e-4, offset(1e-15));        // ends at min
        LrSchedule lin = new LrSchedule(LrSchedule.Kind.LINEAR, 1e-3, 0, 0, 100, 0.2);
        assertThat(lin.at(0)).isCloseTo(1e-3, offset(1e-15));
        assertThat(lin.at(50)).isCloseTo(5e-4, offset(1e-15));
        LrSchedule con = new LrSchedule(LrSchedule.Kind.CONSTANT, 1e-3, 0, 4, 100, 0.2);
        assertThat(con.at(1)).isCloseTo(5e-4, offset(1e-15));
        assertThat(con.at(99)).isCloseTo(1e-3, offset(1e-15));
        // warmup-stable-decay: stable until the last 20 %, then linear to min
        LrSchedule wsd = new LrSchedule(LrSchedule.Kind.WSD, 1e-3, 1e-4, 10, 100, 0.2);
        assertThat(wsd.at(79)).isCloseTo(1e-3, offset(1e-15));
        assertThat(wsd.at(80)).isCloseTo(1e-3 - 0.9e-3 / 20, offset(1e-15));
        assertThat(wsd.at(99)).isCloseTo(1e-4, offset(1e-15));
        assertThatThrownBy(() -> new LrSchedule(LrSchedule.Kind.COSINE, 1e-3, 2e-3, 0, 10, 0.2)).hasMessageContaining("minimum learning rate");
    }

    /** Two micro-batches with the step's shared denominator give the gradient of the whole batch. */
    @Test
    void accumulatedGradientsEqualOneLargeBatch() {
        int[][] in = {GradientTest.TOKENS, {5, 9, 14, 3, 3, 80, 1, 2, 60, 61, 62, 17, 4, 8}};
        int[][] tg = {GradientTest.targets(in[0], null), GradientTest.targets(in[1], GradientTest.MASK)};
        long count = 13 + java.util.Arrays.stream(tg[1]).filter(x -> x >= 0).count();
        Params whole = GradientTest.load("gqa"), parts = GradientTest.load("gqa");
        double l1 = new Transformer(whole, GEMM).forwardBackward(in, tg, count).sum();
        Transformer t = new Transformer(parts, GEMM);
        double l2 = t.forwardBackward(new int[][]{in[0]}, new int[][]{tg[0]}, count).sum()
                + t.forwardBackward(new int[][]{in[1]}, new int[][]{tg[1]}, count).sum();
        assertThat(l2).isCloseTo(l1, offset(1e-5));
        for (Params.Param p : whole.all) {
            float[] a = p.grad, b = parts.byName(p.name).grad;
            for (int i = 0; i < a.length; i++) assertThat(b[i]).as(p.name).isCloseTo(a[i], offset(1e-6f + 1e-5f * Math.abs(a[i])));
        }
    }

    /** Norm gains follow lrVector, matrices lrMatrix; with decay on matrices only, a zero vector LR leaves gains untouched. */
    @Test
    void vectorAndMatrixParametersHaveTheirOwnLearningRates() {
        Params p = GradientTest.load("mha");
        float[][] before = p.all.stream().map(q -> q.data.clone()).toArray(float[][]::new);
        new Transformer(p, GEMM).forwardBackward(new int[][]{GradientTest.TOKENS}, new int[][]{GradientTest.targets(GradientTest.TOKENS, null)}, 13);
        new AdamW(p, new AdamW.Settings(0.9, 0.999, 1e-8, 0.1, false)).update(GEMM, 1e-2, 0.0);
        for (int i = 0; i < p.all.size(); i++) {
            Params.Param q = p.all.get(i);
            if (q.isMatrix()) assertThat(q.data).as(q.name).isNotEqualTo(before[i]);
            else assertThat(q.data).as(q.name).containsExactly(before[i]);
        }
    }
}
