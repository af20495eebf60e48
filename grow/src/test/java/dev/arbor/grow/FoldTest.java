package dev.arbor.grow;

import dev.arbor.format.ArborException;
import dev.arbor.format.Checkpoint;
import dev.arbor.format.DType;
import dev.arbor.format.LlamaConfig;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** GROWTH.md §8.2 T6 (fold at c=1, engine part) and T7 (mid-ramp fold), §6 at c=0. */
class FoldTest {
    @TempDir static Path tmp;

    static Path grown(String name, String ops, DType dtype) throws IOException {
        Path parent = tmp.resolve("p-" + name);
        Fixtures.write(parent, Fixtures.config("gqa"), dtype, 31, 0.2);
        Path child = tmp.resolve("c-" + name);
        Fixtures.grow(parent, PreservationTest.plan("gqa", ops).withInitStd(0.2).withSeed(4), child);
        return child;
    }

    /** T6 (f32 part): the masked forward at c=1 equals the folded plain checkpoint, bitwise. */
    @ParameterizedTest
    @ValueSource(strings = {"F32", "BF16"})
    void foldAtOneIsExact(String dt) throws IOException {
        Path child = grown("one-" + dt, "depth+hidden+headsAB+ffn", DType.valueOf(dt));
        Path atOne = Fixtures.withMasksAt(child, 1.0, tmp.resolve("one-" + dt));
        Path plain = tmp.resolve("plain-one-" + dt);
        Folder.Result r;
        try (Checkpoint ck = Checkpoint.open(atOne)) {
            r = Folder.fold(ck, plain, Folder.At.STORED, false);
        }
        assertThat(r.exact()).isTrue();
        try (Checkpoint p = Checkpoint.open(plain)) {
            assertThat(p.tensorNames()).noneMatch(Masks::isMask);
            LlamaConfig c = p.requireConfig();
            assertThat(c.hiddenSize()).isEqualTo(44);
            assertThat(c.numHiddenLayers()).isEqualTo(5);
            assertThat(c.rmsNormEps()).isEqualTo(1e-5);
            assertThat(p.info("model.layers.0.mlp.down_proj.weight").dtype()).isEqualTo(DType.valueOf(dt));
        }
        PreservationCheck.Report rep = Fixtures.check32(atOne, plain, 24);
        // T6: bitwise with the same kernels (the engine treats masks of ones as absent).
        assertThat(rep.maxRelative()).isEqualTo(0.0);
        int[] ids = Fixtures.tokens(11, 5);
        assertThat(Fixtures.maxRel(Fixtures.logits64(atOne, ids), Fixtures.logits64(plain, ids))).isLessThanOrEqualTo(1e-15);
        // the ramp finished on a c=0 child (--at-one) gives the same checkpoint
        Path viaOne = tmp.resolve("via-one-" + dt);
        try (Checkpoint ck = Checkpoint.open(child)) {
            Folder.fold(ck, viaOne, Folder.At.ONE, false);
        }
        assertThat(Fixtures.check32(plain, viaOne, 24).maxRelative()).isEqualTo(0.0);
    }

    /** T6 without hidden growth: the masked forward at c=1 and the folded checkpoint agree bitwise. */
    @Test
    void foldAtOneIsBitwiseWithoutHiddenGrowth() throws IOException {
        Path child = grown("one-nohidden", "depth+headsAB+ffn", DType.BF16);
        Path atOne = Fixtures.withMasksAt(child, 1.0, tmp.resolve("one-nohidden"));
        Path plain = tmp.resolve("plain-one-nohidden");
        try (Checkpoint ck = Checkpoint.open(atOne)) {
            assertThat(Folder.fold(ck, plain, Folder.At.STORED, false).exact()).isTrue();
        }
        assertThat(Fixtures.check32(atOne, plain, 24).maxRelative()).isEqualTo(0.0);
    }

