package dev.arbor.cli;

import dev.arbor.format.Checkpoint;
import dev.arbor.format.FormatException;
import dev.arbor.format.ModelSource;

import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Resolves the MODEL argument of every command: a checkpoint directory (or .safetensors file)
 * now; store references (name@3, name:tag, name@sha256:…, name) once the store exists.
 */
final class ModelRefs {
    private ModelRefs() {}

    static ModelSource open(String ref) {
        Path p = Path.of(ref);
        if (Files.exists(p)) return Checkpoint.open(p);
        throw new FormatException(ref + " is neither a checkpoint directory nor a known model reference.");
    }
}
