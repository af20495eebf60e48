package dev.arbor.versioning;

import dev.arbor.format.Checkpoint;
import dev.arbor.format.DType;
import dev.arbor.format.Tensor;
import dev.arbor.format.TensorEntry;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class StoreTest {
    @TempDir Path tmp;
    Store store;
    Path ckpt;

    @BeforeEach void setUp() throws IOException {
        store = Store.init(tmp.resolve("store"));
        ckpt = Fixtures.checkpoint(tmp.resolve("ckpt"), 1);
    }

    Version importIt(String note) {
        return store.importCheckpoint(ckpt, "tiny", note, List.of(), "test import");
    }

    /** A new version of v's model: v's tensors, one replaced by fresh values. */
    Version changeOne(Version v, String name, float value) {
        VersionDraft d = new VersionDraft(v.model()).parent(v).config(v.config()).sideFilesOf(v)
                .operation("edit", Map.of("tensor", name));
        for (Version.StoredTensor t : v.tensors()) {
            if (t.name().equals(name)) {
                float[] vals = new float[(int) (t.bytes() / 4)];
                for (int i = 0; i < vals.length; i++) vals[i] = value + i * 1e-3f;
                d.tensor(TensorEntry.ofFloats(name, DType.F32, t.shape(), vals));
            } else {
                d.reuse(v, t.name());
            }
        }
        return store.commit(d);
    }

    @Test void importingTwiceAddsNoBlobBytes() throws IOException {
        Version v1 = importIt(null);
        long blobBytes = Fixtures.bytesUnder(tmp.resolve("store/blobs"));
        long blobFiles = Fixtures.fileCount(tmp.resolve("store/blobs"));
        Version v2 = importIt("again");

        assertThat(v2.number()).isEqualTo(2);
        assertThat(Fixtures.bytesUnder(tmp.resolve("store/blobs"))).isEqualTo(blobBytes);
        assertThat(Fixtures.fileCount(tmp.resolve("store/blobs"))).isEqualTo(blobFiles);
        assertThat(Fixtures.fileCount(tmp.resolve("store/tmp"))).isZero();
        assertThat(v2.tensors()).isEqualTo(v1.tensors());
        assertThat(v2.id()).isNotEqualTo(v1.id());
        Listing.VersionEntry e2 = store.list().models().getFirst().versions().get(1);
        assertThat(e2.addedBytes()).isZero();
        assertThat(e2.bytes()).isPositive();
    }

    @Test void changingOneTensorAddsOneBlob() throws IOException {
        Version v1 = importIt(null);
        long files = Fixtures.fileCount(tmp.resolve("store/blobs"));
        long bytes = Fixtures.bytesUnder(tmp.resolve("store/blobs"));
        Version v2 = changeOne(v1, "model.layers.1.mlp.up_proj.weight", 0.5f);

        long changed = v1.tensor("model.layers.1.mlp.up_proj.weight").bytes();
        assertThat(Fixtures.fileCount(tmp.resolve("store/blobs"))).isEqualTo(files + 1);
        assertThat(Fixtures.bytesUnder(tmp.resolve("store/blobs"))).isEqualTo(bytes + changed);
        assertThat(v2.parents()).containsExactly(v1.asParent());
        assertThat(store.list().models().getFirst().versions().get(1).addedBytes()).isEqualTo(changed);
    }

    @Test void listSizesAreBytesOnDisk() throws IOException {
        Version v1 = importIt(null);
        changeOne(v1, "model.norm.weight", 2f);
        Listing l = store.list();
        assertThat(l.blobBytes()).isEqualTo(Fixtures.bytesUnder(tmp.resolve("store/blobs")));
        assertThat(l.storeBytes()).isEqualTo(Fixtures.bytesUnder(tmp.resolve("store")));
        assertThat(l.models().getFirst().diskBytes()).isEqualTo(l.blobBytes());
        long checkpointBytes = Fixtures.bytesUnder(ckpt);
        // the first version's blobs are the checkpoint's tensors (norms of ones stored once) plus tokenizer
        assertThat(l.models().getFirst().versions().getFirst().addedBytes()).isLessThan(checkpointBytes);
    }

    @Test void versionOpensAsMemoryMappedModelSource() throws IOException {
        Version v = importIt(null);
        try (Checkpoint ck = Checkpoint.open(ckpt); StoredModel m = store.openModel("tiny@1")) {
            assertThat(m.tensorNames()).containsExactlyInAnyOrderElementsOf(ck.tensorNames());
            assertThat(m.requireConfig()).isEqualTo(ck.requireConfig());
            for (String n : ck.tensorNames()) {
                Tensor t = m.tensor(n);
                assertThat(t.data().isMapped()).isTrue();
                assertThat(t.data().toArray(ValueLayout.JAVA_BYTE)).isEqualTo(ck.tensor(n).data().toArray(ValueLayout.JAVA_BYTE));
                assertThat(m.info(n).shape()).isEqualTo(ck.info(n).shape());
            }
            Path tok = m.sideFile("tokenizer.json").orElseThrow();
            assertThat(tok.getFileName().toString()).isEqualTo("tokenizer.json");
            assertThat(Files.readString(tok)).isEqualTo(Files.readString(ckpt.resolve("tokenizer.json")));
            assertThat(m.sidecarDir()).isEqualTo(tok.getParent());
            assertThat(m.sideFile("tokenizer_config.json")).isEmpty();
            assertThat(m.describe()).isEqualTo(v.label());
        }
    }

    @Test void referencesResolve() {
        Version v1 = importIt(null);
        Version v2 = changeOne(v1, "model.norm.weight", 3f);
        store.tag(v1, "prod", "test");
        assertThat(store.resolve("tiny@1")).isEqualTo(v1);
        assertThat(store.resolve("tiny")).isEqualTo(v2);
        assertThat(store.resolve("tiny:latest")).isEqualTo(v2);
        assertThat(store.resolve("tiny:prod")).isEqualTo(v1);
        assertThat(store.resolve("tiny@sha256:" + v2.idHex().substring(0, 10))).isEqualTo(v2);
        assertThat(store.resolve("tiny@sha256:" + v1.idHex())).isEqualTo(v1);
    }

    @Test void badReferencesFailWithOneSentence() throws IOException {
        Version v1 = importIt(null);
        assertThatThrownBy(() -> store.resolve("nope")).isInstanceOf(StoreException.class)
                .hasMessage("There is no model named 'nope' in the store at " + store.root() + ".");
        assertThatThrownBy(() -> store.resolve("tiny@7")).hasMessage("tiny@7 does not exist: tiny has versions 1.");
        assertThatThrownBy(() -> store.resolve("tiny:prod")).hasMessage("tiny has no tag 'prod' (its tags: latest).");
        assertThatThrownBy(() -> store.resolve("tiny@sha256:zz")).hasMessageContaining("is not a reference");
        assertThatThrownBy(() -> store.resolve("tiny@0")).hasMessageContaining("is not a reference");
        assertThatThrownBy(() -> store.resolve("ti/ny")).hasMessageContaining("is not a valid model name");
        String other = v1.idHex().charAt(0) == '0' ? "1" : "0";
        assertThatThrownBy(() -> store.resolve("tiny@sha256:" + other + v1.idHex().substring(1, 8)))
                .hasMessageStartingWith("No version of tiny has an id starting with sha256:");

        // ambiguity: versions until two share their first hex digit (at most 17 by pigeonhole)
        Set<Character> firsts = new HashSet<>(Set.of(v1.idHex().charAt(0)));
        Version v = v1;
        char shared;
        while (true) {
            v = changeOne(v, "model.norm.weight", v.number());
            if (!firsts.add(v.idHex().charAt(0))) { shared = v.idHex().charAt(0); break; }
        }
        char c = shared;
        assertThatThrownBy(() -> store.resolve("tiny@sha256:" + c))
                .hasMessageMatching("sha256:" + c + " is ambiguous: it matches tiny@\\d+ and tiny@\\d+; give more digits\\.");
    }

    @Test void newerSchemaIsRefusedByName() throws IOException {
        importIt(null);
        Path marker = store.root().resolve(Store.STORE_FILE);
        String before = Files.readString(marker);
        Files.writeString(marker, before.replace("\"schema\" : 1", "\"schema\" : 9"));
        assertThatThrownBy(() -> Store.open(store.root())).isInstanceOf(StoreException.class)
                .hasMessage("The store at " + store.root() + " was written by a newer Arbor (schema 9); this Arbor reads schema 1 and older.");
        Files.writeString(marker, before);

        Path manifest = store.versionFile("tiny", 1);
        Files.writeString(manifest, Files.readString(manifest).replaceFirst("\"schema\" : 1", "\"schema\" : 2"));
        assertThatThrownBy(() -> store.resolve("tiny@1")).hasMessageContaining("was written by a newer Arbor (schema 2)");
        assertThatThrownBy(() -> Store.open(tmp.resolve("missing"))).hasMessage("There is no store at " + tmp.resolve("missing") + "; create one with 'arbor store init'.");
    }

    @Test void corruptedBlobIsFoundByVerifyAndByExport() throws IOException {
        Version v1 = importIt(null);
        assertThat(store.verify().ok()).isTrue();
        Version.StoredTensor t = v1.tensor("model.layers.0.self_attn.q_proj.weight");
        try (RandomAccessFile f = new RandomAccessFile(store.blobs().localPath(t.blob()).toFile(), "rw")) {
            f.seek(100);
            int b = f.read();
            f.seek(100);
            f.write(b ^ 0x01);
        }
        VerifyReport r = store.verify();
        assertThat(r.ok()).isFalse();
        assertThat(r.damaged()).singleElement().satisfies(d -> {
            assertThat(d.blob()).isEqualTo(t.blob());
            assertThat(d.usedBy()).containsExactly("tiny@1");
        });
        Path out = tmp.resolve("export");
        assertThatThrownBy(() -> store.export(v1, out, null, Long.MAX_VALUE, (a, b) -> { }))
                .isInstanceOf(StoreException.class)
                .hasMessageContaining("tensor 'model.layers.0.self_attn.q_proj.weight' of tiny@1 is damaged");
        assertThat(out).doesNotExist();
        try (var s = Files.list(tmp)) {
            assertThat(s.map(p -> p.getFileName().toString())).noneMatch(n -> n.startsWith(".export"));
        }

        Files.delete(store.blobs().localPath(t.blob()));
        assertThat(store.verify().damaged()).singleElement().satisfies(d -> assertThat(d.problem()).isEqualTo("it is missing"));
    }

    @Test void exportRoundTripsAndConverts() throws IOException {
        Version v = importIt(null);
        Path out = tmp.resolve("out");
        store.export(v, out, null, Long.MAX_VALUE, (a, b) -> { });
        try (Checkpoint a = Checkpoint.open(ckpt); Checkpoint b = Checkpoint.open(out)) {
            assertThat(b.requireConfig()).isEqualTo(a.requireConfig());
            for (String n : a.tensorNames()) {
                assertThat(b.tensor(n).data().toArray(ValueLayout.JAVA_BYTE)).isEqualTo(a.tensor(n).data().toArray(ValueLayout.JAVA_BYTE));
            }
        }
        assertThat(Files.readString(out.resolve("tokenizer.json"))).isEqualTo(Files.readString(ckpt.resolve("tokenizer.json")));

        Path bf = tmp.resolve("bf16");
        store.export(v, bf, DType.BF16, 20_000, (a, b) -> { });
        try (Checkpoint a = Checkpoint.open(ckpt); Checkpoint b = Checkpoint.open(bf)) {
            assertThat(b.shards()).hasSizeGreaterThan(1);
            assertThat(b.requireConfig().torchDtype()).isEqualTo("bfloat16");
            Tensor x = a.tensor("lm_head.weight"), y = b.tensor("lm_head.weight");
            assertThat(y.dtype()).isEqualTo(DType.BF16);
            for (int i = 0; i < 50; i++) {
                assertThat(y.getFloat(i)).isEqualTo(dev.arbor.format.HalfFloats.bf16ToFloat(dev.arbor.format.HalfFloats.floatToBf16(x.getFloat(i))));
            }
        }
        assertThatThrownBy(() -> store.export(v, out, null, Long.MAX_VALUE, (a, b) -> { })).hasMessageContaining("already exists");
    }

    @Test void tagsKeepHistoryAndRollBackStepByStep() {
        Version v1 = importIt(null);
        Version v2 = changeOne(v1, "model.norm.weight", 5f);
        Version v3 = changeOne(v2, "model.norm.weight", 6f);
        store.tag(v1, "prod", "cmd 1");
        store.tag(v2, "prod", "cmd 2");
        Tag t = store.tag(v3, "prod", "cmd 3");
        assertThat(store.tag(v3, "prod", "again")).isEqualTo(t);   // no-op, no history entry
        assertThat(t.history()).extracting(Tag.Move::version).containsExactly(1, 2, 3);
        assertThat(t.history()).extracting(Tag.Move::previous).containsExactly(null, 1, 2);
        assertThat(t.history().getLast().command()).isEqualTo("cmd 3");
        assertThat(t.history().getLast().by()).contains("@");

        assertThat(store.rollback("tiny", "prod", "rb").version()).isEqualTo(2);
        assertThat(store.resolve("tiny:prod")).isEqualTo(v2);
        assertThat(store.rollback("tiny", "prod", "rb").version()).isEqualTo(1);
        assertThatThrownBy(() -> store.rollback("tiny", "prod", "rb")).hasMessage("Tag tiny:prod has no earlier target to roll back to.");
        Tag after = store.readTag("tiny", "prod");
        assertThat(after.history()).extracting(Tag.Move::action).containsExactly("set", "set", "set", "rollback", "rollback");
        assertThatThrownBy(() -> store.rollback("tiny", "staging", "rb")).hasMessage("tiny has no tag 'staging' to roll back.");

        // latest moved with every commit; rolling it back is possible too
        assertThat(store.rollback("tiny", "latest", "rb").version()).isEqualTo(2);
        assertThat(store.resolve("tiny")).isEqualTo(v2);
    }

    @Test void gcRemovesOnlyUnreferencedBlobs() throws IOException {
        Version v1 = importIt(null);
        Version v2 = changeOne(v1, "model.norm.weight", 7f);
        long before = Fixtures.fileCount(tmp.resolve("store/blobs"));
        // an orphan blob and a temporary, as a killed writer leaves them
        String orphan;
        try (BlobStore.Writer w = store.blobs().create()) {
            w.write(java.nio.ByteBuffer.wrap("orphan".getBytes()));
            orphan = w.commit().hash();
        }
        Files.writeString(tmp.resolve("store/tmp/blob-1-dead"), "partial");

        GcReport dry = store.gc(true);
        assertThat(dry).isEqualTo(new GcReport(true, 1, 6, 1, (int) before));
        assertThat(store.blobs().contains(orphan)).isTrue();

        GcReport real = store.gc(false);
        assertThat(real.blobsRemoved()).isEqualTo(1);
        assertThat(store.blobs().contains(orphan)).isFalse();
        assertThat(Fixtures.fileCount(tmp.resolve("store/blobs"))).isEqualTo(before);
        assertThat(Fixtures.fileCount(tmp.resolve("store/tmp"))).isZero();
        VerifyReport r = store.verify();
        assertThat(r.ok()).isTrue();
        assertThat(r.unreferencedBlobs()).isZero();
        store.export(v2, tmp.resolve("x2"), null, Long.MAX_VALUE, (a, b) -> { });
        assertThat(store.gc(false).blobsRemoved()).isZero();
    }

    @Test void diffReportsConfigTensorsAndSharedBytes() {
        Version v1 = importIt(null);
        String name = "model.layers.0.mlp.down_proj.weight";
        VersionDraft d = new VersionDraft("tiny").parent(v1).config(v1.config().with("rope_theta", 500000.0))
                .operation("edit", Map.of());
        for (Version.StoredTensor t : v1.tensors()) {
            if (t.name().equals(name)) {
                float[] vals = new float[(int) (t.bytes() / 4)];
                try (StoredModel m = store.openModel(v1)) {
                    m.tensor(name).readFloats(0, vals, 0, vals.length);
                }
                vals[3] += 0.25f;
                d.tensor(TensorEntry.ofFloats(name, DType.F32, t.shape(), vals));
            } else if (!t.name().equals("lm_head.weight")) {
                d.reuse(v1, t.name());
            }
        }
        Version v2 = store.commit(d);
        VersionDiff diff = store.diff(v1, v2);
        assertThat(diff.config()).containsExactly(new VersionDiff.ConfigChange("rope_theta", "10000.0", "500000.0"));
        assertThat(diff.removed()).containsExactly("lm_head.weight");
        assertThat(diff.added()).isEmpty();
        assertThat(diff.filesChanged()).containsExactly("tokenizer.json");   // the draft dropped it
        assertThat(diff.changed()).singleElement().satisfies(c -> {
            assertThat(c.name()).isEqualTo(name);
            assertThat(c.what()).isEqualTo("values");
            assertThat(c.maxAbsDelta()).isCloseTo(0.25, org.assertj.core.data.Offset.offset(1e-6));
            assertThat(c.relativeChange()).isPositive().isLessThan(1);
        });
        long changed = v1.tensor(name).bytes(), head = v1.tensor("lm_head.weight").bytes();
        long tok = v1.files().get("tokenizer.json").bytes();
        assertThat(diff.sharedBytes()).isEqualTo(diff.fromBytes() - changed - head - tok);
    }

    @Test void metricsAttachWithoutChangingTheId() {
        Version v1 = importIt(null);
        Version m = store.recordMetrics(v1, Map.of("perplexity", 12.5));
        assertThat(m.id()).isEqualTo(v1.id());
        assertThat(m.metrics()).containsEntry("perplexity", 12.5);
        assertThat(store.verify().ok()).isTrue();
    }

    @Test void twoWriterThreadsAreSerialised() throws Exception {
        Version v1 = importIt(null);
        Store other = Store.open(store.root());   // a second handle, as another component would hold
        List<Thread> threads = new java.util.ArrayList<>();
        List<Throwable> errors = java.util.Collections.synchronizedList(new java.util.ArrayList<>());
        for (Store s : List.of(store, other)) {
            Thread th = new Thread(() -> {
                try {
                    for (int i = 0; i < 6; i++) {
                        VersionDraft d = new VersionDraft("tiny").parent(v1).config(v1.config()).operation("edit", Map.of());
                        for (Version.StoredTensor t : v1.tensors()) d.reuse(v1, t.name());
                        s.commit(d);
                        s.tag(s.resolve("tiny"), "t" + (i % 2), "thread");
                    }
                } catch (Throwable e) {
                    errors.add(e);
                }
            });
            threads.add(th);
            th.start();
        }
        for (Thread th : threads) th.join();
        assertThat(errors).isEmpty();
        assertThat(store.numbers("tiny")).isEqualTo(java.util.stream.IntStream.rangeClosed(1, 13).boxed().toList());
        assertThat(store.verify().ok()).isTrue();
    }

    @Test void readerKeepsWorkingWhileGcRuns() throws Exception {
        Version v1 = importIt(null);
        java.util.concurrent.atomic.AtomicBoolean stop = new java.util.concurrent.atomic.AtomicBoolean();
        List<Throwable> errors = java.util.Collections.synchronizedList(new java.util.ArrayList<>());
        double expected;
        try (StoredModel m = store.openModel(v1)) {
            expected = sum(m);
        }
        int[] reads = new int[1];
        Thread reader = new Thread(() -> {
            try (StoredModel m = store.openModel("tiny@1")) {
                while (!stop.get()) {
                    if (sum(m) != expected) throw new AssertionError("reader saw different bytes");
                    reads[0]++;
                }
            } catch (Throwable e) {
                errors.add(e);
            }
        });
        reader.start();
        for (int i = 0; i < 20; i++) {
            try (BlobStore.Writer w = store.blobs().create()) {   // garbage for gc to remove
                w.write(java.nio.ByteBuffer.wrap(("garbage " + i).getBytes()));
                w.commit();
            }
            assertThat(store.gc(false).blobsRemoved()).isEqualTo(1);
        }
        stop.set(true);
        reader.join();
        assertThat(errors).isEmpty();
        assertThat(reads[0]).isPositive();
    }

    private static double sum(StoredModel m) {
        double s = 0;
        for (String n : m.tensorNames()) {
            Tensor t = m.tensor(n);
            for (long i = 0; i < t.numel(); i += 7) s += t.getDouble(i);
        }
        return s;
    }
}
