package dev.arbor.cli;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.arbor.format.ArborException;
import dev.arbor.format.ModelSource;
import dev.arbor.grow.Folder;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.concurrent.Callable;

@Command(name = "fold", description = "Fold the growth masks into the weights and write a plain HF checkpoint (GROWTH.md §6).")
final class FoldCommand implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "MODEL") String model;
    @picocli.CommandLine.Mixin StoreOption store;
    @Option(names = "--out", required = true, description = "new checkpoint directory") Path out;
    @Option(names = "--approximate", description = "allow a mid-ramp hidden mask (not exact): writes it and records the measured divergence") boolean approximate;
    @Option(names = "--at-zero", description = "fold every mask at its growth value (new parts 0): the exact plain equivalent of a fresh child") boolean atZero;
    @Option(names = "--at-one", description = "fold as if the ramp had finished (every mask 1)") boolean atOne;
    @Option(names = "--json", description = "print JSON") boolean json;

    @Override public Integer call() throws Exception {
        if (atZero && atOne) throw new ArborException("Choose at most one of --at-zero and --at-one.");
        Folder.At at = atZero ? Folder.At.ZERO : atOne ? Folder.At.ONE : Folder.At.STORED;
        Folder.Result r;
        try (ModelSource src = ModelRefs.open(model, store.location())) {
            r = Folder.fold(src, out, at, approximate);
        }
        if (json) {
            ObjectNode o = Output.object().put("out", out.toString());
            o.set("fold", r.record());
            Output.printJson(new PrintWriter(System.out), o);
        } else {
            System.out.printf("Wrote %s: a plain checkpoint, %s.%n", out, r.exact() ? "exactly the masked model's function"
                    : "APPROXIMATE: " + r.divergence());
            if (r.record().has("norm_weight_scale")) {
                System.out.printf("Norm weights × %.6g and rms_norm_eps = %.6g (hidden dims still masked at 0).%n",
                        r.record().get("norm_weight_scale").doubleValue(), r.record().get("rms_norm_eps").doubleValue());
            }
        }
        return 0;
    }
}
