package dev.arbor.grow;

import com.fasterxml.jackson.databind.JsonNode;
import dev.arbor.format.ArborException;
import dev.arbor.format.Checkpoint;
import dev.arbor.format.DType;
import dev.arbor.format.LlamaConfig;
import dev.arbor.format.LlamaTensors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.function.UnaryOperator;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** GROWTH.md §8.3: T11 layer selection, T12 negative controls, T13 config; plan validation. */
class SelectionAndControlsTest {
    @TempDir static Path tmp;

    static UnaryOperator<double[]> zero() { return v -> new double[v.length]; }

    /** T11: a layer with o_proj = down_proj = 0 has distance exactly 0 and is chosen first. */
    @Test
    void zeroLayerIsSelectedFirstAndDistancesAreRecorded() throws IOException {
        Path base = Fixtures.write(tmp.resolve("sel-base"), Fixtures.config("gqa").with("num_hidden_layers", 5), DType.F32, 3, 0.2);
        Map<String, UnaryOperator<double[]>> edits = new HashMap<>();
        for (int l : new int[]{1, 3}) {
            edits.put(LlamaTensors.layer(l, "self_attn.o_proj.weight"), zero());
            edits.put(LlamaTensors.layer(l, "mlp.down_proj.weight"), zero());
        }
        Path parent = Fixtures.rewrite(base, tmp.resolve("sel-parent"), c -> c, edits);
        for (String metric : new String[]{"cosine", "relative"}) {
            GrowthPlan plan = GrowthPlan.toShape(null, null, null, null, 7).withSelection(GrowthPlan.Selection.parse(metric))
                    .withCalibration(null, 2, 16);
            Path child = tmp.resolve("sel-child-" + metric);
            Grower.Result r = Fixtures.grow(parent, plan, child);
            double[] d = r.distances().distances();
            assertThat(d[1]).isEqualTo(0.0);
            assertThat(d[3]).isEqualTo(0.0);
            for (int l : new int[]{0, 2, 4}) assertThat(d[l]).isGreaterThan(1e-3);
            // ties go to the lower index; the two zero layers are chosen
            assertThat(r.distances().choose(2, false)).containsExactly(1, 3);
            assertThat(r.distances().choose(3, false).subList(0, 2)).containsExactly(1, 3);
            JsonNode ev = r.event();
            assertThat(ev.get("new").get("layers").get("sources").toString()).isEqualTo("[1,3]");
            assertThat(ev.get("new").get("layers").get("inserted").toString()).isEqualTo("[2,5]");
            assertThat(ev.get("selection").get("distances")).hasSize(5);
            assertThat(ev.get("selection").get("metric").asText()).isEqualTo(metric);
            // deterministic: the same plan gives the same distances
            try (Checkpoint ck = Checkpoint.open(parent)) {
                assertThat(LayerDistances.compute(ck, plan).distances()).containsExactly(d);
            }
            assertThat(Fixtures.check32(parent, child, 16).maxRelative()).isLessThanOrEqualTo(1e-6);
            // largest: the others, high distance first
            assertThat(r.distances().choose(2, true)).doesNotContain(1, 3);
        }
    }

    static double rel(Path a, Path b) {
        int[] ids = Fixtures.tokens(11, 5);
        return Fixtures.maxRel(Fixtures.logits64(a, ids), Fixtures.logits64(b, ids));
    }

