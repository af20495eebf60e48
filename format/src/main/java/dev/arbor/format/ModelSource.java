package dev.arbor.format;

import java.nio.file.Path;
import java.util.List;
import java.util.Optional;

/**
 * Where a model's tensors come from: an HF checkpoint directory ({@link Checkpoint}) or a
 * version in the store. The engine reads through this, so it never cares which.
 * Tensors are zero-copy views, valid until {@link #close}.
 */
public interface ModelSource extends AutoCloseable {
    /** The model's config (never null for a loadable model). */
    LlamaConfig requireConfig();

    /** Tensor names in a stable order. */
    List<String> tensorNames();

    boolean contains(String name);

    TensorInfo info(String name);

    /** A zero-copy view of one tensor. */
    Tensor tensor(String name);

    /** A side file such as tokenizer.json or generation_config.json, when the model has it. */
    Optional<Path> sideFile(String fileName);

    /** How to name this model to a user ("/path/dir" or "name@3"). */
    String describe();

    @Override void close();
}
