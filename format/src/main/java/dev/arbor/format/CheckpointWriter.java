package dev.arbor.format;

import java.io.IOException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Writes an HF checkpoint directory atomically: everything goes into a hidden temporary
 * directory beside the destination, every file is fsynced, and the directory is renamed into
 * place last. A process killed at any moment leaves no destination that looks complete.
 */
public final class CheckpointWriter {
    private LlamaConfig config;
    private final List<TensorEntry> tensors = new ArrayList<>();
    private final Map<String, String> metadata = new LinkedHashMap<>(Map.of("format", "pt"));
    private final List<Path> sidecars = new ArrayList<>();
    private final Map<String, byte[]> extraFiles = new LinkedHashMap<>();
    private long maxShardBytes = Long.MAX_VALUE;
    private List<List<String>> explicitShards;
    private boolean replace;
    private ProgressListener progress = (done, total) -> { };

    /** Told after each tensor: bytes written so far and in all. */
    @FunctionalInterface
    public interface ProgressListener {
        void update(long bytesDone, long bytesTotal);
    }

    public CheckpointWriter config(LlamaConfig c) { this.config = c; return this; }

    public CheckpointWriter add(TensorEntry e) { tensors.add(e); return this; }

    public CheckpointWriter addAll(List<TensorEntry> es) { tensors.addAll(es); return this; }

    public CheckpointWriter metadata(Map<String, String> m) {
        metadata.clear();
        metadata.putAll(m);
        return this;
    }

    /** Copies these files (tokenizer, generation config...) into the checkpoint. */
    public CheckpointWriter sidecars(List<Path> files) { sidecars.addAll(files); return this; }

    /** An extra small file written beside the weights. */
    public CheckpointWriter file(String name, byte[] content) { extraFiles.put(name, content); return this; }

    /** Splits weights into shards of at most this many bytes (a lone larger tensor gets its own). */
    public CheckpointWriter maxShardBytes(long bytes) {
        if (bytes <= 0) throw new FormatException("The shard size must be positive.");
        this.maxShardBytes = bytes;
        this.explicitShards = null;
        return this;
    }

    /** Uses exactly this grouping of tensor names into shards (keeps a source's layout). */
    public CheckpointWriter shards(List<List<String>> groups) { this.explicitShards = groups; return this; }

    public CheckpointWriter replaceExisting(boolean r) { this.replace = r; return this; }

    public CheckpointWriter progress(ProgressListener p) { this.progress = p; return this; }

    /** Writes the checkpoint to {@code dst}, which must not exist unless replacing. */
    public void write(Path dst) throws IOException {
        Path target = dst.toAbsolutePath().normalize();
        if (Files.exists(target) && !replace) {
            throw new FormatException(dst + " already exists; choose a new directory.");
        }
        Files.createDirectories(target.getParent());
        Path tmp = AtomicFiles.tempSibling(target);
        Files.createDirectory(tmp);
        boolean ok = false;
        try {
            List<List<TensorEntry>> groups = group();
            long total = 0;
            for (TensorEntry e : tensors) total += e.byteSize();
            long done = 0;
            Map<String, String> weightMap = new java.util.TreeMap<>();
            for (int i = 0; i < groups.size(); i++) {
                String fn = groups.size() == 1 ? Checkpoint.SINGLE_FILE
                        : String.format("model-%05d-of-%05d.safetensors", i + 1, groups.size());
                List<TensorEntry> g = groups.get(i);
                Path f = tmp.resolve(fn);
                try (var ch = java.nio.channels.FileChannel.open(f, java.nio.file.StandardOpenOption.CREATE_NEW,
                        java.nio.file.StandardOpenOption.WRITE)) {
                    SafetensorsWriter.writeTo(ch, g, metadata);
                    ch.force(true);
                }
                for (TensorEntry e : g) {
                    weightMap.put(e.name(), fn);
                    done += e.byteSize();
                }
                progress.update(done, total);
            }
            if (groups.size() > 1) {
                AtomicFiles.writeString(tmp.resolve(Checkpoint.INDEX_FILE), indexJson(total, weightMap));
            }
            if (config != null) AtomicFiles.writeString(tmp.resolve(LlamaConfig.FILE_NAME), config.toJson());
            for (Path s : sidecars) {
                Path to = tmp.resolve(s.getFileName().toString());
                Files.copy(s, to, StandardCopyOption.REPLACE_EXISTING);
                AtomicFiles.fsyncFile(to);
            }
            for (Map.Entry<String, byte[]> e : extraFiles.entrySet()) AtomicFiles.write(tmp.resolve(e.getKey()), e.getValue());
            AtomicFiles.fsyncDirectory(tmp);
            try {
                AtomicFiles.publishDirectory(tmp, target, replace);
            } catch (FileAlreadyExistsException e) {
                throw new FormatException(dst + " already exists; choose a new directory.");
            }
            ok = true;
        } finally {
            if (!ok) AtomicFiles.deleteTree(tmp);
        }
    }

