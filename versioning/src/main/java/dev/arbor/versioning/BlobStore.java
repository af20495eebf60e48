package dev.arbor.versioning;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.List;

/**
 * Where blob bytes live. A blob is immutable and named by the SHA-256 (64 lowercase hex digits)
 * of its bytes. Only the local-directory backend exists; the interface is the seam for an
 * S3-compatible backend, which would keep a local cache to serve {@link #localPath}.
 */
public interface BlobStore {

    boolean contains(String hash);

    /** The blob's size in bytes, or -1 when it is absent. */
    long size(String hash);

    /** A local file holding the blob's bytes, for memory-mapping; may not exist. */
    Path localPath(String hash);

    /** Starts writing a new blob; bytes are hashed as they arrive. */
    Writer create() throws IOException;

    /** Every blob's hash. */
    List<String> list() throws IOException;

    /** Removes a blob; true when it existed. Callers hold the store's writer lock. */
    boolean delete(String hash) throws IOException;

    /** Leftovers of writers that were interrupted; callers holding the writer lock may delete them. */
    List<Path> temporaries() throws IOException;

    /** One blob being written. Closing it without {@link #commit} discards it. */
    interface Writer extends AutoCloseable {
        void write(ByteBuffer src) throws IOException;

        long bytesWritten();

        /**
         * Makes the blob durable under its hash (fsync, rename, directory fsync) and returns
         * it; when a blob with that hash exists already the new copy is dropped.
         */
        Written commit() throws IOException;

        @Override void close() throws IOException;
    }

    /** A committed blob; {@code added} is false when it was already stored. */
    record Written(String hash, long bytes, boolean added) {}
}
