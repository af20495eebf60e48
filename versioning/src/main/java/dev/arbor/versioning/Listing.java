package dev.arbor.versioning;

import java.util.List;

/**
 * Models, versions and tags with sizes measured on disk. A version's {@code addedBytes} is what
 * its blobs cost beyond all versions created before it (0 for a re-import); a model's
 * {@code diskBytes} counts each of its blobs once; {@code storeBytes} is every file in the store.
 */
public record Listing(List<ModelEntry> models, long blobBytes, long storeBytes) {

    public record ModelEntry(String name, List<VersionEntry> versions, List<Tag> tags, long diskBytes) {}

    public record VersionEntry(Version version, long bytes, long addedBytes, List<String> tags) {}
}
