package dev.arbor.cli;

import dev.arbor.format.LlamaConfig;
import dev.arbor.versioning.Store;
import dev.arbor.versioning.Tag;
import dev.arbor.versioning.Version;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.io.PrintWriter;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.Callable;

@Command(name = "show", description = "A version's manifest: operation, parents, config, files, tags, metrics, tensors.")
final class ShowCommand implements Callable<Integer> {
    @Mixin StoreOption store;
    @Parameters(index = "0", paramLabel = "REF", description = "the version") String ref;
    @Option(names = "--no-tensors", description = "leave out the tensor table") boolean noTensors;
    @Option(names = "--json", description = "print the manifest as stored") boolean json;

    @Override public Integer call() {
        Store s = store.open();
        Version v = s.resolve(ref);
        PrintWriter out = new PrintWriter(System.out, true);
        if (json) {
            out.print(s.manifestJson(v));
            out.flush();
            return 0;
        }
        List<String> tags = s.tags(v.model()).stream().filter(t -> t.version() == v.number()).map(Tag::name).toList();
        LlamaConfig c = v.config();
        out.printf("%s  %s%n", v.label(), v.id());
        out.printf("  created     %s by %s%n", v.created(), v.createdBy());
        out.printf("  operation   %s%s%n", v.operation().kind(), LogCommand.params(v.operation().parameters()));
        out.printf("  parents     %s%n", v.parents().isEmpty() ? "none" : String.join(", ", v.parents().stream().map(Version.Parent::label).toList()));
        out.printf("  tags        %s%n", tags.isEmpty() ? "none" : String.join(", ", tags));
        out.printf("  model       hidden %d, layers %d, heads %d (kv %d), ffn %d, vocab %d, %s parameters%n", c.hiddenSize(),
                c.numHiddenLayers(), c.numAttentionHeads(), c.numKeyValueHeads(), c.intermediateSize(), c.vocabSize(),
                Output.count(c.parameterCount()));
        out.printf("  size        %d tensors, %s%n", v.tensors().size(), Output.bytes(v.tensorBytes()));
        out.printf("  files       %s%n", v.files().isEmpty() ? "none" : String.join(", ", v.files().keySet()));
        if (!v.metrics().isEmpty()) out.printf("  metrics     %s%n", v.metrics());
        if (v.notes() != null) out.printf("  notes       %s%n", v.notes());
        if (!noTensors) {
            int w = 4;
            for (Version.StoredTensor t : v.tensors()) w = Math.max(w, t.name().length());
            out.printf("  %-" + w + "s  %-5s  %-20s %12s  %s%n", "name", "dtype", "shape", "bytes", "blob");
            for (Version.StoredTensor t : v.tensors()) {
                out.printf("  %-" + w + "s  %-5s  %-20s %12d  %s%n", t.name(), t.dtype().code(), Arrays.toString(t.shape()),
                        t.bytes(), t.blob().substring(0, 12));
            }
        }
        return 0;
    }
}