    /** T12 (a): plain (unweighted) RMSNorm at c=0 with hidden growth breaks preservation. */
    @Test
    void plainRmsNormAfterHiddenGrowthFails() throws IOException {
        Path parent = Fixtures.parent(tmp, "gqa");
        Path child = tmp.resolve("ctl-hidden");
        Fixtures.grow(parent, GrowthPlan.toShape(28, null, null, null, null).withHeadDim(4).withInitStd(1.0), child);
        Path exact = tmp.resolve("ctl-hidden-fold");
        try (Checkpoint ck = Checkpoint.open(child)) {
            Folder.fold(ck, exact, Folder.At.ZERO, false);
        }
        assertThat(rel(parent, exact)).isLessThanOrEqualTo(1e-6);
        // undo the γ/ε rescaling: write masks folded, norms plain over D′
        double s = Math.sqrt(16.0 / 28);
        Map<String, UnaryOperator<double[]>> edits = new HashMap<>();
        try (Checkpoint ck = Checkpoint.open(exact)) {
            for (String n : ck.tensorNames()) {
                if (n.endsWith("norm.weight")) edits.put(n, v -> Arrays.stream(v).map(x -> x / s).toArray());
            }
        }
        Path plain = Fixtures.rewrite(exact, tmp.resolve("ctl-hidden-plain"), c -> c.with("rms_norm_eps", 1e-5), edits);
        assertThat(rel(parent, plain)).isGreaterThan(1e-3);
    }

    /** T12 (b, c): option B appended without re-layout, and the head mask on V, both fail. */
    @Test
    void optionBWithoutRelayoutAndMaskOnVFail() throws IOException {
        Path parent = Fixtures.parent(tmp, "gqa"); // H4 G2 r2 → H6 G2 r3
        Path child = tmp.resolve("ctl-b");
        Fixtures.grow(parent, GrowthPlan.toShape(null, 6, 2, null, null).withHeadDim(4).withInitStd(1.0), child);
        assertThat(rel(parent, child)).isLessThanOrEqualTo(1e-12);
        int hd = 4, d = 16, h2 = 6;
        // child head j ↔ parent head: {0,1,-,2,3,-}; appended layout puts parent heads at 0..3, new at 4,5
        int[] fromRelaid = {0, 1, 3, 4, 2, 5};
        Map<String, UnaryOperator<double[]>> edits = new HashMap<>();
        for (int l = 0; l < 3; l++) {
            edits.put(LlamaTensors.layer(l, "self_attn.q_proj.weight"), v -> {
                double[] o = new double[v.length];
                for (int j = 0; j < h2; j++) System.arraycopy(v, fromRelaid[j] * hd * d, o, j * hd * d, hd * d);
                return o;
            });
            edits.put(LlamaTensors.layer(l, "self_attn.o_proj.weight"), v -> {
                double[] o = new double[v.length];
                for (int row = 0; row < d; row++) {
                    for (int j = 0; j < h2; j++) System.arraycopy(v, row * h2 * hd + fromRelaid[j] * hd, o, row * h2 * hd + j * hd, hd);
                }
                return o;
            });
            edits.put(Masks.heads(l), v -> new double[]{1, 1, 1, 1, 0, 0});
        }
        Path appended = Fixtures.rewrite(child, tmp.resolve("ctl-b-appended"), c -> c, edits);
        assertThat(rel(parent, appended)).isGreaterThan(1e-3);
        // MSG's placement: mask on V. Under option B every kv head is shared by a new query head,
        // so masking the new heads' V zeroes the old heads' V too.
        Map<String, UnaryOperator<double[]>> onV = new HashMap<>();
        for (int l = 0; l < 3; l++) {
            onV.put(LlamaTensors.layer(l, "self_attn.v_proj.weight"), v -> new double[v.length]);
            onV.put(Masks.heads(l), v -> new double[]{1, 1, 1, 1, 1, 1});
        }
        Path maskOnV = Fixtures.rewrite(child, tmp.resolve("ctl-b-onv"), c -> c, onV);
        assertThat(rel(parent, maskOnV)).isGreaterThan(1e-3);
    }

