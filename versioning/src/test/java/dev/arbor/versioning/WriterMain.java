package dev.arbor.versioning;

import dev.arbor.format.DType;
import dev.arbor.format.TensorEntry;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * A writer process for the crash and multi-process tests:
 * {@code WriterMain STORE CHECKPOINT MODEL COUNT}: COUNT rounds (0 = until killed) of an import,
 * a commit with two new tensors, and tag moves. Prints "ready" once the store is open.
 */
public final class WriterMain {
    public static void main(String[] args) {
        Store store = Store.init(Path.of(args[0]));
        Path ckpt = Path.of(args[1]);
        String model = args[2];
        int count = Integer.parseInt(args[3]);
        SplittableRandom rng = new SplittableRandom();
        // Warm the code paths (class loading dominates a cold JVM) without writing, so the
        // parent's random kill delay lands in real work: blob writes, manifests, tag moves.
        store.list();
        Hashing.hex(new byte[1]);
        try (dev.arbor.format.Checkpoint ck = dev.arbor.format.Checkpoint.open(ckpt, false)) {
            Manifests.bytes(Manifests.body(model, 1, List.of(), new Version.Operation("warm", Map.of()), java.time.Instant.now(),
                    Store.who(), null, ck.requireConfig(), Map.of(), List.of()));
        }
        System.out.println("ready");
        System.out.flush();
        for (int round = 0; count == 0 || round < count; round++) {
            // tag moves first, so that kills early in a writer's life land in them too
            List<Integer> numbers = store.numbers(model);
            if (!numbers.isEmpty()) {
                store.tag(store.resolve(model + "@" + numbers.get(rng.nextInt(numbers.size()))), "prod", "writer tag");
                if (rng.nextInt(3) == 0) {
                    try {
                        store.rollback(model, "prod", "writer rollback");
                    } catch (StoreException nothingEarlier) {
                        // a fresh tag has no earlier target
                    }
                }
            }
            Version v = numbers.isEmpty() || round % 3 == 0
                    ? store.importCheckpoint(ckpt, model, "round " + round, List.of(), "writer import")
                    : store.resolve(model + "@" + numbers.getLast());
            VersionDraft d = new VersionDraft(model).parent(v).config(v.config()).sideFilesOf(v)
                    .operation("edit", Map.of("round", round)).command("writer edit");
            for (Version.StoredTensor t : v.tensors()) {
                if (t.name().endsWith("q_proj.weight")) {   // new bytes: two fresh blobs per round
                    float[] vals = new float[(int) dev.arbor.format.TensorInfo.numel(t.shape())];
                    for (int i = 0; i < vals.length; i++) vals[i] = (float) rng.nextGaussian();
                    d.tensor(TensorEntry.ofFloats(t.name(), DType.F32, t.shape(), vals));
                } else {
                    d.reuse(v, t.name());
                }
            }
            if (rng.nextBoolean()) d.tag("edited");
            store.commit(d);
        }
    }
}
