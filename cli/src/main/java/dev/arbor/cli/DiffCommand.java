package dev.arbor.cli;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.arbor.versioning.Store;
import dev.arbor.versioning.VersionDiff;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.io.PrintWriter;
import java.util.concurrent.Callable;

@Command(name = "diff", description = "What changed between two versions: config, files, tensors (max |Δ|, relative change), bytes shared.")
final class DiffCommand implements Callable<Integer> {
    @Mixin StoreOption store;
    @Parameters(index = "0", paramLabel = "REF1") String a;
    @Parameters(index = "1", paramLabel = "REF2") String b;
    @Option(names = "--json", description = "print JSON") boolean json;

    @Override public Integer call() {
        Store s = store.open();
        VersionDiff d = s.diff(s.resolve(a), s.resolve(b));
        PrintWriter out = new PrintWriter(System.out, true);
        if (json) {
            ObjectNode o = Output.object().put("from", d.from()).put("to", d.to());
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
        return 0;
    }
}
