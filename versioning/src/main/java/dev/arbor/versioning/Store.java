package dev.arbor.versioning;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.arbor.format.AtomicFiles;
import dev.arbor.format.Checkpoint;
import dev.arbor.format.CheckpointWriter;
import dev.arbor.format.DType;
import dev.arbor.format.LlamaConfig;
import dev.arbor.format.SafetensorsFile;
import dev.arbor.format.TensorEntry;
import dev.arbor.format.TensorInfo;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A versioned checkpoint store: a directory of content-addressed tensor blobs, version
 * manifests and tags (layout and schema in versioning/README.md).
 *
 * <p>Writers ({@link #commit}, tag moves, {@link #gc}) are serialised by a lock file; readers
 * take no lock and see only complete versions, because every file is published by an atomic
 * rename after its content, and everything it refers to, is durable.
 */
public final class Store {
    /** Marks a directory as a store and records its schema. */
    public static final String STORE_FILE = "arbor-store.json";

    private final Path root;
    private final BlobStore blobs;

    private Store(Path root) {
        this.root = root;
        this.blobs = new LocalBlobStore(root);
    }

    /** {@code ARBOR_STORE}, else {@code ~/.arbor}. */
    public static Path defaultLocation() {
        String env = System.getenv("ARBOR_STORE");
        if (env != null && !env.isBlank()) return Path.of(env);
        return Path.of(System.getProperty("user.home"), ".arbor");
    }

    /** Opens an existing store, refusing a missing one or one from a newer Arbor. */
    public static Store open(Path dir) {
        Path root = dir.toAbsolutePath().normalize();
        Path marker = root.resolve(STORE_FILE);
        if (!Files.isRegularFile(marker)) {
            if (!Files.exists(root)) throw new StoreException("There is no store at " + dir + "; create one with 'arbor store init'.");
            throw new StoreException(dir + " is not an Arbor store (it has no " + STORE_FILE + "); create one with 'arbor store init'.");
        }
        try {
            Manifests.checkSchema("The store at " + dir, Manifests.JSON.readTree(Files.readAllBytes(marker)));
        } catch (IOException e) {
            throw new StoreException("The store at " + dir + " is damaged: " + STORE_FILE + " cannot be read.");
        }
        return new Store(root);
    }

    /** Creates a store (or opens the one already there). */
    public static Store init(Path dir) {
        Path root = dir.toAbsolutePath().normalize();
        if (Files.isRegularFile(root.resolve(STORE_FILE))) return open(root);
        try {
            if (Files.exists(root)) {
                if (!Files.isDirectory(root)) throw new StoreException(dir + " is a file, not a directory for a store.");
                try (var s = Files.list(root)) {
                    if (s.findAny().isPresent()) {
                        throw new StoreException(dir + " is not empty and not an Arbor store; choose an empty or new directory.");
                    }
                }
            }
            ensureDir(root);
            ObjectNode o = Manifests.JSON.createObjectNode().put("schema", Manifests.SCHEMA).put("created", Instant.now().toString());
            AtomicFiles.write(root.resolve(STORE_FILE), Manifests.bytes(o));
            return new Store(root);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    public Path root() { return root; }

    public BlobStore blobs() { return blobs; }

    // ---------------------------------------------------------------- reading (never locks)

    /** Model names, sorted. */
    public List<String> models() {
        List<String> out = new ArrayList<>();
        Path dir = root.resolve("models");
        if (!Files.isDirectory(dir)) return out;
        try (DirectoryStream<Path> s = Files.newDirectoryStream(dir)) {
            for (Path p : s) {
                String n = p.getFileName().toString();
                if (Ref.NAME.matcher(n).matches() && Files.isDirectory(p)) out.add(n);
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        out.sort(null);
        return out;
    }

    /** A model's version numbers, ascending (only published manifests; temporaries are hidden). */
    List<Integer> numbers(String model) {
        List<Integer> out = new ArrayList<>();
        Path dir = versionsDir(model);
        if (!Files.isDirectory(dir)) return out;
        try (DirectoryStream<Path> s = Files.newDirectoryStream(dir, "*.json")) {
            for (Path p : s) {
                String n = p.getFileName().toString();
                String digits = n.substring(0, n.length() - ".json".length());
                if (digits.matches("[1-9][0-9]{0,8}")) out.add(Integer.parseInt(digits));
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        out.sort(null);
        return out;
    }

    /** A model's versions, ascending by number. */
    public List<Version> versions(String model) {
        List<Version> out = new ArrayList<>();
        for (int n : numbers(model)) out.add(read(model, n));
        return out;
    }

    /** Resolves a reference (see {@link Ref}) to a version, or fails with one sentence. */
    public Version resolve(String ref) { return resolve(Ref.parse(ref)); }

    public Version resolve(Ref ref) {
        List<Integer> numbers = numbers(ref.model());
        if (numbers.isEmpty()) {
            throw new StoreException("There is no model named '" + ref.model() + "' in the store at " + root + ".");
        }
        return switch (ref.kind()) {
            case NUMBER -> {
                int n = Integer.parseInt(ref.value());
                if (!numbers.contains(n)) {
                    throw new StoreException(ref + " does not exist: " + ref.model() + " has versions " + ranges(numbers) + ".");
                }
                yield read(ref.model(), n);
            }
            case ID -> {
                List<Version> hits = new ArrayList<>();
                for (Version v : versions(ref.model())) if (v.idHex().startsWith(ref.value())) hits.add(v);
                if (hits.isEmpty()) throw new StoreException("No version of " + ref.model() + " has an id starting with sha256:" + ref.value() + ".");
                if (hits.size() > 1) {
                    throw new StoreException("sha256:" + ref.value() + " is ambiguous: it matches "
                            + String.join(" and ", hits.stream().map(Version::label).toList()) + "; give more digits.");
                }
                yield hits.getFirst();
            }
            case TAG -> {
                Tag t = readTag(ref.model(), ref.value());
                if (t == null) {
                    // a crash between a commit's manifest and its latest-tag move leaves no tag yet
                    if (ref.value().equals(Ref.LATEST)) yield read(ref.model(), numbers.getLast());
                    List<String> names = tags(ref.model()).stream().map(Tag::name).toList();
                    throw new StoreException(ref.model() + " has no tag '" + ref.value() + "'"
                            + (names.isEmpty() ? "." : " (its tags: " + String.join(", ", names) + ")."));
                }
                if (!numbers.contains(t.version())) {
                    throw new StoreException("Tag " + ref + " points at " + ref.model() + "@" + t.version() + ", which does not exist.");
                }
                yield read(ref.model(), t.version());
            }
        };
    }

    /** A model's tags, sorted by name. */
    public List<Tag> tags(String model) {
        List<Tag> out = new ArrayList<>();
        Path dir = modelDir(model).resolve("tags");
        if (!Files.isDirectory(dir)) return out;
        try (DirectoryStream<Path> s = Files.newDirectoryStream(dir, "*.json")) {
            for (Path p : s) {
                String n = p.getFileName().toString();
                Tag t = n.startsWith(".") ? null : readTag(model, n.substring(0, n.length() - ".json".length()));
                if (t != null) out.add(t);
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        out.sort(Comparator.comparing(Tag::name));
        return out;
    }

    /** A tag, or null when the model has no such tag. */
    public Tag readTag(String model, String tag) {
        Path f = tagFile(model, tag);
        try {
            return Tags.parse(f.toString(), Files.readAllBytes(f));
        } catch (NoSuchFileException e) {
            return null;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Opens a version for reading: tensors are memory-mapped blobs, valid until close. */
    public StoredModel openModel(Version v) { return new StoredModel(this, v); }

    public StoredModel openModel(String ref) { return openModel(resolve(ref)); }

    /** A version's manifest exactly as stored (JSON). */
    public String manifestJson(Version v) {
        try {
            return Files.readString(versionFile(v.model(), v.number()));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    Version read(String model, int number) {
        Path f = versionFile(model, number);
        try {
            return Manifests.parse(f.toString(), Files.readAllBytes(f));
        } catch (NoSuchFileException e) {
            throw new StoreException(model + "@" + number + " does not exist.");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    // ---------------------------------------------------------------- writing (under the lock)

    /**
     * Writes a new version: every new tensor becomes a durable blob (deduplicated), then the
     * manifest is published, then {@code latest} and the draft's tags move to it. A crash at any
     * point leaves the store as it was, plus at most some unreferenced blobs that gc removes.
     */
    public Version commit(VersionDraft d) {
        if (d.config == null) throw new StoreException("The new version of " + d.model + " has no config.");
        return locked(() -> {
            int number = numbers(d.model).stream().mapToInt(Integer::intValue).max().orElse(0) + 1;
            for (Version.Parent p : d.parents) {
                Version pv = read(p.model(), p.number());
                if (!pv.id().equals(p.id())) throw new StoreException("Parent " + p.label() + " is not the version the draft named.");
            }
            Map<String, Version.FileBlob> files = new LinkedHashMap<>();
            for (Map.Entry<String, Object> e : d.sideFiles.entrySet()) files.put(e.getKey(), storeSideFile(e.getKey(), e.getValue()));
            List<Version.StoredTensor> tensors = new ArrayList<>();
            Set<String> names = new HashSet<>();
            for (Object item : d.tensors) {
                Version.StoredTensor t = switch (item) {
                    case TensorEntry e -> {
                        BlobStore.Written w = EntryWriter.write(blobs, e);
                        yield new Version.StoredTensor(e.name(), e.dtype(), e.shape(), w.hash(), w.bytes());
                    }
                    case VersionDraft.Reused r -> {
                        Version.StoredTensor s = r.source();
                        requireBlob(s.blob(), s.bytes(), "tensor '" + s.name() + "'");
                        yield new Version.StoredTensor(r.name(), s.dtype(), s.shape(), s.blob(), s.bytes());
                    }
                    default -> throw new IllegalStateException();
                };
                if (!names.add(t.name())) throw new StoreException("The new version of " + d.model + " names tensor '" + t.name() + "' twice.");
                tensors.add(t);
            }
            ObjectNode body = Manifests.body(d.model, number, d.parents, new Version.Operation(d.kind, d.parameters),
                    Instant.now(), who(), d.notes, d.config, files, tensors);
            String id = Manifests.idOf(body);
            byte[] bytes = Manifests.bytes(Manifests.withIdAndMetrics(body, id, Map.of()));
            Path file = versionFile(d.model, number);
            ensureDir(file.getParent());
            AtomicFiles.write(file, bytes);   // the version becomes visible here, complete
            Version v = Manifests.parse(file.toString(), bytes);
            moveTag(v, Ref.LATEST, Tag.Move.SET, d.command);
            for (String t : d.tags) if (!t.equals(Ref.LATEST)) moveTag(v, t, Tag.Move.SET, d.command);
            return v;
        });
    }

    private Version.FileBlob storeSideFile(String name, Object content) throws IOException {
        if (content instanceof Version.FileBlob f) {
            requireBlob(f.blob(), f.bytes(), "side file " + name);
            return f;
        }
        try (BlobStore.Writer w = blobs.create()) {
            if (content instanceof byte[] b) {
                w.write(ByteBuffer.wrap(b));
            } else {
                ByteBuffer buf = ByteBuffer.allocate(1 << 20);
                try (FileChannel ch = FileChannel.open((Path) content, StandardOpenOption.READ)) {
                    while (ch.read(buf.clear()) >= 0) w.write(buf.flip());
                }
            }
            BlobStore.Written written = w.commit();
            return new Version.FileBlob(written.hash(), written.bytes());
        }
    }

    private void requireBlob(String hash, long bytes, String what) {
        if (blobs.size(hash) != bytes) {
            throw new StoreException("Blob " + hash.substring(0, 12) + " of " + what + " is missing or damaged; run 'arbor store verify'.");
        }
    }

    /**
     * Imports an HF checkpoint directory as a new version of {@code model}, streaming each
     * tensor once (read, hash, write). Tensors already stored are shared, not duplicated.
     */
    public Version importCheckpoint(Path dir, String model, String notes, List<String> tags, String command) {
        VersionDraft d = new VersionDraft(model);
        for (String t : tags) d.tag(t);
        try (Checkpoint ck = Checkpoint.open(dir, false)) {
            LlamaConfig cfg = ck.requireConfig();
            long bytes = 0;
            for (SafetensorsFile f : ck.shards()) {
                List<TensorInfo> ordered = new ArrayList<>(f.tensors());
                ordered.sort(Comparator.comparingLong(TensorInfo::begin));   // file order: sequential reads
                for (TensorInfo t : ordered) {
                    d.tensor(TensorEntry.copyOf(f, t, t.dtype()));
                    bytes += t.byteSize();
                }
            }
            for (Path s : ck.sidecars()) d.sideFile(s.getFileName().toString(), s);
            Map<String, Object> params = new LinkedHashMap<>();
            params.put("source", dir.toAbsolutePath().normalize().toString());
            params.put("shards", ck.shards().size());
            params.put("tensors", ck.tensorNames().size());
            params.put("bytes", bytes);
            d.config(cfg).notes(notes).command(command).operation("import", params);
            return commit(d);
        }
    }

    /** Moves {@code model:tag} to a version; a no-op when it already points there. */
    public Tag tag(Version v, String tag, String command) {
        Ref.checkName("tag", tag);
        return locked(() -> {
            read(v.model(), v.number());   // still there (versions are never rewritten, only added)
            Tag old = readTag(v.model(), tag);
            if (old != null && old.version() == v.number()) return old;
            return moveTag(v, tag, Tag.Move.SET, command);
        });
    }

    /** Moves a tag back to its previous target (repeatable: steps back through earlier targets). */
    public Tag rollback(String model, String tag, String command) {
        Ref.checkName("model", model);
        Ref.checkName("tag", tag);
        return locked(() -> {
            Tag t = readTag(model, tag);
            if (t == null) throw new StoreException(model + " has no tag '" + tag + "' to roll back.");
            Tag.Move target = t.rollbackTarget();
            if (target == null) throw new StoreException("Tag " + t.label() + " has no earlier target to roll back to.");
            Version v = read(model, target.version());
            return moveTag(v, tag, Tag.Move.ROLLBACK, command);
        });
    }

    private Tag moveTag(Version v, String tag, String action, String command) throws IOException {
        Tag old = readTag(v.model(), tag);
        List<Tag.Move> history = new ArrayList<>(old == null ? List.of() : old.history());
        history.add(new Tag.Move(action, v.number(), v.id(), old == null ? null : old.version(), who(), command, Instant.now()));
        Tag t = new Tag(v.model(), tag, v.number(), v.id(), history);
        Path f = tagFile(v.model(), tag);
        ensureDir(f.getParent());
        AtomicFiles.write(f, Tags.toBytes(t));
        return t;
    }

    /**
     * Records evaluation metrics on a version (merged into its existing metrics). The id does
     * not cover metrics, so the version keeps its identity.
     */
    public Version recordMetrics(Version v, Map<String, ?> metrics) {
        return locked(() -> {
            Path f = versionFile(v.model(), v.number());
            ObjectNode n = Manifests.readTree(f.toString(), Files.readAllBytes(f));
            ObjectNode m = n.has("metrics") && n.get("metrics").isObject() ? (ObjectNode) n.get("metrics") : n.putObject("metrics");
            m.setAll((ObjectNode) Manifests.JSON.valueToTree(metrics));
            byte[] bytes = Manifests.bytes(n);
            AtomicFiles.write(f, bytes);
            return Manifests.parse(f.toString(), bytes);
        });
    }

    // ---------------------------------------------------------------- whole-store operations

    /** Rehashes every blob and checks every manifest and tag; never locks. */
    public VerifyReport verify() { return Maintenance.verify(this); }

    /** Removes blobs no version uses and leftovers of interrupted writers, under the writer lock. */
    public GcReport gc(boolean dryRun) { return locked(() -> Maintenance.gc(this, dryRun)); }

    /** Models, versions, tags and real sizes on disk. */
    public Listing list() { return Maintenance.list(this); }

    /**
     * Writes a version as a plain HF directory, verifying every blob's hash while reading it.
     * @param dtype floating-point weights converted to this dtype, or null to keep
     * @param maxShardBytes shard size limit (HF's default is 5 GB)
     */
    public void export(Version v, Path dst, DType dtype, long maxShardBytes, CheckpointWriter.ProgressListener progress) {
        try {
            Exporter.export(this, v, dst, dtype, maxShardBytes, progress);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Config changes, tensors added/removed/changed (max |Δ|, relative change) and bytes shared. */
    public VersionDiff diff(Version a, Version b) { return VersionDiff.compute(this, a, b); }

    // ---------------------------------------------------------------- layout and helpers

    Path modelDir(String model) { return root.resolve("models").resolve(model); }

    Path versionsDir(String model) { return modelDir(model).resolve("versions"); }

    Path versionFile(String model, int number) { return versionsDir(model).resolve(number + ".json"); }

    Path tagFile(String model, String tag) { return modelDir(model).resolve("tags").resolve(tag + ".json"); }

    Path lockFile() { return root.resolve("lock"); }

    @FunctionalInterface
    interface IOBody<T> {
        T run() throws IOException;
    }

    <T> T locked(IOBody<T> body) {
        try {
            return WriterLock.with(lockFile(), body::run);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Creates missing directories and fsyncs each parent, so the new entries survive a crash. */
    static void ensureDir(Path dir) throws IOException {
        if (Files.isDirectory(dir)) return;
        ensureDir(dir.getParent());
        try {
            Files.createDirectory(dir);
        } catch (java.nio.file.FileAlreadyExistsException e) {
            return;
        }
        AtomicFiles.fsyncDirectory(dir.getParent());
    }

    /** Who made a change: user@host (pid). */
    static String who() {
        String host = System.getenv("HOSTNAME");
        if (host == null || host.isBlank()) {
            try {
                host = Files.readString(Path.of("/etc/hostname")).trim();
            } catch (IOException | RuntimeException e) {
                host = "localhost";
            }
        }
        return System.getProperty("user.name") + "@" + host + " (pid " + ProcessHandle.current().pid() + ")";
    }

    /** "1–3, 5" for a sorted list of numbers. */
    static String ranges(List<Integer> sorted) {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < sorted.size(); ) {
            int j = i;
            while (j + 1 < sorted.size() && sorted.get(j + 1) == sorted.get(j) + 1) j++;
            if (!sb.isEmpty()) sb.append(", ");
            sb.append(sorted.get(i));
            if (j > i) sb.append('–').append(sorted.get(j));
            i = j + 1;
        }
        return sb.toString();
    }
}
