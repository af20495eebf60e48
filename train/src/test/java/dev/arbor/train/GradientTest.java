package dev.arbor.train;

import dev.arbor.model.Gemm;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.arbor.format.Checkpoint;
import dev.arbor.format.Golden;
import dev.arbor.format.SafetensorsFile;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;

/** Loss and gradients against the f64 reference (ref_llama.py `grads`), for every weight. */
class GradientTest {
    static final int[] TOKENS = {3, 17, 5, 88, 42, 9, 61, 23, 77, 1, 50, 34, 12, 66};
    static final int[] MASK = {0, 1, 1, 0, 1, 1, 1, 0, 0, 1, 1, 1, 0, 1};
    static final Gemm GEMM = new Gemm(2);

    @AfterAll static void close() { GEMM.close(); }

    /** HF shift: position t predicts token t+1 when mask[t+1] is set. */
    static int[] targets(int[] tokens, int[] mask) {
        int[] t = new int[tokens.length];
        for (int i = 0; i < tokens.length; i++) {
            t[i] = i + 1 < tokens.length && (mask == null || mask[i + 1] == 1) ? tokens[i + 1] : -1;
        }
        return t;
    }

    static Params load(String model) {
        try (Checkpoint c = Checkpoint.open(Golden.path(model))) {
            return Params.load(c);
        }
    }

    @ParameterizedTest(name = "{0} {1}")
    @CsvSource({"mha,grads", "mha,grads-masked", "gqa,grads", "gqa,grads-masked", "tied,grads", "tied,grads-masked",
            "headdim,grads", "headdim,grads-masked"})
    void gradientsMatchTheReference(String model, String golden) throws Exception {
        Params p = load(model);
        int[] targets = targets(TOKENS, golden.endsWith("masked") ? MASK : null);
        long count = java.util.Arrays.stream(targets).filter(x -> x >= 0).count();
        Transformer tf = new Transformer(p, GEMM);
        Transformer.LossSum loss = tf.forwardBackward(new int[][]{TOKENS}, new int[][]{targets}, count);
        JsonNode ref = new ObjectMapper().readTree(Files.readString(Golden.path(model + "/" + golden + ".json")));
        assertThat(loss.count()).isEqualTo(ref.get("n_targets").asLong());
        assertThat(loss.mean()).isCloseTo(ref.get("loss").asDouble(), org.assertj.core.data.Offset.offset(2e-6));
        compareGrads(p, Golden.path(model + "/" + golden + ".safetensors"), 1e-5);
    }

    @Test
    void batchWithLossMasksMatchesTheReference() throws Exception {
        Params p = load("gqa");
        JsonNode batch = new ObjectMapper().readTree(Files.readString(Golden.path("batch.json"))).get("batch");
        int[][] in = new int[batch.size()][], tg = new int[batch.size()][];
        long count = 0;
        for (int b = 0; b < batch.size(); b++) {
            int[] toks = new ObjectMapper().convertValue(batch.get(b).get("tokens"), int[].class);
            int[] mask = new ObjectMapper().convertValue(batch.get(b).get("mask"), int[].class);
            in[b] = toks;
            tg[b] = targets(toks, mask);
            for (int x : tg[b]) if (x >= 0) count++;
        }
        Transformer.LossSum loss = new Transformer(p, GEMM).forwardBackward(in, tg, count);
        JsonNode ref = new ObjectMapper().readTree(Files.readString(Golden.path("gqa/grads-batch.json")));
        assertThat(loss.mean()).isCloseTo(ref.get("loss").asDouble(), org.assertj.core.data.Offset.offset(2e-6));
        compareGrads(p, Golden.path("gqa/grads-batch.safetensors"), 1e-5);
    }

    /** Per tensor: ‖mine − ref‖ / ‖ref‖ within tol (relative error of the whole gradient tensor). */
    static void compareGrads(Params p, Path file, double tol) {
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            assertThat(f.tensors()).hasSize(p.all.size());
            for (Params.Param q : p.all) {
                float[] ref = f.tensor(q.name).toFloatArray();
                assertThat(ref).as(q.name).hasSize(q.grad.length);
                double diff = 0, norm = 0;
                for (int i = 0; i < ref.length; i++) {
                    diff += Math.pow(q.grad[i] - ref[i], 2);
                    norm += Math.pow(ref[i], 2);
                }
                assertThat(Math.sqrt(diff)).as("gradient of %s (norm %s)", q.name, Math.sqrt(norm))
                        .isLessThanOrEqualTo(tol * Math.sqrt(norm) + 1e-12);
            }
        }
    }
}
