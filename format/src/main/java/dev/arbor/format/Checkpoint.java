package dev.arbor.format;

import com.fasterxml.jackson.databind.JsonNode;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/**
 * A checkpoint opened for reading: an HF directory (config.json plus model.safetensors, or
 * shards listed in model.safetensors.index.json) or a single .safetensors file. Tensors are
 * zero-copy views of the memory-mapped shards.
 */
public final class Checkpoint implements ModelSource {
    public static final String SINGLE_FILE = "model.safetensors";
    public static final String INDEX_FILE = "model.safetensors.index.json";
    /** Files besides the weights that every command writing a checkpoint carries along. */
    public static final List<String> SIDECAR_FILES = List.of(
            "generation_config.json", "tokenizer.json", "tokenizer_config.json",
            "special_tokens_map.json", "tokenizer.model", "chat_template.jinja");

    private final Path path;
    private final LlamaConfig config;
    private final List<SafetensorsFile> shards;
    private final Map<String, SafetensorsFile> owner = new LinkedHashMap<>();

    private Checkpoint(Path path, LlamaConfig config, List<SafetensorsFile> shards) {
        this.path = path;
        this.config = config;
        this.shards = shards;
    }

    /** Opens a directory or a single file, memory-mapped. */
    public static Checkpoint open(Path path) { return open(path, true); }

    /**
     * Opens a checkpoint. With {@code map} false the shards are only validated and read through
     * {@link #read}, which keeps resident memory flat while streaming a large model.
     */
    public static Checkpoint open(Path path, boolean map) {
        if (!Files.exists(path)) throw new FormatException(path + " does not exist.");
        List<SafetensorsFile> opened = new ArrayList<>();
        try {
            if (Files.isRegularFile(path)) {
                opened.add(SafetensorsFile.open(path, map));
                Checkpoint c = new Checkpoint(path, null, opened);
                c.indexTensors(null);
                return c;
            }
            Path cfgFile = path.resolve(LlamaConfig.FILE_NAME);
            LlamaConfig cfg = Files.exists(cfgFile) ? LlamaConfig.read(cfgFile) : null;
            Path index = path.resolve(INDEX_FILE);
            Map<String, String> weightMap = null;
            if (Files.exists(index)) {
                weightMap = readIndex(index);
                for (String shard : new java.util.TreeSet<>(weightMap.values())) {
                    Path p = path.resolve(shard).normalize();
                    if (!p.getParent().equals(path.normalize())) {
                        throw new FormatException(index + " names a shard outside the checkpoint directory: " + shard + ".");
                    }
                    if (!Files.exists(p)) throw new FormatException(index + " names shard " + shard + ", which is missing.");
                    opened.add(SafetensorsFile.open(p, map));
                }
            } else if (Files.exists(path.resolve(SINGLE_FILE))) {
                opened.add(SafetensorsFile.open(path.resolve(SINGLE_FILE), map));
            } else {
                List<Path> files;
                try (Stream<Path> s = Files.list(path)) {
                    files = s.filter(p -> p.getFileName().toString().endsWith(".safetensors")
                            && !p.getFileName().toString().startsWith(".")).sorted().toList();
                }
                if (files.isEmpty()) throw new FormatException(path + " holds no .safetensors weights.");
                for (Path p : files) opened.add(SafetensorsFile.open(p, map));
            }
            Checkpoint c = new Checkpoint(path, cfg, opened);
            c.indexTensors(weightMap);
            return c;
        } catch (IOException e) {
            for (SafetensorsFile f : opened) f.close();
            throw new FormatException(path + " cannot be read: " + e.getMessage() + ".");
        } catch (RuntimeException e) {
            for (SafetensorsFile f : opened) f.close();
            throw e;
        }
    }

    private static Map<String, String> readIndex(Path index) throws IOException {
        JsonNode n;
        try {
            n = LlamaConfig.JSON.readTree(Files.readString(index));
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new FormatException(index + " is not valid JSON.");
        }
        JsonNode wm = n == null ? null : n.get("weight_map");
        if (wm == null || !wm.isObject()) throw new FormatException(index + " has no weight_map object.");
        Map<String, String> out = new LinkedHashMap<>();
        var it = wm.fields();
        while (it.hasNext()) {
            var e = it.next();
            if (!e.getValue().isTextual()) throw new FormatException(index + ": the shard of '" + e.getKey() + "' is not a file name.");
            out.put(e.getKey(), e.getValue().textValue());
        }
        return out;
    }

    private void indexTensors(Map<String, String> weightMap) {
        for (SafetensorsFile f : shards) {
            for (TensorInfo t : f.tensors()) {
                SafetensorsFile prev = owner.putIfAbsent(t.name(), f);
                if (prev != null) {
                    throw new FormatException("Tensor '" + t.name() + "' appears in both " + prev.path().getFileName()
                            + " and " + f.path().getFileName() + ".");
                }
            }
        }
        if (weightMap != null) {
            for (Map.Entry<String, String> e : weightMap.entrySet()) {
                SafetensorsFile f = owner.get(e.getKey());
                if (f == null || !f.path().getFileName().toString().equals(e.getValue())) {
                    throw new FormatException("The index names tensor '" + e.getKey() + "' in shard " + e.getValue()
                            + ", but that shard does not contain it.");
                }
            }
            for (String name : owner.keySet()) {
                if (!weightMap.containsKey(name)) {
                    throw new FormatException("Tensor '" + name + "' is in a shard but missing from " + INDEX_FILE + ".");
                }
            }
        }
    }

    public Path path() { return path; }

    /** The config, or null when the checkpoint is a bare .safetensors file or has no config.json. */
    public LlamaConfig config() { return config; }

    /** The config, refusing a checkpoint without one. */
    @Override public LlamaConfig requireConfig() {
        if (config == null) throw new FormatException(path + " has no config.json.");
        return config;
    }

    public List<SafetensorsFile> shards() { return List.copyOf(shards); }

    /** Tensor names in shard order, then file order. */
    @Override public List<String> tensorNames() { return List.copyOf(owner.keySet()); }

    @Override public boolean contains(String name) { return owner.containsKey(name); }

    @Override public TensorInfo info(String name) { return shardOf(name).info(name); }

    @Override public Tensor tensor(String name) { return shardOf(name).tensor(name); }

    /** The shard that holds a tensor. */
    public SafetensorsFile shardOf(String name) {
        SafetensorsFile f = owner.get(name);
        if (f == null) throw new FormatException(path + " has no tensor named '" + name + "'.");
        return f;
    }

    public long totalBytes() {
        long s = 0;
        for (SafetensorsFile f : shards) for (TensorInfo t : f.tensors()) s += t.byteSize();
        return s;
    }

    /** Sidecar files (tokenizer, generation config...) present beside the weights. */
    public List<Path> sidecars() {
        List<Path> out = new ArrayList<>();
        if (!Files.isDirectory(path)) return out;
        for (String n : SIDECAR_FILES) {
            Path p = path.resolve(n);
            if (Files.isRegularFile(p)) out.add(p);
        }
        return out;
    }

    @Override public java.util.Optional<Path> sideFile(String fileName) {
        if (!Files.isDirectory(path)) return java.util.Optional.empty();
        Path p = path.resolve(fileName);
        return Files.isRegularFile(p) ? java.util.Optional.of(p) : java.util.Optional.empty();
    }

    @Override public String describe() { return path.toString(); }

    @Override public void close() {
        for (SafetensorsFile f : shards) f.close();
    }
}