    /** T7: mid-ramp (c = 0.3) fold of ffn, heads and depth is exact (≤ 1e-6 f32). */
    @ParameterizedTest
    @ValueSource(strings = {"ffn", "headsA", "headsB", "depth", "depth+headsAB+ffn"})
    void midRampFoldIsExactForFfnHeadsDepth(String ops) throws IOException {
        Path child = grown("mid-" + ops, ops, DType.BF16);
        Path mid = Fixtures.withMasksAt(child, 0.3, tmp.resolve("mid03-" + ops));
        Path plain = tmp.resolve("plain-mid-" + ops);
        try (Checkpoint ck = Checkpoint.open(mid)) {
            assertThat(Folder.fold(ck, plain, Folder.At.STORED, false).exact()).isTrue();
        }
        PreservationCheck.Report rep = Fixtures.check32(mid, plain, 24);
        assertThat(rep.maxRelative()).isLessThanOrEqualTo(1e-6);
        int[] ids = Fixtures.tokens(11, 5);
        // f64 forward of both: the only difference is the folded products w·m rounded once to F32
        assertThat(Fixtures.maxRel(Fixtures.logits64(mid, ids), Fixtures.logits64(plain, ids))).isLessThanOrEqualTo(1e-7);
        // and the ramp really changed the function (c = 0.3 is not the parent)
        assertThat(Fixtures.check32(child, mid, 24).maxRelative()).isGreaterThan(1e-3);
    }

    /** T7: mid-ramp hidden growth is refused without approximate; with it the divergence is measured. */
    @Test
    void midRampHiddenFoldIsRefusedUnlessApproximate() throws IOException {
        Path child = grown("mid-hidden", "hidden+ffn", DType.F32);
        Path mid = Fixtures.withMasksAt(child, 0.3, tmp.resolve("mid03-hidden"));
        try (Checkpoint ck = Checkpoint.open(mid)) {
            assertThatThrownBy(() -> Folder.fold(ck, tmp.resolve("refused"), Folder.At.STORED, false))
                    .isInstanceOf(ArborException.class).hasMessageContaining("--approximate");
            assertThat(tmp.resolve("refused")).doesNotExist();
            Folder.Result r = Folder.fold(ck, tmp.resolve("approx"), Folder.At.STORED, true);
            assertThat(r.exact()).isFalse();
            assertThat(r.divergence().maxRelative()).isGreaterThan(1e-4);
            assertThat(r.record().get("measured_divergence").get("max_rel_logit_diff").doubleValue())
                    .isEqualTo(r.divergence().maxRelative());
        }
    }

    /** §6 at c=0: the plain export (new writes zeroed, γ·sqrt(d/D′), ε·d/D′) computes the parent. */
    @ParameterizedTest
    @ValueSource(strings = {"hidden", "depth+hidden+headsAB+ffn", "depth+hidden+headsB+ffn"})
    void foldAtZeroComputesTheParent(String ops) throws IOException {
        Path parent = tmp.resolve("p0-" + ops);
        Fixtures.write(parent, Fixtures.config("gqa"), DType.F32, 41, 0.2);
        Path child = tmp.resolve("c0-" + ops);
        Fixtures.grow(parent, PreservationTest.plan("gqa", ops).withInitStd(1.0), child);
        Path plain = tmp.resolve("plain0-" + ops);
        try (Checkpoint ck = Checkpoint.open(child)) {
            assertThat(Folder.fold(ck, plain, Folder.At.ZERO, false).exact()).isTrue();
        }
        try (Checkpoint p = Checkpoint.open(plain)) {
            double ratio = 16.0 / p.requireConfig().hiddenSize();
            assertThat(p.requireConfig().rmsNormEps()).isCloseTo(1e-5 * ratio, org.assertj.core.data.Offset.offset(1e-20));
        }
        int[] ids = Fixtures.tokens(11, 5);
        // parent F32 weights, norm weights × sqrt(d/D′) rounded to F32: ≈1e-8 (T8 does f64 exactly)
        assertThat(Fixtures.maxRel(Fixtures.logits64(parent, ids), Fixtures.logits64(plain, ids))).isLessThanOrEqualTo(1e-6);
        assertThat(Fixtures.check32(parent, plain, 24).maxRelative()).isLessThanOrEqualTo(2e-6);
    }

    @Test
    void foldOfAPlainModelIsACopy() throws IOException {
        Path parent = tmp.resolve("plain-parent");
        Fixtures.write(parent, Fixtures.config("mha"), DType.BF16, 2, 0.2);
        try (Checkpoint ck = Checkpoint.open(parent)) {
            Folder.fold(ck, tmp.resolve("plain-copy"), Folder.At.STORED, false);
        }
        assertThat(Fixtures.check32(parent, tmp.resolve("plain-copy"), 16).maxRelative()).isEqualTo(0.0);
        List<String> names;
        try (Checkpoint ck = Checkpoint.open(tmp.resolve("plain-copy"))) {
            names = ck.tensorNames();
            for (String n : names) assertThat(ck.info(n).dtype()).isEqualTo(DType.BF16);
        }
    }
}
