package dev.arbor.cli;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.arbor.model.BehaviourProbe;
import dev.arbor.model.LlamaModel;
import dev.arbor.versioning.Store;
import dev.arbor.versioning.VersionDiff;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;

@Command(name = "diff", description = "What changed between two versions: config, files, tensors (max |Δ|, relative change), bytes shared; with --probe, behaviour.")
final class DiffCommand implements Callable<Integer> {
    @Mixin StoreOption store;
    @Parameters(index = "0", paramLabel = "REF1") String a;
    @Parameters(index = "1", paramLabel = "REF2") String b;
    @Option(names = "--json", description = "print JSON") boolean json;
    @Option(names = "--probe", description = "also compare behaviour: top-1 agreement and KL of next-token distributions on a probe") boolean probe;
    @Option(names = "--probe-text", description = "probe text (needs REF1's tokenizer; default: seeded random ids only)") String probeText;
    @Option(names = "--probe-tokens", defaultValue = "64", description = "tokens per random probe sequence (default ${DEFAULT-VALUE})") int probeTokens;

    @Override public Integer call() {
        Store s = store.open();
        VersionDiff d = s.diff(s.resolve(a), s.resolve(b));
        PrintWriter out = new PrintWriter(System.out, true);
        BehaviourProbe.Result pr = probe ? probe(s) : null;
        if (json) {
            ObjectNode o = Output.object().put("from", d.from()).put("to", d.to());
            if (pr != null) {
                o.putObject("probe").put("positions", pr.positions()).put("top1_agreement", pr.top1Agreement())
                        .put("mean_kl", pr.meanKl()).put("max_kl", pr.maxKl()).put("max_rel_logit_diff", pr.maxRelLogitDiff());
            }
            ArrayNode cfg = o.putArray("config");
            for (VersionDiff.ConfigChange c : d.config()) cfg.addObject().put("field", c.field()).put("before", c.before()).put("after", c.after());
            o.set("files_changed", Output.JSON.valueToTree(d.filesChanged()));
            o.set("added", Output.JSON.valueToTree(d.added()));
            o.set("removed", Output.JSON.valueToTree(d.removed()));
            ArrayNode ch = o.putArray("changed");
            for (VersionDiff.TensorChange c : d.changed()) {
                ObjectNode cj = ch.addObject().put("name", c.name()).put("what", c.what());
                if (Double.isNaN(c.maxAbsDelta())) cj.putNull("max_abs_delta"); else cj.put("max_abs_delta", c.maxAbsDelta());
                if (Double.isNaN(c.relativeChange())) cj.putNull("relative_change"); else cj.put("relative_change", c.relativeChange());
            }
            o.put("unchanged", d.unchanged()).put("shared_bytes", d.sharedBytes()).put("from_bytes", d.fromBytes()).put("to_bytes", d.toBytes());
            Output.printJson(out, o);
            return 0;
        }
        out.printf("%s → %s%n", d.from(), d.to());
        if (d.config().isEmpty()) out.println("config: unchanged");
        for (VersionDiff.ConfigChange c : d.config()) out.printf("config: %s %s → %s%n", c.field(), c.before(), c.after());
        if (!d.filesChanged().isEmpty()) out.printf("files changed: %s%n", String.join(", ", d.filesChanged()));
        out.printf("tensors: %d added, %d removed, %d changed, %d unchanged%n", d.added().size(), d.removed().size(),
                d.changed().size(), d.unchanged());
        for (String n : d.added()) out.printf("  + %s%n", n);
        for (String n : d.removed()) out.printf("  - %s%n", n);
        for (VersionDiff.TensorChange c : d.changed()) {
            out.printf("  ~ %s  %s%s%n", c.name(), c.what(), Double.isNaN(c.maxAbsDelta()) ? ""
                    : String.format(java.util.Locale.ROOT, "  max|Δ| %.3e  rel %.3e", c.maxAbsDelta(), c.relativeChange()));
        }
        out.printf("shared: %s of %s (%.1f%%)%n", Output.bytes(d.sharedBytes()), Output.bytes(d.toBytes()),
                d.toBytes() == 0 ? 100.0 : 100.0 * d.sharedBytes() / d.toBytes());
        if (pr != null) {
            out.printf(java.util.Locale.ROOT, "behaviour over %d positions: top-1 agreement %.2f%%, KL mean %.3e max %.3e nats, max|Δlogits|/max|logits| %.3e%n",
                    pr.positions(), 100 * pr.top1Agreement(), pr.meanKl(), pr.maxKl(), pr.maxRelLogitDiff());
        }
        return 0;
    }

    private BehaviourProbe.Result probe(Store s) {
        try (var sa = s.openModel(s.resolve(a)); var sb = s.openModel(s.resolve(b));
             LlamaModel ma = LlamaModel.load(sa); LlamaModel mb = LlamaModel.load(sb)) {
            List<int[]> seqs = new ArrayList<>();
            int len = Math.min(probeTokens, Math.min(ma.maxPositions(), mb.maxPositions()));
            java.util.SplittableRandom r = new java.util.SplittableRandom(0);
            for (int k = 0; k < 2; k++) seqs.add(r.ints(len, 0, ma.vocabSize()).toArray());
            if (probeText != null) {
                try (var tok = EngineArgs.tokenizer(sa)) {
                    seqs.add(tok.encode(probeText, true));
                }
            }
            return BehaviourProbe.compare(ma, mb, seqs);
        }
    }
}
