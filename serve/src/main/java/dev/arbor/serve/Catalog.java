package dev.arbor.serve;

import dev.arbor.format.ArborException;
import dev.arbor.format.Checkpoint;
import dev.arbor.format.ModelSource;
import dev.arbor.versioning.Ref;
import dev.arbor.versioning.Store;
import dev.arbor.versioning.StoredModel;
import dev.arbor.versioning.Tag;
import dev.arbor.versioning.Version;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/** Where deployable versions come from: the store (refs, tags, rollback) or a checkpoint directory. */
public interface Catalog {
    /** An opened version, not yet loaded. */
    record Opened(ModelSource source, String label, String modelName, String ref) {}

    /** Opens what {@code ref} names now; fails with one sentence. */
    Opened open(String ref);

    /** The model's versions and tags, for /admin/versions and /v1/models (JSON-ready maps). */
    List<Map<String, Object>> versions();

    List<Map<String, Object>> tags();

    /** Moves {@code tag} back to its previous target in the store; returns the ref to deploy. */
    String rollback(String tag);

    /** The catalog for the MODEL argument: an existing path is a checkpoint directory, anything else a store reference. */
    static Catalog forModel(String model, Path storeDir) {
        Path p = Path.of(model);
        if (Files.exists(p)) return new DirectoryCatalog();
        if (!Ref.looksLikeRef(model)) throw new ArborException(model + " is neither a checkpoint directory nor a model reference.");
        return new StoreCatalog(Store.open(storeDir), Ref.parse(model).model());
    }

    /** Checkpoint directories: any path can be deployed; there is no history to roll back. */
    final class DirectoryCatalog implements Catalog {
        @Override public Opened open(String ref) {
            Path p = Path.of(ref).toAbsolutePath().normalize();
            if (!Files.exists(p)) throw new ArborException(ref + " does not exist.");
            Checkpoint ck = Checkpoint.open(p);
            String name = p.getFileName() == null ? p.toString() : p.getFileName().toString();
            return new Opened(ck, name, name, p.toString());
        }

        @Override public List<Map<String, Object>> versions() { return List.of(); }

        @Override public List<Map<String, Object>> tags() { return List.of(); }

        @Override public String rollback(String tag) {
            throw new ArborException("The server runs a checkpoint directory, not a store model; there are no tags to roll back.");
        }
    }

    /** One model of a store. */
    final class StoreCatalog implements Catalog {
        final Store store;
        final String model;

        public StoreCatalog(Store store, String model) {
            this.store = store;
            this.model = model;
        }

        @Override public Opened open(String ref) {
            Ref r = Ref.parse(ref);
            if (!r.model().equals(model)) throw new ArborException("This server serves " + model + "; " + ref + " names another model.");
            Version v = store.resolve(r);
            StoredModel m = store.openModel(v);
            return new Opened(m, v.label(), model, ref);
        }

        @Override public List<Map<String, Object>> versions() {
            List<Map<String, Object>> out = new ArrayList<>();
            for (Version v : store.versions(model)) {
                out.add(Map.of("version", v.label(), "number", v.number(), "id", v.id(),
                        "operation", v.operation().kind()));
            }
            return out;
        }

        @Override public List<Map<String, Object>> tags() {
            List<Map<String, Object>> out = new ArrayList<>();
            for (Tag t : store.tags(model)) out.add(Map.of("tag", t.label(), "version", model + "@" + t.version()));
            return out;
        }

        @Override public String rollback(String tag) {
            String name = tag.contains(":") ? Ref.parseTag(tag).value() : tag;
            if (tag.contains(":") && !Ref.parseTag(tag).model().equals(model)) {
                throw new ArborException("This server serves " + model + "; " + tag + " names another model.");
            }
            Tag t = store.rollback(model, name, "arbor serve: POST /admin/rollback");
            return t.label();
        }
    }
}
