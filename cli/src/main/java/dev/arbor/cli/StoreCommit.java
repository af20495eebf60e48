package dev.arbor.cli;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.arbor.format.Checkpoint;
import dev.arbor.format.ModelSource;
import dev.arbor.format.TensorEntry;
import dev.arbor.versioning.Store;
import dev.arbor.versioning.StoredModel;
import dev.arbor.versioning.Version;
import dev.arbor.versioning.VersionDraft;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Set;

/** Turns a checkpoint that a command produced into a store version with its lineage. */
final class StoreCommit {
    private StoreCommit() {}

    private static final Set<String> WEIGHT_FILES = Set.of("config.json", Checkpoint.INDEX_FILE);

    /** Commits a grown child: parent (when the parent is a store version), the growth event, every file. */
    static String grown(Store store, ModelSource parent, Path childDir, String name, String tag,
                        ObjectNode event, String command) throws IOException {
        VersionDraft d = new VersionDraft(name).command(command);
        if (parent instanceof StoredModel sm) d.parent(sm.version());
        @SuppressWarnings("unchecked")
        Map<String, Object> params = Output.JSON.convertValue(event, Map.class);
        d.operation("grow", params);
        if (tag != null) d.tag(tag);
        try (Checkpoint ck = Checkpoint.open(childDir, false);
             var files = Files.list(childDir)) {
            d.config(ck.requireConfig());
            for (Path f : files.toList()) {
                String fn = f.getFileName().toString();
                if (!fn.endsWith(".safetensors") && !WEIGHT_FILES.contains(fn)) d.sideFile(fn, f);
            }
            for (String t : ck.tensorNames()) d.tensor(TensorEntry.copyOf(ck.shardOf(t), ck.info(t), ck.info(t).dtype()));
            Version v = store.commit(d);
            return v.label();
        }
    }
}
