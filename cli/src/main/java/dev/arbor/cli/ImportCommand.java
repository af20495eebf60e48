package dev.arbor.cli;

import dev.arbor.versioning.Listing;
import dev.arbor.versioning.Store;
import dev.arbor.versioning.Version;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;

@Command(name = "import", description = "Import a checkpoint directory into the store as a new version (identical tensors are stored once).")
final class ImportCommand implements Callable<Integer> {
    @CommandLine.Spec CommandLine.Model.CommandSpec spec;
    @Mixin StoreOption store;
    @Parameters(index = "0", paramLabel = "DIR", description = "HF checkpoint directory") Path dir;
    @Option(names = "--name", required = true, paramLabel = "N", description = "model name") String name;
    @Option(names = "--tag", paramLabel = "T", description = "also point this tag at the new version (repeatable)") List<String> tags = new ArrayList<>();
    @Option(names = "--note", paramLabel = "S", description = "free-form note kept in the manifest") String note;
    @Option(names = "--json", description = "print JSON") boolean json;

    @Override public Integer call() {
        Store s = store.openOrInit();
        Version v = s.importCheckpoint(dir, name, note, tags, StoreOption.commandLine(spec));
        long added = 0;
        for (Listing.ModelEntry m : s.list().models()) {
            for (Listing.VersionEntry e : m.versions()) if (e.version().id().equals(v.id())) added = e.addedBytes();
        }
        List<String> allTags = new ArrayList<>(List.of("latest"));
        allTags.addAll(tags);
        if (json) {
            Output.printJson(new PrintWriter(System.out), Output.object().put("ref", v.label()).put("id", v.id())
                    .put("tensors", v.tensors().size()).put("bytes", v.tensorBytes()).put("added_bytes", added)
                    .set("tags", Output.JSON.valueToTree(allTags)));
        } else {
            System.out.printf("Imported %s as %s (sha256:%s): %d tensors, %s, %s new on disk; tags %s.%n", dir, v.label(), v.shortId(),
                    v.tensors().size(), Output.bytes(v.tensorBytes()), Output.bytes(added), String.join(", ", allTags));
        }
        return 0;
    }
}