    private List<List<TensorEntry>> group() {
        List<List<TensorEntry>> out = new ArrayList<>();
        if (explicitShards != null) {
            Map<String, TensorEntry> byName = new LinkedHashMap<>();
            for (TensorEntry e : tensors) byName.put(e.name(), e);
            for (List<String> names : explicitShards) {
                List<TensorEntry> g = new ArrayList<>();
                for (String n : names) {
                    TensorEntry e = byName.remove(n);
                    if (e == null) throw new IllegalArgumentException("shard layout names unknown tensor " + n);
                    g.add(e);
                }
                if (!g.isEmpty()) out.add(g);
            }
            if (!byName.isEmpty()) throw new IllegalArgumentException("shard layout misses tensors " + byName.keySet());
            if (out.isEmpty()) out.add(new ArrayList<>());
            return out;
        }
        List<TensorEntry> cur = new ArrayList<>();
        long acc = 0;
        for (TensorEntry e : tensors) {
            if (!cur.isEmpty() && acc + e.byteSize() > maxShardBytes) {
                out.add(cur);
                cur = new ArrayList<>();
                acc = 0;
            }
            cur.add(e);
            acc += e.byteSize();
        }
        out.add(cur);
        return out;
    }

    /** The index JSON as HF (and the reference) write it: two-space indent, names sorted. */
    static String indexJson(long total, Map<String, String> sortedWeightMap) {
        StringBuilder sb = new StringBuilder();
        sb.append("{\n  \"metadata\": {\n    \"total_size\": ").append(total).append("\n  },\n  \"weight_map\": {");
        boolean first = true;
        for (Map.Entry<String, String> e : sortedWeightMap.entrySet()) {
            sb.append(first ? "\n" : ",\n");
            first = false;
            sb.append("    ").append(JsonText.quote(e.getKey())).append(": ").append(JsonText.quote(e.getValue()));
        }
        sb.append(first ? "}\n}\n" : "\n  }\n}\n");
        return sb.toString();
    }

    /** Parses "2GB", "500MB", "1.5GiB", "123456" into bytes (decimal units, as HF does). */
    public static long parseSize(String s) {
        String t = s.trim().toUpperCase(java.util.Locale.ROOT);
        long mult = 1;
        String[][] units = {{"GIB", "1073741824"}, {"MIB", "1048576"}, {"KIB", "1024"},
                {"GB", "1000000000"}, {"MB", "1000000"}, {"KB", "1000"}, {"B", "1"}};
        for (String[] u : units) {
            if (t.endsWith(u[0])) {
                mult = Long.parseLong(u[1]);
                t = t.substring(0, t.length() - u[0].length()).trim();
                break;
            }
        }
        try {
            double v = Double.parseDouble(t);
            if (!(v > 0) || Double.isInfinite(v)) throw new NumberFormatException();
            return (long) Math.ceil(v * mult);
        } catch (NumberFormatException e) {
            throw new FormatException("Cannot read size '" + s + "': use a number with an optional unit such as 2GB or 500MB.");
        }
    }
}
