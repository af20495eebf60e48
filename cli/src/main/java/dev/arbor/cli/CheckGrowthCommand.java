package dev.arbor.cli;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.arbor.format.ModelSource;
import dev.arbor.grow.PreservationCheck;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.io.PrintWriter;
import java.util.List;
import java.util.concurrent.Callable;

@Command(name = "check-growth", description = "Function-preservation check: parent and child on a probe batch; "
        + "max|Δlogits|/max|logits| and top-1 agreement. Exit 1 when above the tolerance.")
final class CheckGrowthCommand implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "PARENT") String parent;
    @picocli.CommandLine.Mixin StoreOption store;
    @Parameters(index = "1", paramLabel = "CHILD") String child;
    @Option(names = "--tokens", description = "tokens per random probe sequence (default ${DEFAULT-VALUE})", defaultValue = "32") int tokens;
    @Option(names = "--text", description = "also probe with this text (needs the parent's tokenizer)") String text;
    @Option(names = "--seed", description = "probe seed (default ${DEFAULT-VALUE})", defaultValue = "1234") long seed;
    @Option(names = "--tolerance", description = "(default ${DEFAULT-VALUE})", defaultValue = "1e-5") double tolerance;
    @Option(names = "--json", description = "print JSON") boolean json;

    @Override public Integer call() throws Exception {
        PreservationCheck.Report r;
        try (ModelSource p = ModelRefs.open(parent, store.location()); ModelSource c = ModelRefs.open(child, store.location())) {
            List<int[]> extra = List.of();
            if (text != null) {
                try (var tok = EngineArgs.tokenizer(p)) {
                    extra = List.of(tok.encode(text, true));
                }
            }
            r = PreservationCheck.run(p, c, PreservationCheck.probe(p.requireConfig().vocabSize(), tokens, seed, extra));
        }
        boolean ok = r.passes(tolerance);
        if (json) {
            ObjectNode o = r.toJson().put("tolerance", tolerance).put("passed", ok);
            Output.printJson(new PrintWriter(System.out), o);
        } else {
            System.out.printf("%s: %s (tolerance %.0e).%n", ok ? "Preserved" : "NOT preserved", r, tolerance);
        }
        return ok ? 0 : 1;
    }
}