    /** T12 (d): the embedding write left unmasked while the reading columns are random fails. */
    @Test
    void unmaskedEmbeddingWriteFails() throws IOException {
        Path parent = Fixtures.parent(tmp, "gqa");
        Path child = tmp.resolve("ctl-emb");
        Fixtures.grow(parent, GrowthPlan.toShape(28, null, null, null, null).withHeadDim(4).withInitStd(1.0), child);
        Path exact = tmp.resolve("ctl-emb-fold");
        try (Checkpoint ck = Checkpoint.open(child)) {
            Folder.fold(ck, exact, Folder.At.ZERO, false);
        }
        SplittableRandom rng = new SplittableRandom(1);
        Path broken = Fixtures.rewrite(exact, tmp.resolve("ctl-emb-broken"), c -> c, Map.of("model.embed_tokens.weight", v -> {
            double[] o = v.clone();
            for (int i = 0; i < o.length; i++) if (i % 28 >= 16) o[i] = rng.nextGaussian();
            return o;
        }));
        assertThat(rel(parent, broken)).isGreaterThan(1e-3);
    }

    /** T13: head_dim is written whenever D′ ≠ H′·hd, and every shape matches §1 for the new config. */
    @Test
    void grownConfigAndShapes() throws IOException {
        Path parent = Fixtures.parent(tmp, "mqa");
        record Case(String name, GrowthPlan plan, boolean headDim) {}
        for (Case c : List.of(
                new Case("hidden-only", GrowthPlan.toShape(28, null, null, null, null), true),
                new Case("matching", GrowthPlan.toShape(32, 8, 2, 40, 5).withSelection(GrowthPlan.Selection.explicit(List.of(0, 0))), false))) {
            Path child = tmp.resolve("t13-" + c.name);
            Fixtures.grow(parent, c.plan, child);
            try (Checkpoint ck = Checkpoint.open(child)) {
                LlamaConfig cfg = ck.requireConfig();
                assertThat(cfg.hasExplicitHeadDim()).isEqualTo(c.headDim);
                assertThat(cfg.headDim()).isEqualTo(4);
                for (Map.Entry<String, long[]> e : LlamaTensors.expectedShapes(cfg).entrySet()) {
                    assertThat(ck.info(e.getKey()).shape()).as(e.getKey()).containsExactly(e.getValue());
                }
                String json = Files.readString(child.resolve("config.json"));
                assertThat(json.contains("\"head_dim\"")).isEqualTo(c.headDim);
            }
        }
    }

    @Test
    void invalidPlansAreRefusedWithOneSentence() {
        LlamaConfig p = Fixtures.config("gqa"); // D16 H4 G2 F24 L3
        assertThatThrownBy(() -> GrowthPlan.toShape(8, null, null, null, null).validate(p))
                .isInstanceOf(ArborException.class).hasMessage("The plan shrinks hidden_size from 16 to 8; growth only adds.");
        assertThatThrownBy(() -> GrowthPlan.toShape(null, null, null, 16, null).validate(p)).hasMessageContaining("shrinks intermediate_size");
        assertThatThrownBy(() -> GrowthPlan.toShape(null, null, null, null, 2).validate(p)).hasMessageContaining("shrinks num_hidden_layers");
        assertThatThrownBy(() -> GrowthPlan.toShape(null, 6, 4, null, null).withHeadDim(4).validate(p))
                .hasMessage("num_key_value_heads (4) must divide num_attention_heads (6).");
        assertThatThrownBy(() -> GrowthPlan.toShape(null, 6, 2, null, null).validate(p))
                .hasMessageContaining("num_attention_heads (6) does not divide hidden_size (16)");
        assertThatThrownBy(() -> GrowthPlan.toShape(null, 8, 8, null, null).withHeadDim(4).validate(p))
                .hasMessageContaining("lowers the query heads per kv head from 2 to 1");
        assertThatThrownBy(() -> GrowthPlan.toShape(null, null, null, null, 4).withSelection(GrowthPlan.Selection.explicit(List.of(3))).validate(p))
                .hasMessage("Source layer 3 is out of range: the parent has layers 0..2.");
        assertThatThrownBy(() -> GrowthPlan.toShape(null, null, null, null, 5).withSelection(GrowthPlan.Selection.explicit(List.of(1))).validate(p))
                .hasMessage("The plan adds 2 layers but names 1 source layer.");
        assertThatThrownBy(() -> GrowthPlan.toShape(16, 4, 2, 24, 3).validate(p)).hasMessageContaining("grows nothing");
        assertThatThrownBy(() -> GrowthPlan.toShape(null, null, null, null, 4).withHeadDim(8).validate(p)).hasMessageContaining("keeps the parent's head_dim 4");
        // valid: heads grow without hidden when head_dim is explicit; hidden grows with head_dim written
        assertThat(GrowthPlan.toShape(null, 6, 2, null, null).withHeadDim(4).validate(p).childConfig().headDim()).isEqualTo(4);
        assertThat(GrowthPlan.toShape(20, null, null, null, null).validate(p).childConfig().hasExplicitHeadDim()).isTrue();
    }

