package dev.arbor.versioning;

import java.util.List;

/**
 * What {@code store verify} found. The store is sound when no blob is damaged and there are no
 * problems; temporaries (left by killed writers) and unreferenced blobs are harmless, and gc
 * removes them.
 */
public record VerifyReport(int versions, int tags, int blobs, long blobBytes, List<DamagedBlob> damaged,
                           List<String> problems, int temporaries, int unreferencedBlobs) {

    /** A blob whose bytes do not match its name, or that a version needs and is missing. */
    public record DamagedBlob(String blob, String problem, List<String> usedBy) {}

    public VerifyReport {
        damaged = List.copyOf(damaged);
        problems = List.copyOf(problems);
    }

    public boolean ok() { return damaged.isEmpty() && problems.isEmpty(); }
}
