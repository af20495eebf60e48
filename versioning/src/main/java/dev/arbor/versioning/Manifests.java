package dev.arbor.versioning;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.arbor.format.DType;
import dev.arbor.format.LlamaConfig;

import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.time.format.DateTimeParseException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** Manifest JSON: writing, reading (strictly), and the version id. Schema: versioning/README.md. */
final class Manifests {
    /** The manifest and store schema this code writes and the newest it reads. */
    static final int SCHEMA = 1;
    static final ObjectMapper JSON = new ObjectMapper();
    private static final ObjectMapper PRETTY = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
    private static final TypeReference<LinkedHashMap<String, Object>> MAP = new TypeReference<>() {};

    private Manifests() {}

    /** The manifest without id and metrics: what the id hashes. */
    static ObjectNode body(String model, int number, List<Version.Parent> parents, Version.Operation op, Instant created,
                           String createdBy, String notes, LlamaConfig config, Map<String, Version.FileBlob> files,
                           List<Version.StoredTensor> tensors) {
        ObjectNode o = JSON.createObjectNode();
        o.put("schema", SCHEMA);
        o.put("model", model);
        o.put("version", number);
        ArrayNode ps = o.putArray("parents");
        for (Version.Parent p : parents) ps.addObject().put("model", p.model()).put("version", p.number()).put("id", p.id());
        ObjectNode opj = o.putObject("operation");
        opj.put("kind", op.kind());
        opj.set("parameters", JSON.valueToTree(op.parameters()));
        o.put("created", created.toString());
        o.put("created_by", createdBy);
        if (notes == null) o.putNull("notes"); else o.put("notes", notes);
        o.set("config", config.toJsonNode());
        ObjectNode fj = o.putObject("files");
        files.forEach((name, f) -> fj.putObject(name).put("blob", f.blob()).put("bytes", f.bytes()));
        ArrayNode tj = o.putArray("tensors");
        for (Version.StoredTensor t : tensors) {
            ObjectNode e = tj.addObject().put("name", t.name()).put("dtype", t.dtype().code());
            ArrayNode sh = e.putArray("shape");
            for (long d : t.shape()) sh.add(d);
            e.put("blob", t.blob()).put("bytes", t.bytes());
        }
        return o;
    }

    /** "sha256:" + the hash of the compact body (the manifest without id and metrics). */
    static String idOf(ObjectNode manifest) {
        ObjectNode b = manifest.deepCopy();
        b.remove("id");
        b.remove("metrics");
        try {
            return "sha256:" + Hashing.hex(JSON.writeValueAsBytes(b));
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    /** The full manifest: id right after schema, metrics last. */
    static ObjectNode withIdAndMetrics(ObjectNode body, String id, Map<String, Object> metrics) {
        ObjectNode o = JSON.createObjectNode();
        o.put("schema", body.get("schema").intValue());
        o.put("id", id);
        body.properties().forEach(e -> { if (!e.getKey().equals("schema")) o.set(e.getKey(), e.getValue()); });
        o.set("metrics", JSON.valueToTree(metrics));
        return o;
    }

    static byte[] bytes(ObjectNode manifest) {
        try {
            return (PRETTY.writeValueAsString(manifest) + "\n").getBytes(StandardCharsets.UTF_8);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    static ObjectNode readTree(String where, byte[] bytes) {
        JsonNode n;
        try {
            n = JSON.readTree(bytes);
        } catch (java.io.IOException e) {
            throw new StoreException("Manifest " + where + " is damaged: it is not valid JSON.");
        }
        if (n == null || !n.isObject()) throw new StoreException("Manifest " + where + " is damaged: it is not a JSON object.");
        checkSchema("Manifest " + where, n);
        return (ObjectNode) n;
    }

    /** Refuses what a newer Arbor wrote, naming it. */
    static void checkSchema(String what, JsonNode n) {
        JsonNode s = n.get("schema");
        if (s == null || !s.isIntegralNumber()) throw new StoreException(what + " is damaged: it has no schema number.");
        if (s.intValue() > SCHEMA) {
            throw new StoreException(what + " was written by a newer Arbor (schema " + s.intValue()
                    + "); this Arbor reads schema " + SCHEMA + " and older.");
        }
    }

    /** Parses a manifest; every missing or malformed field is one sentence naming the file. */
    static Version parse(String where, byte[] bytes) {
        ObjectNode n = readTree(where, bytes);
        String bad = "Manifest " + where + " is damaged: ";
        try {
            List<Version.Parent> parents = new ArrayList<>();
            for (JsonNode p : req(n, "parents", bad)) {
                parents.add(new Version.Parent(text(p, "model", bad), integer(p, "version", bad), text(p, "id", bad)));
            }
            JsonNode op = req(n, "operation", bad);
            Map<String, Object> params = JSON.convertValue(req(op, "parameters", bad), MAP);
            Map<String, Version.FileBlob> files = new LinkedHashMap<>();
            req(n, "files", bad).properties().forEach(e ->
                    files.put(e.getKey(), new Version.FileBlob(text(e.getValue(), "blob", bad), lng(e.getValue(), "bytes", bad))));
            List<Version.StoredTensor> tensors = new ArrayList<>();
            for (JsonNode t : req(n, "tensors", bad)) {
                String name = text(t, "name", bad);
                DType dt = DType.ofCode(text(t, "dtype", bad));
                if (dt == null) throw new StoreException(bad + "tensor '" + name + "' has an unknown dtype.");
                JsonNode sh = req(t, "shape", bad);
                long[] shape = new long[sh.size()];
                for (int i = 0; i < shape.length; i++) shape[i] = sh.get(i).asLong();
                tensors.add(new Version.StoredTensor(name, dt, shape, text(t, "blob", bad), lng(t, "bytes", bad)));
            }
            JsonNode m = n.get("metrics");
            Map<String, Object> metrics = m == null || m.isNull() ? Map.of() : JSON.convertValue(m, MAP);
            JsonNode notes = n.get("notes");
            LlamaConfig cfg = LlamaConfig.fromJson(where + " (config)", req(n, "config", bad).toString());
            return new Version(n.get("schema").intValue(), text(n, "id", bad), text(n, "model", bad), integer(n, "version", bad),
                    parents, new Version.Operation(text(op, "kind", bad), params), Instant.parse(text(n, "created", bad)),
                    text(n, "created_by", bad), cfg, files, tensors, metrics,
                    notes == null || notes.isNull() ? null : notes.asText());
        } catch (DateTimeParseException | IllegalArgumentException e) {
            throw new StoreException(bad + e.getMessage() + ".");
        }
    }

    private static JsonNode req(JsonNode n, String field, String bad) {
        JsonNode v = n.get(field);
        if (v == null || v.isNull()) throw new StoreException(bad + "it lacks '" + field + "'.");
        return v;
    }

    private static String text(JsonNode n, String field, String bad) {
        JsonNode v = req(n, field, bad);
        if (!v.isTextual()) throw new StoreException(bad + "'" + field + "' is not a string.");
        return v.textValue();
    }

    private static int integer(JsonNode n, String field, String bad) {
        JsonNode v = req(n, field, bad);
        if (!v.canConvertToInt() || !v.isIntegralNumber()) throw new StoreException(bad + "'" + field + "' is not an integer.");
        return v.intValue();
    }

    private static long lng(JsonNode n, String field, String bad) {
        JsonNode v = req(n, field, bad);
        if (!v.isIntegralNumber()) throw new StoreException(bad + "'" + field + "' is not an integer.");
        return v.longValue();
    }
}
