package dev.arbor.versioning;

import dev.arbor.format.LlamaConfig;
import dev.arbor.format.TensorEntry;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A version to be committed with {@link Store#commit}. Tensors are either new bytes (a
 * {@link TensorEntry}, streamed, hashed and deduplicated while written) or taken unchanged from
 * an existing version ({@link #reuse}: the blob is shared and nothing is read or hashed).
 */
public final class VersionDraft {
    final String model;
    final List<Version.Parent> parents = new ArrayList<>();
    String kind = "commit";
    Map<String, Object> parameters = new LinkedHashMap<>();
    LlamaConfig config;
    String notes;
    String command;
    final List<String> tags = new ArrayList<>();
    final Map<String, Object> sideFiles = new LinkedHashMap<>();   // name -> Path or byte[]
    final List<Object> tensors = new ArrayList<>();                // TensorEntry or Reused

    record Reused(String name, Version.StoredTensor source) {}

    public VersionDraft(String model) {
        Ref.checkName("model", model);
        this.model = model;
    }

    public VersionDraft parent(Version v) { parents.add(v.asParent()); return this; }

    /** The operation's kind ("grow", "train"...) and every parameter (JSON-serialisable values). */
    public VersionDraft operation(String kind, Map<String, ?> parameters) {
        this.kind = kind;
        this.parameters = new LinkedHashMap<>(parameters);
        return this;
    }

    public VersionDraft config(LlamaConfig c) { this.config = c; return this; }

    public VersionDraft notes(String n) { this.notes = n; return this; }

    /** What asked for the version (e.g. the command line), recorded in the tag history. */
    public VersionDraft command(String c) { this.command = c; return this; }

    /** A tag to move to the new version once it is durable ({@code latest} always moves). */
    public VersionDraft tag(String tag) {
        Ref.checkName("tag", tag);
        tags.add(tag);
        return this;
    }

    /** A side file such as tokenizer.json, copied from a file. */
    public VersionDraft sideFile(String fileName, Path file) { sideFiles.put(checkFileName(fileName), file); return this; }

    public VersionDraft sideFile(String fileName, byte[] content) { sideFiles.put(checkFileName(fileName), content.clone()); return this; }

    /** Every side file of an existing version, unchanged. */
    public VersionDraft sideFilesOf(Version v) {
        v.files().forEach((n, f) -> sideFiles.put(n, f));
        return this;
    }

    /** A tensor with new bytes. */
    public VersionDraft tensor(TensorEntry e) { tensors.add(e); return this; }

    /** A tensor of an existing version, unchanged (possibly under a new name, e.g. a copied layer). */
    public VersionDraft reuse(String name, Version from, String fromName) {
        Version.StoredTensor t = from.tensor(fromName);
        if (t == null) throw new StoreException(from.label() + " has no tensor named '" + fromName + "'.");
        tensors.add(new Reused(name, t));
        return this;
    }

    public VersionDraft reuse(Version from, String name) { return reuse(name, from, name); }

    private static String checkFileName(String n) {
        if (n.isEmpty() || n.contains("/") || n.contains("\\") || n.startsWith(".")) {
            throw new StoreException("'" + n + "' is not a plain file name for a side file.");
        }
        return n;
    }
}
