package dev.arbor.cli;

import dev.arbor.format.CheckpointWriter;
import dev.arbor.format.DType;
import dev.arbor.versioning.Store;
import dev.arbor.versioning.Version;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.concurrent.Callable;

@Command(name = "export", description = "Write a store version as a plain HF checkpoint directory, verifying every blob's hash.")
final class ExportCommand implements Callable<Integer> {
    @Mixin StoreOption store;
    @Parameters(index = "0", paramLabel = "REF", description = "name, name@3, name:tag or name@sha256:prefix") String ref;
    @Parameters(index = "1", paramLabel = "DIR", description = "new directory") Path dst;
    @Option(names = "--dtype", description = "bf16, f16 or f32 for floating-point weights (default: keep)") String dtype;
    @Option(names = "--shard-size", description = "maximum shard size (default: 5GB, as HF)") String shardSize;
    @Option(names = "--json", description = "print JSON") boolean json;

    @Override public Integer call() {
        DType target = dtype == null ? null : DType.parseUserDtype(dtype);
        long max = CheckpointWriter.parseSize(shardSize == null ? "5GB" : shardSize);
        Store s = store.open();
        Version v = s.resolve(ref);
        long total = 0;
        for (Version.StoredTensor t : v.tensors()) {
            total += target == null || !t.dtype().isFloatingPoint() ? t.bytes() : t.bytes() / t.dtype().size() * target.size();
        }
        try (Progress p = Progress.bytes("export", total)) {
            s.export(v, dst, target, max, (done, all) -> p.stepTo(done));
        }
        if (json) {
            Output.printJson(new PrintWriter(System.out), Output.object().put("ref", v.label()).put("id", v.id())
                    .put("destination", dst.toString()).put("bytes", total));
        } else {
            System.out.printf("Exported %s to %s: %s, every blob's hash verified.%n", v.label(), dst, Output.bytes(total));
        }
        return 0;
    }
}
