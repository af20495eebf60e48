package dev.arbor.format;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class ConfigAndWriterTest {
    @TempDir Path dir;

    @Test void hfDefaultsAndUnknownFieldsSurviveARoundTrip() {
        LlamaConfig c = LlamaConfig.fromJson("c", """
                {"hidden_size": 64, "intermediate_size": 100, "num_hidden_layers": 2,
                 "num_attention_heads": 8, "vocab_size": 99, "my_custom": {"x": [1, 2]}}""");
        assertThat(c.rmsNormEps()).isEqualTo(1e-6);
        assertThat(c.ropeTheta()).isEqualTo(1e4);
        assertThat(c.numKeyValueHeads()).isEqualTo(8);
        assertThat(c.headDim()).isEqualTo(8);
        assertThat(c.tieWordEmbeddings()).isFalse();
        assertThat(c.hasExplicitHeadDim()).isFalse();
        LlamaConfig back = LlamaConfig.fromJson("back", c.toJson());
        assertThat(back).isEqualTo(c);
        assertThat(back.toJsonNode().get("my_custom").get("x").get(1).intValue()).isEqualTo(2);
        assertThat(c.with("head_dim", 24).headDim()).isEqualTo(24);
        assertThat(LlamaConfig.fromJson("e", "{\"hidden_size\":64,\"intermediate_size\":1,\"num_hidden_layers\":1,"
                + "\"num_attention_heads\":1,\"vocab_size\":9,\"eos_token_id\":[5,7]}").eosTokenIds()).containsExactly(5, 7);
    }

    @Test void parameterCountMatchesTheTensors() {
        LlamaConfig c = LlamaConfig.create(96, 3, 6, 2, 256, 320);
        long n = 0;
        for (long[] s : LlamaTensors.expectedShapes(c).values()) n += TensorInfo.numel(s);
        assertThat(c.parameterCount()).isEqualTo(n);
        LlamaConfig tied = c.with("tie_word_embeddings", true);
        assertThat(tied.parameterCount()).isEqualTo(n - 320L * 96);
    }

    @Test void shardsByMaximumSizeWithAnIndexAndReadsBack() throws Exception {
        LlamaConfig c = LlamaConfig.create(32, 2, 4, 2, 48, 64);
        Path out = dir.resolve("m");
        RandomInit.write(c, 5, 0.02, DType.BF16, out, List.of(), 5000, (a, b) -> { });
        try (var s = Files.list(out)) {
            assertThat(s.map(p -> p.getFileName().toString()).filter(n -> n.endsWith(".safetensors")).count()).isGreaterThan(2);
        }
        try (Checkpoint ck = Checkpoint.open(out)) {
            for (SafetensorsFile f : ck.shards()) {
                long b = 0;
                for (TensorInfo t : f.tensors()) b += t.byteSize();
                assertThat(b <= 5000 || f.tensors().size() == 1).isTrue();
            }
            assertThat(ck.tensorNames()).hasSize(LlamaTensors.expectedShapes(c).size());
            float[] norm = ck.tensor("model.norm.weight").toFloatArray();
            for (float v : norm) assertThat(v).isEqualTo(1f);
            float[] e = ck.tensor("model.embed_tokens.weight").toFloatArray();
            double s2 = 0;
            for (float v : e) s2 += v * v;
            assertThat(Math.sqrt(s2 / e.length)).isBetween(0.018, 0.022);
        }
        // the same seed gives the same weights whatever the sharding
        Path one = dir.resolve("one");
        RandomInit.write(c, 5, 0.02, DType.BF16, one, List.of(), 0, (a, b) -> { });
        try (Checkpoint a = Checkpoint.open(out); Checkpoint b = Checkpoint.open(one)) {
            for (String n : a.tensorNames()) assertThat(a.tensor(n).toFloatArray()).containsExactly(b.tensor(n).toFloatArray());
        }
    }

    @Test void refusesToOverwriteAndLeavesNothingBehindOnFailure() throws Exception {
        Path out = dir.resolve("x");
        Files.createDirectory(out);
        var w = new CheckpointWriter().add(TensorEntry.ofFloats("a", DType.F32, new long[]{2}, new float[]{1, 2}));
        assertThatThrownBy(() -> w.write(out)).isInstanceOf(FormatException.class).hasMessageContaining("already exists");
        Path out2 = dir.resolve("y");
        var bad = new CheckpointWriter().add(new TensorEntry("a", DType.F32, new long[]{4}, sink -> sink.putFloats(new float[]{1}, 0, 1)));
        assertThatThrownBy(() -> bad.write(out2)).isInstanceOf(IllegalStateException.class);
        assertThat(out2).doesNotExist();
        try (var s = Files.list(dir)) {
            assertThat(s.map(p -> p.getFileName().toString()).toList()).containsExactlyInAnyOrder("x");
        }
    }

    @Test void indexJsonIsFormattedLikeHf() {
        assertThat(CheckpointWriter.indexJson(10, new java.util.TreeMap<>(Map.of("b", "f2", "a", "f1"))))
                .isEqualTo("{\n  \"metadata\": {\n    \"total_size\": 10\n  },\n  \"weight_map\": {\n    \"a\": \"f1\",\n    \"b\": \"f2\"\n  }\n}\n");
    }

    @Test void parsesSizes() {
        assertThat(CheckpointWriter.parseSize("2GB")).isEqualTo(2_000_000_000L);
        assertThat(CheckpointWriter.parseSize("1.5 MiB")).isEqualTo(1_572_864L);
        assertThat(CheckpointWriter.parseSize("123")).isEqualTo(123L);
        assertThatThrownBy(() -> CheckpointWriter.parseSize("lots")).isInstanceOf(FormatException.class);
        assertThatThrownBy(() -> CheckpointWriter.parseSize("-1GB")).isInstanceOf(FormatException.class);
    }
}