    @Test
    void planJsonRoundTripsAndRejectsUnknownFields() {
        GrowthPlan p = GrowthPlan.fromJson("plan.json", """
                {"hidden_size": 24, "num_attention_heads": 6, "num_key_value_heads": 3, "intermediate_size": 40,
                 "num_hidden_layers": 5, "select": "relative", "prefer": "largest", "init_std": 0.01, "seed": 9,
                 "ramp_steps": 400, "calibration": {"sequences": 2, "tokens": 64}}""");
        assertThat(p.hiddenSize()).isEqualTo(24);
        assertThat(p.selection().metric()).isEqualTo(GrowthPlan.Selection.Metric.RELATIVE);
        assertThat(p.selection().largest()).isTrue();
        assertThat(p.rampSteps()).isEqualTo(400);
        assertThat(GrowthPlan.fromJson("again", p.toJson().toString())).isEqualTo(p);
        GrowthPlan e = GrowthPlan.fromJson("e", "{\"num_hidden_layers\": 5, \"sources\": [2, 0]}");
        assertThat(e.selection().sources()).containsExactly(2, 0);
        assertThatThrownBy(() -> GrowthPlan.fromJson("bad.json", "{\"hiden_size\": 3}")).hasMessageStartingWith("The plan bad.json has an unknown field 'hiden_size'");
        assertThatThrownBy(() -> GrowthPlan.fromJson("bad.json", "{\"ramp_steps\": 0}")).hasMessageContaining("at least 1 step");
        assertThatThrownBy(() -> GrowthPlan.Selection.parse("explicit")).hasMessageContaining("needs source layers");
        assertThatThrownBy(() -> GrowthPlan.Selection.parse("euclid")).hasMessageContaining("Unknown layer selection");
    }

    @Test
    void yamlPlansReadLikeJson(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir) throws Exception {
        java.nio.file.Path y = dir.resolve("plan.yaml");
        java.nio.file.Files.writeString(y, """
                # Tele-FLM-style: every dimension in one event
                hidden_size: 24
                num_attention_heads: 6
                num_key_value_heads: 3
                intermediate_size: 40
                num_hidden_layers: 5
                select: relative
                prefer: largest
                init_std: 0.01
                seed: 9
                ramp_steps: 400
                calibration: {sequences: 2, tokens: 64}
                """);
        GrowthPlan fromYaml = GrowthPlan.read(y);
        java.nio.file.Path j = dir.resolve("plan.json");
        java.nio.file.Files.writeString(j, fromYaml.toJson().toString());
        assertThat(GrowthPlan.read(j)).isEqualTo(fromYaml);
        assertThat(fromYaml.hiddenSize()).isEqualTo(24);
        assertThat(fromYaml.rampSteps()).isEqualTo(400);
        java.nio.file.Path bad = dir.resolve("bad.yml");
        java.nio.file.Files.writeString(bad, "hidden_size: [1, 2\n");
        assertThatThrownBy(() -> GrowthPlan.read(bad)).hasMessage("The plan " + bad + " is not valid YAML.");
        java.nio.file.Files.writeString(bad, "hiden_size: 3\n");
        assertThatThrownBy(() -> GrowthPlan.read(bad)).hasMessageContaining("unknown field 'hiden_size'");
    }
}
