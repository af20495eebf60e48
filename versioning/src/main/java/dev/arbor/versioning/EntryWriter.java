package dev.arbor.versioning;

import dev.arbor.format.TensorEntry;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.WritableByteChannel;

/** Streams a {@link TensorEntry}'s bytes (converted and counted by format's sink) into a new blob. */
final class EntryWriter {
    private EntryWriter() {}

    static BlobStore.Written write(BlobStore blobs, TensorEntry e) throws IOException {
        try (BlobStore.Writer w = blobs.create()) {
            e.writeContent(new WritableByteChannel() {
                @Override public int write(ByteBuffer src) throws IOException {
                    int n = src.remaining();
                    w.write(src);
                    return n;
                }
                @Override public boolean isOpen() { return true; }
                @Override public void close() { }
            });
            if (w.bytesWritten() != e.byteSize()) {
                throw new IllegalStateException("tensor " + e.name() + " wrote " + w.bytesWritten() + " of " + e.byteSize() + " bytes");
            }
            return w.commit();
        }
    }
}
