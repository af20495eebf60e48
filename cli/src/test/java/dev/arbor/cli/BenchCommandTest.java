package dev.arbor.cli;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;

/** arbor bench: what it reports and how it refuses bad settings (speed itself is not asserted). */
class BenchCommandTest {
    @TempDir Path dir;

    @Test void reportsPromptAndBothDecodeFiguresAgainstTheLimits() throws Exception {
        Path m = dir.resolve("m");
        assertThat(CliHarness.run("init-model", "--hidden", "64", "--layers", "2", "--heads", "4", "--ffn", "160",
                "--vocab", "300", "--seed", "1", "--dtype", "bf16", m.toString()).exitCode()).isZero();
        var r = CliHarness.run("bench", m.toString(), "--threads", "2", "--prompt-tokens", "20", "--gen-tokens", "6",
                "--repeats", "3", "--warmup-seconds", "0", "--bandwidth", "10", "--json");
        assertThat(r.exitCode()).as(r.err()).isZero();
        JsonNode o = Output.JSON.readTree(r.out());
        assertThat(o.get("prompt_tokens").intValue()).isEqualTo(20);
        for (String f : new String[]{"prompt_tokens_per_second", "decode_tokens_per_second", "decode_after_prompt_tokens_per_second"}) {
            JsonNode t = o.get(f);
            assertThat(t.get("min").doubleValue()).as(f).isPositive().isLessThanOrEqualTo(t.get("median").doubleValue());
            assertThat(t.get("max").doubleValue()).as(f).isGreaterThanOrEqualTo(t.get("median").doubleValue());
        }
        // 2 layers × (q, k, v, o: 64×64; gate, up, down: 160×64) + LM head 300×64, 2 bytes each
        long bytes = 2L * (2 * (4 * 64 * 64 + 3 * 160 * 64) + 300 * 64);
        assertThat(o.get("weight_bytes_per_token").longValue()).isEqualTo(bytes);
        assertThat(o.get("decode_bound_tokens_per_second").doubleValue()).isCloseTo(10e9 / bytes, org.assertj.core.data.Offset.offset(1e-6));
        assertThat(o.get("bandwidth_gb_per_second").get("source").textValue()).isEqualTo("given");
        // a 20-token prompt: 20 rows through both layers' products, causal attention (4 heads of 16, 1 + 2 + … + 20
        // keys per head and layer, 4 FLOPs per key and dimension) and one row of the LM head
        double flops = 2.0 * 20 * 2 * (4 * 64 * 64 + 3 * 160 * 64) + 4.0 * 16 * 4 * 2 * (20 * 21 / 2) + 2.0 * 300 * 64;
        assertThat(o.get("prompt_flops_per_token").doubleValue()).isCloseTo(flops / 20, org.assertj.core.data.Offset.offset(1e-6));
        // with a fixed bandwidth, the median of the runs' fractions is the fraction of the median run
        assertThat(o.get("decode_fraction_of_bound").doubleValue())
                .isCloseTo(o.get("decode_tokens_per_second").get("median").doubleValue() * bytes / 10e9, org.assertj.core.data.Offset.offset(1e-9));
        assertThat(o.get("fma_peak_gflops").get("source").textValue()).isEqualTo("measured alongside");
        // the heap bytes counted: each decoded token at least allocates its logits (300 floats); a prompt a few objects
        assertThat(o.get("decode_allocated_bytes_per_token").doubleValue()).isGreaterThanOrEqualTo(300 * Float.BYTES);
        assertThat(o.get("prompt_allocated_bytes").doubleValue()).isGreaterThanOrEqualTo(300 * Float.BYTES);

        // Without --bandwidth and --peak-gflops both limits are measured around each run; one run makes the fractions checkable.
        var measured = CliHarness.run("bench", m.toString(), "--threads", "2", "--prompt-tokens", "20", "--gen-tokens", "6",
                "--repeats", "1", "--warmup-seconds", "0", "--json");
        assertThat(measured.exitCode()).as(measured.err()).isZero();
        JsonNode p = Output.JSON.readTree(measured.out());
        JsonNode bw = p.get("bandwidth_gb_per_second"), peak = p.get("fma_peak_gflops");
        assertThat(bw.get("source").textValue()).isEqualTo("interleaved with the decoded tokens");
        assertThat(bw.get("median").doubleValue()).isPositive().isEqualTo(bw.get("min").doubleValue());
        assertThat(peak.get("median").doubleValue()).isPositive();
        assertThat(p.get("decode_fraction_of_bound").doubleValue()).isCloseTo(
                p.get("decode_gb_per_second").doubleValue() / bw.get("median").doubleValue(), org.assertj.core.data.Offset.offset(1e-9));
        assertThat(p.get("prompt_fraction_of_peak").doubleValue()).isCloseTo(
                p.get("prompt_gflops").doubleValue() / peak.get("median").doubleValue(), org.assertj.core.data.Offset.offset(1e-9));
        // interference notes: the same list the machine check finds (DAMON on this VM, none elsewhere)
        assertThat(p.get("notes").isArray()).isTrue();
        var notes = new java.util.ArrayList<String>();
        p.get("notes").forEach(x -> notes.add(x.textValue()));
        // (plus a warning if this JVM ran boxed vector code, which bench reports rather than hides)
        notes.removeIf(n -> n.startsWith("this JVM allocated"));
        assertThat(notes).isEqualTo(dev.arbor.model.MachineLimits.interference());

        var bad = CliHarness.run("bench", m.toString(), "--repeats", "0");
        assertThat(bad.exitCode()).isEqualTo(1);
        assertThat(bad.err()).contains("--repeats");
        var tooLong = CliHarness.run("bench", m.toString(), "--gen-tokens", "100000", "--warmup-seconds", "0");
        assertThat(tooLong.exitCode()).isEqualTo(1);
        assertThat(tooLong.err()).contains("max_position_embeddings");
    }
}
