package dev.arbor.cli;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.arbor.format.ArborException;
import dev.arbor.format.ModelSource;
import dev.arbor.grow.GrowthPlan;
import dev.arbor.grow.Grower;
import dev.arbor.grow.PreservationCheck;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;

@Command(name = "grow", description = "Grow a model with Masked Structural Growth (GROWTH.md): new parts masked at 0, so the child "
        + "computes its parent's function; checked before it is written.")
final class GrowCommand implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "MODEL", description = "checkpoint directory or model reference") String model;
    @Option(names = "--plan", description = "growth plan (JSON, or YAML when it ends in .yaml/.yml)") Path plan;
    @Option(names = "--hidden", description = "target hidden_size") Integer hidden;
    @Option(names = "--heads", description = "target num_attention_heads") Integer heads;
    @Option(names = "--kv-heads", description = "target num_key_value_heads") Integer kvHeads;
    @Option(names = "--ffn", description = "target intermediate_size") Integer ffn;
    @Option(names = "--layers", description = "target num_hidden_layers") Integer layers;
    @Option(names = "--head-dim", description = "write head_dim explicitly (must equal the parent's)") Integer headDim;
    @Option(names = "--select", description = "layer sources: cosine (default), relative, cosine:largest, explicit:S1,S2,...") String select;
    @Option(names = "--calibration", description = "text file for layer distances (default: seeded random ids)") Path calibration;
    @Option(names = "--calibration-sequences", description = "calibration sequences (default ${DEFAULT-VALUE})", defaultValue = "4") int calSeqs;
    @Option(names = "--calibration-tokens", description = "tokens per calibration sequence (default ${DEFAULT-VALUE})", defaultValue = "128") int calTokens;
    @Option(names = "--init-std", description = "std of new weights (default: initializer_range, else 0.02)") Double initStd;
    @Option(names = "--seed", description = "seed for new weights and the probe") Long seed;
    @Option(names = "--ramp-steps", description = "mask ramp length N recorded for training (default 1000)") Integer rampSteps;
    @Option(names = "--tolerance", description = "preservation tolerance, max|Δlogits|/max|logits| (default ${DEFAULT-VALUE})", defaultValue = "1e-5") double tolerance;
    @Option(names = "--tokens", description = "tokens per probe sequence (default ${DEFAULT-VALUE})", defaultValue = "32") int tokens;
    @Option(names = "--text", description = "also probe with this text (needs the model's tokenizer)") String text;
    @Option(names = "--skip-check", description = "publish without the preservation check (benchmarks); growth.json records it") boolean skipCheck;
    @CommandLine.ArgGroup(exclusive = true, multiplicity = "1") Destination dest;
    @CommandLine.Mixin StoreOption store;
    @CommandLine.Spec CommandLine.Model.CommandSpec spec;

    /** Where the child goes: a plain directory, or a new version in the store. */
    static final class Destination {
        @Option(names = "--out", description = "new checkpoint directory") Path out;
        @Option(names = "--name", description = "store the child as a new version of this model (lineage: parent, growth event)") String name;
    }

    @Option(names = "--tag", description = "with --name: also move this tag to the new version") String tag;
    @Option(names = "--json", description = "print JSON") boolean json;

    @Override public Integer call() throws Exception {
        GrowthPlan p;
        boolean shapeFlags = hidden != null || heads != null || kvHeads != null || ffn != null || layers != null;
        if (plan != null) {
            if (shapeFlags) throw new ArborException("Give the target shape either in --plan or as flags, not both.");
            p = GrowthPlan.read(plan);
        } else {
            if (!shapeFlags) throw new ArborException("Nothing to grow: give --plan or at least one of --hidden, --heads, --kv-heads, --ffn, --layers.");
            p = GrowthPlan.toShape(hidden, heads, kvHeads, ffn, layers);
        }
        if (headDim != null) p = p.withHeadDim(headDim);
        if (select != null) p = p.withSelection(GrowthPlan.Selection.parse(select));
        if (calibration != null || plan == null) p = p.withCalibration(calibration != null ? calibration : p.calibrationFile(), calSeqs, calTokens);
        if (initStd != null) p = p.withInitStd(initStd);
        if (seed != null) p = p.withSeed(seed);
        if (rampSteps != null) p = p.withRampSteps(rampSteps);
        if (tag != null && dest.name == null) throw new ArborException("--tag goes with --name (a store version), not --out.");
        // With --name the child is grown into a hidden staging directory and then committed to the store.
        Path out = dest.out != null ? dest.out
                : dev.arbor.format.AtomicFiles.tempSibling(store.location().toAbsolutePath().resolve("grow-staging"));
        String where = dest.out != null ? dest.out.toString() : null;
        long t0 = System.nanoTime();
        ObjectNode event;
        PreservationCheck.Report rep = null;
        try (ModelSource src = ModelRefs.open(model, store.location())) {
            if (skipCheck) {
                event = Grower.grow(src, p, out, (done, total) -> { }).event();
            } else {
                List<int[]> extra = List.of();
                if (text != null) {
                    try (var tok = EngineArgs.tokenizer(src)) {
                        extra = List.of(tok.encode(text, true));
                    }
                }
                Grower.Checked c = Grower.growChecked(src, p, out, tolerance, tokens, extra, (done, total) -> { });
                event = c.result().event();
                rep = c.check();
            }
            if (dest.name != null) {
                try {
                    where = StoreCommit.grown(store.openOrInit(), src, out, dest.name, tag, event, StoreOption.commandLine(spec));
                } finally {
                    dev.arbor.format.AtomicFiles.deleteTree(out);
                }
            }
        }
        double secs = (System.nanoTime() - t0) / 1e9;
        if (json) {
            ObjectNode o = Output.object().put("out", where).put("seconds", secs);
            o.set("event", event);
            Output.printJson(new PrintWriter(System.out), o);
        } else {
            var ps = event.get("parent_shape");
            var cs = event.get("child_shape");
            System.out.printf("Grew %s (%s parameters) into %s (%s parameters): %s, in %.1f s.%n", model,
                    Output.count(ps.get("parameters").longValue()), where, Output.count(cs.get("parameters").longValue()),
                    String.join(", ", event.get("ops").valueStream().map(n -> n.asText()).toList()), secs);
            if (event.has("new") && event.get("new").has("layers")) {
                System.out.printf("Inserted layers %s after sources %s (%s).%n", event.get("new").get("layers").get("inserted"),
                        event.get("new").get("layers").get("sources"), event.get("selection").get("method").asText());
            }
            if (rep != null) System.out.printf("Preservation check: %s (tolerance %.0e): passed.%n", rep, tolerance);
            else System.out.println("Preservation check skipped (--skip-check).");
        }
        return 0;
    }
}
