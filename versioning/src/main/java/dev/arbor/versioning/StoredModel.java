package dev.arbor.versioning;

import dev.arbor.format.AtomicFiles;
import dev.arbor.format.FormatException;
import dev.arbor.format.LlamaConfig;
import dev.arbor.format.ModelSource;
import dev.arbor.format.Tensor;
import dev.arbor.format.TensorInfo;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;

/**
 * A store version opened for reading. Each tensor is a memory-mapped view of its blob: no copy,
 * no materialisation. Blobs are mapped on first use and stay valid until {@link #close}, even
 * if gc deletes a blob file meanwhile (the mapping keeps the pages). Side files are copied
 * once into a cache directory under their real names, since tokenizer loaders want a directory.
 */
public final class StoredModel implements ModelSource {
    private final Store store;
    private final Version version;
    private final Map<String, Version.StoredTensor> byName = new LinkedHashMap<>();
    private final Arena arena = Arena.ofShared();
    private final ConcurrentHashMap<String, MemorySegment> mapped = new ConcurrentHashMap<>();

    StoredModel(Store store, Version version) {
        this.store = store;
        this.version = version;
        for (Version.StoredTensor t : version.tensors()) byName.put(t.name(), t);
    }

    public Version version() { return version; }

    @Override public LlamaConfig requireConfig() { return version.config(); }

    @Override public List<String> tensorNames() { return List.copyOf(byName.keySet()); }

    @Override public boolean contains(String name) { return byName.containsKey(name); }

    @Override public TensorInfo info(String name) { return entry(name).info(); }

    @Override public Tensor tensor(String name) {
        Version.StoredTensor t = entry(name);
        MemorySegment seg = t.bytes() == 0 ? MemorySegment.ofArray(new byte[0]) : mapped.computeIfAbsent(t.blob(), this::map);
        if (seg.byteSize() != t.bytes()) {
            throw new StoreException("Blob " + t.blob().substring(0, 12) + " of tensor '" + name + "' in " + version.label()
                    + " has " + seg.byteSize() + " bytes instead of " + t.bytes() + "; run 'arbor store verify'.");
        }
        return new Tensor(t.name(), t.dtype(), t.shape(), seg);
    }

    private MemorySegment map(String blob) {
        Path p = store.blobs().localPath(blob);
        try (FileChannel ch = FileChannel.open(p, StandardOpenOption.READ)) {
            return ch.map(FileChannel.MapMode.READ_ONLY, 0, ch.size(), arena);
        } catch (NoSuchFileException e) {
            throw new StoreException("Blob " + blob.substring(0, 12) + " of " + version.label() + " is missing; run 'arbor store verify'.");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private Version.StoredTensor entry(String name) {
        Version.StoredTensor t = byName.get(name);
        if (t == null) throw new FormatException(version.label() + " has no tensor named '" + name + "'.");
        return t;
    }

    /** A side file under its own name (e.g. tokenizer.json), from {@link #sidecarDir}. */
    @Override public Optional<Path> sideFile(String fileName) {
        if (!version.files().containsKey(fileName)) return Optional.empty();
        return Optional.of(sidecarDir().resolve(fileName));
    }

    /**
     * A directory holding every side file under its real name: {@code cache/files/<version id>},
     * filled once (atomically, from verified blobs) and reused by later readers.
     */
    public Path sidecarDir() {
        Path dir = store.root().resolve("cache").resolve("files").resolve(version.idHex());
        if (Files.isDirectory(dir)) return dir;
        try {
            Store.ensureDir(dir.getParent());
            Path tmp = AtomicFiles.tempSibling(dir);
            Files.createDirectory(tmp);
            try {
                for (Map.Entry<String, Version.FileBlob> e : version.files().entrySet()) {
                    byte[] b = readVerified(e.getValue().blob(), "side file " + e.getKey());
                    AtomicFiles.write(tmp.resolve(e.getKey()), b);
                }
                Files.move(tmp, dir, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
            } catch (java.nio.file.FileAlreadyExistsException | java.nio.file.DirectoryNotEmptyException raced) {
                // another reader published it first; theirs is identical
            } finally {
                AtomicFiles.deleteTree(tmp);
            }
            return dir;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** A small blob's bytes, checked against its hash. */
    byte[] readVerified(String blob, String what) throws IOException {
        byte[] b;
        try {
            b = Files.readAllBytes(store.blobs().localPath(blob));
        } catch (NoSuchFileException e) {
            throw new StoreException("Blob " + blob.substring(0, 12) + " of the " + what + " of " + version.label() + " is missing.");
        }
        if (!Hashing.hex(b).equals(blob)) {
            throw new StoreException("Blob " + blob.substring(0, 12) + " of the " + what + " of " + version.label()
                    + " is damaged (its SHA-256 does not match); run 'arbor store verify'.");
        }
        return b;
    }

    @Override public String describe() { return version.label(); }

    @Override public void close() { arena.close(); }
}
