package dev.arbor.format;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** Checkpoints written by the independent reference: read values, write back byte-identically. */
class GoldenCheckpointTest {
    static final String[] NAMES = {"mha_bf16", "gqa_f32", "mqa_f16_3shards", "tied_headdim_bf16"};

    @ParameterizedTest
    @ValueSource(strings = {"mha_bf16", "gqa_f32", "mqa_f16_3shards", "tied_headdim_bf16"})
    void readsEveryTensorWithTheReferenceValues(String name) throws Exception {
        JsonNode expected = new ObjectMapper().readTree(Golden.path(name + ".expected.json").toFile());
        try (Checkpoint ck = Checkpoint.open(Golden.path(name))) {
            assertThat(ck.tensorNames()).hasSize(expected.size());
            LlamaConfig cfg = ck.requireConfig();
            assertThat(LlamaTensors.expectedShapes(cfg).keySet()).containsExactlyInAnyOrderElementsOf(ck.tensorNames());
            var it = expected.fields();
            while (it.hasNext()) {
                Map.Entry<String, JsonNode> e = it.next();
                Tensor t = ck.tensor(e.getKey());
                JsonNode x = e.getValue();
                List<Long> shape = new ArrayList<>();
                x.get("shape").forEach(n -> shape.add(n.longValue()));
                assertThat(t.shape()).containsExactly(shape.stream().mapToLong(Long::longValue).toArray());
                double[] v = t.toDoubleArray();
                for (int i = 0; i < 4 && i < v.length; i++) assertThat(v[i]).isEqualTo(x.get("first").get(i).doubleValue());
                assertThat(v[v.length - 1]).isEqualTo(x.get("last").doubleValue());
                double s = 0, s2 = 0;
                for (double d : v) { s += d; s2 += d * d; }
                assertThat(s).isCloseTo(x.get("sum").doubleValue(), org.assertj.core.data.Offset.offset(1e-9 * Math.max(1, Math.abs(s2))));
                assertThat(s2).isCloseTo(x.get("sumsq").doubleValue(), org.assertj.core.data.Offset.offset(1e-9 * s2));
                // float view agrees with the double view for these dtypes
                float[] f = t.toFloatArray();
                for (int i = 0; i < f.length; i++) assertThat((double) f[i]).isEqualTo(v[i]);
            }
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"mha_bf16", "gqa_f32", "mqa_f16_3shards", "tied_headdim_bf16"})
    void writesBackByteIdentically(String name, @TempDir Path tmp) throws Exception {
        Path src = Golden.path(name);
        Path dst = tmp.resolve("copy");
        try (Checkpoint ck = Checkpoint.open(src, false)) {
            CheckpointWriter w = new CheckpointWriter().config(ck.config());
            List<List<String>> layout = new ArrayList<>();
            for (SafetensorsFile f : ck.shards()) {
                List<TensorInfo> ordered = new ArrayList<>(f.tensors());
                ordered.sort(Comparator.comparingLong(TensorInfo::begin));
                List<String> names = new ArrayList<>();
                for (TensorInfo t : ordered) {
                    w.add(TensorEntry.copyOf(f, t, t.dtype()));
                    names.add(t.name());
                }
                layout.add(names);
            }
            w.shards(layout).metadata(ck.shards().get(0).metadata()).write(dst);
        }
        try (var files = Files.list(src)) {
            for (Path f : files.toList()) {
                String fn = f.getFileName().toString();
                if (fn.equals("config.json")) continue;      // re-serialised JSON: compared as data below
                assertThat(Files.readAllBytes(dst.resolve(fn))).as(fn).isEqualTo(Files.readAllBytes(f));
            }
        }
        assertThat(LlamaConfig.read(dst.resolve("config.json"))).isEqualTo(LlamaConfig.read(src.resolve("config.json")));
    }

    @ParameterizedTest
    @ValueSource(strings = {"bf16", "f16", "f32"})
    void theReferenceStrictInspectAcceptsConvertedAndReshardedOutput(String dtype, @TempDir Path tmp) throws Exception {
        var ref = Golden.referenceScript();
        assumeTrue(ref.isPresent(), "python3 with torch and shared/reference are not available");
        for (String name : NAMES) {
            Path dst = tmp.resolve(name + "-" + dtype);
            DType dt = DType.parseUserDtype(dtype);
            try (Checkpoint ck = Checkpoint.open(Golden.path(name), false)) {
                CheckpointWriter w = new CheckpointWriter().config(ck.config()).maxShardBytes(6000);
                for (String n : ck.tensorNames()) w.add(TensorEntry.copyOf(ck.shardOf(n), ck.info(n), dt));
                w.write(dst);
            }
            Object[] r = Golden.runReference(ref.get(), "inspect", dst.toString());
            assertThat((Integer) r[0]).as((String) r[1]).isZero();
            // and the reference computes the same logits from it as from the original (f32 ↔ original is exact)
            if (dt == DType.F32) {
                Path a = tmp.resolve(name + "-a.safetensors"), b = tmp.resolve(name + "-b.safetensors");
                assertThat((Integer) Golden.runReference(ref.get(), "logits", "--model", Golden.path(name).toString(), "--tokens", "1,5,9", "--out", a.toString())[0]).isZero();
                assertThat((Integer) Golden.runReference(ref.get(), "logits", "--model", dst.toString(), "--tokens", "1,5,9", "--out", b.toString())[0]).isZero();
                try (SafetensorsFile fa = SafetensorsFile.open(a); SafetensorsFile fb = SafetensorsFile.open(b)) {
                    assertThat(fb.tensor("logits").toFloatArray()).containsExactly(fa.tensor("logits").toFloatArray());
                }
            }
        }
    }
}
