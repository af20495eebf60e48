package dev.arbor.cli;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;

/** Tele-FLM-style two-stage growth through the CLI into the store, with lineage. */
class GrowCommandTest {
    @TempDir Path dir;

    @Test void twoStageGrowthIntoTheStoreKeepsLineageAndSharesBlobs() throws Exception {
        String store = dir.resolve("store").toString();
        Path base = dir.resolve("base");
        assertThat(CliHarness.run("init-model", "--hidden", "64", "--layers", "2", "--heads", "4", "--ffn", "160",
                "--vocab", "300", "--seed", "1", "--dtype", "f32", "--std", "0.2", base.toString()).exitCode()).isZero();
        assertThat(CliHarness.run("import", base.toString(), "--name", "tiny", "--store", store).exitCode()).isZero();

        var w = CliHarness.run("grow", "tiny", "--hidden", "128", "--heads", "8", "--ffn", "320",
                "--name", "tiny", "--tag", "wide", "--store", store);
        assertThat(w.exitCode()).as(w.err()).isZero();
        assertThat(w.out()).contains("into tiny@2").contains("passed");
        var d = CliHarness.run("grow", "tiny:wide", "--layers", "3", "--name", "tiny", "--store", store, "--json");
        assertThat(d.exitCode()).as(d.err()).isZero();
        assertThat(Output.JSON.readTree(d.out()).get("out").asText()).isEqualTo("tiny@3");

        JsonNode show = Output.JSON.readTree(CliHarness.run("show", "tiny@3", "--store", store, "--json").out());
        assertThat(show.toString()).contains("\"grow\"").contains("depth");
        assertThat(show.get("parents").get(0).get("version").intValue()).isEqualTo(2);     // its parent
        assertThat(show.get("operation").get("parameters").get("preservation_check").get("max_rel_logit_diff").doubleValue())
                .isLessThanOrEqualTo(1e-6);   // an inserted layer at gate 0 is the identity (f32 run-to-run noise only)
        // the depth-grown version shares every copied tensor's blob with its parent
        var list = Output.JSON.readTree(CliHarness.run("list", "--store", store, "--json").out());
        assertThat(list.toString()).contains("tiny");
        // diff --probe: the grown child behaves like its parent; an unrelated model does not
        var same = Output.JSON.readTree(CliHarness.run("diff", "tiny@1", "tiny@2", "--probe", "--json", "--store", store).out());
        assertThat(same.get("probe").get("top1_agreement").doubleValue()).isEqualTo(1.0);
        assertThat(same.get("probe").get("mean_kl").doubleValue()).isLessThan(1e-9);
        Path other = dir.resolve("other");
        assertThat(CliHarness.run("init-model", "--hidden", "64", "--layers", "2", "--heads", "4", "--ffn", "160",
                "--vocab", "300", "--seed", "2", "--dtype", "f32", "--std", "0.2", other.toString()).exitCode()).isZero();
        assertThat(CliHarness.run("import", other.toString(), "--name", "other", "--store", store).exitCode()).isZero();
        var diff = Output.JSON.readTree(CliHarness.run("diff", "tiny@1", "other@1", "--probe", "--json", "--store", store).out());
        assertThat(diff.get("probe").get("top1_agreement").doubleValue()).isLessThan(0.5);
        assertThat(diff.get("probe").get("mean_kl").doubleValue()).isGreaterThan(0.1);

        var bad = CliHarness.run("grow", "tiny", "--hidden", "32", "--name", "tiny", "--store", store);
        assertThat(bad.exitCode()).isEqualTo(1);
        assertThat(bad.err()).startsWith("error: ");
        var both = CliHarness.run("grow", "tiny", "--ffn", "400", "--out", dir.resolve("x").toString(), "--name", "t", "--store", store);
        assertThat(both.exitCode()).isEqualTo(2);
    }
}
