package dev.arbor.cli;

import dev.arbor.format.Checkpoint;
import dev.arbor.format.FormatException;
import dev.arbor.format.ModelSource;
import dev.arbor.versioning.Ref;
import dev.arbor.versioning.Store;

import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Resolves the MODEL argument of every command: a checkpoint directory (or .safetensors file),
 * else a store reference (name@3, name:tag, name@sha256:…, name). An existing path wins over a
 * reference of the same spelling.
 */
final class ModelRefs {
    private ModelRefs() {}

    /** Store references resolve in ARBOR_STORE, else ~/.arbor. */
    static ModelSource open(String ref) { return open(ref, null); }

    /** As {@link #open(String)}, with the store given (null: the default store). */
    static ModelSource open(String ref, Path store) {
        Path p = Path.of(ref);
        if (Files.exists(p)) return Checkpoint.open(p);
        Path where = store != null ? store : Store.defaultLocation();
        if (!Ref.looksLikeRef(ref)) {
            throw new FormatException(ref + " is neither a checkpoint directory nor a model reference such as name@3 or name:tag.");
        }
        if (!Files.isRegularFile(where.resolve(Store.STORE_FILE))) {
            throw new FormatException(ref + " is not a checkpoint directory, and there is no store at " + where + " to look it up in.");
        }
        return Store.open(where).openModel(ref);
    }
}
