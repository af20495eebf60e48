package dev.arbor.versioning;

import dev.arbor.format.DType;
import dev.arbor.format.LlamaConfig;
import dev.arbor.format.TensorInfo;

import java.time.Instant;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * One version of a model, as its manifest records it (schema in versioning/README.md).
 * {@code id} is "sha256:" plus the hash of the manifest without its id and metrics.
 */
public record Version(int schema, String id, String model, int number, List<Parent> parents, Operation operation,
                      Instant created, String createdBy, LlamaConfig config, Map<String, FileBlob> files,
                      List<StoredTensor> tensors, Map<String, Object> metrics, String notes) {

    /** A parent version, named by model, number and id (the id pins it even across stores). */
    public record Parent(String model, int number, String id) {
        public String label() { return model + "@" + number; }
    }

    /** What made the version: a kind ("import", "grow", "train"...) and every parameter. */
    public record Operation(String kind, Map<String, Object> parameters) {
        public Operation {
            parameters = parameters == null ? Map.of() : java.util.Collections.unmodifiableMap(new LinkedHashMap<>(parameters));
        }
    }

    /** A side file (tokenizer.json...) stored as a blob. */
    public record FileBlob(String blob, long bytes) {}

    /** One entry of the tensor table. */
    public record StoredTensor(String name, DType dtype, long[] shape, String blob, long bytes) {
        public StoredTensor {
            shape = shape.clone();
        }

        @Override public long[] shape() { return shape.clone(); }

        public TensorInfo info() { return new TensorInfo(name, dtype, shape, 0, bytes); }

        @Override public boolean equals(Object o) {
            return o instanceof StoredTensor t && t.name.equals(name) && t.dtype == dtype && Arrays.equals(t.shape, shape)
                    && t.blob.equals(blob) && t.bytes == bytes;
        }

        @Override public int hashCode() { return name.hashCode() * 31 + blob.hashCode(); }
    }

    public Version {
        parents = List.copyOf(parents);
        files = java.util.Collections.unmodifiableMap(new LinkedHashMap<>(files));
        tensors = List.copyOf(tensors);
        metrics = java.util.Collections.unmodifiableMap(new LinkedHashMap<>(metrics));
    }

    /** "name@3". */
    public String label() { return model + "@" + number; }

    /** The id's first 12 hex digits, enough to name a version to a person. */
    public String shortId() { return id.substring("sha256:".length(), "sha256:".length() + 12); }

    /** The id's hex digits. */
    public String idHex() { return id.substring("sha256:".length()); }

    public Parent asParent() { return new Parent(model, number, id); }

    /** The tensor table entry of a name, or null. */
    public StoredTensor tensor(String name) {
        for (StoredTensor t : tensors) if (t.name.equals(name)) return t;
        return null;
    }

    /** Sum of the tensor bytes (what an exported checkpoint holds, without headers). */
    public long tensorBytes() {
        long s = 0;
        for (StoredTensor t : tensors) s += t.bytes;
        return s;
    }

    /** Every distinct blob the version uses (tensors and side files), with its size. */
    public Map<String, Long> blobs() {
        Map<String, Long> out = new LinkedHashMap<>();
        for (StoredTensor t : tensors) out.put(t.blob, t.bytes);
        for (FileBlob f : files.values()) out.put(f.blob, f.bytes);
        return out;
    }
}
