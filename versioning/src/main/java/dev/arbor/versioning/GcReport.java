package dev.arbor.versioning;

/** What {@code store gc} removed (or, with dry run, would remove). */
public record GcReport(boolean dryRun, int blobsRemoved, long bytesRemoved, int temporariesRemoved, int blobsKept) {}
