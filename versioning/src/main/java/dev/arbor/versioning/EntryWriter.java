package dev.arbor.versioning;

import dev.arbor.format.SafetensorsWriter;
import dev.arbor.format.TensorEntry;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.ReadableByteChannel;
import java.nio.channels.WritableByteChannel;
import java.util.List;
import java.util.Map;

/**
 * Streams a {@link TensorEntry} into a blob. format's TensorSink (which converts dtypes and
 * checks byte counts) is only reachable through SafetensorsWriter, which writes a safetensors
 * header first; this channel drops exactly those header bytes and passes the tensor bytes on.
 */
final class EntryWriter {
    private EntryWriter() {}

    static BlobStore.Written write(BlobStore blobs, TensorEntry e) throws IOException {
        long header = 8L + SafetensorsWriter.headerFor(List.of(e), Map.of()).toBytes().length;
        try (BlobStore.Writer w = blobs.create()) {
            SkipChannel ch = new SkipChannel(w, header);
            SafetensorsWriter.writeTo(ch, List.of(e), Map.of());
            if (w.bytesWritten() != e.byteSize()) {
                throw new IllegalStateException("tensor " + e.name() + " wrote " + w.bytesWritten() + " of " + e.byteSize() + " bytes");
            }
            return w.commit();
        }
    }

    /** A write-only FileChannel that discards the first {@code skip} bytes. */
    private static final class SkipChannel extends FileChannel {
        private final BlobStore.Writer out;
        private long skip;
        private long position;

        SkipChannel(BlobStore.Writer out, long skip) {
            this.out = out;
            this.skip = skip;
        }

        @Override public int write(ByteBuffer src) throws IOException {
            int n = src.remaining();
            if (skip > 0) {
                int drop = (int) Math.min(skip, n);
                src.position(src.position() + drop);
                skip -= drop;
            }
            if (src.hasRemaining()) out.write(src);
            position += n;
            return n;
        }

        @Override public long write(ByteBuffer[] srcs, int offset, int length) throws IOException {
            long n = 0;
            for (int i = offset; i < offset + length; i++) n += write(srcs[i]);
            return n;
        }

        @Override public long position() { return position; }
        @Override public long size() { return position; }
        @Override public void force(boolean metaData) { }
        @Override protected void implCloseChannel() { }

        @Override public int read(ByteBuffer dst) { throw new UnsupportedOperationException(); }
        @Override public long read(ByteBuffer[] dsts, int offset, int length) { throw new UnsupportedOperationException(); }
        @Override public FileChannel position(long newPosition) { throw new UnsupportedOperationException(); }
        @Override public FileChannel truncate(long size) { throw new UnsupportedOperationException(); }
        @Override public long transferTo(long position, long count, WritableByteChannel target) { throw new UnsupportedOperationException(); }
        @Override public long transferFrom(ReadableByteChannel src, long position, long count) { throw new UnsupportedOperationException(); }
        @Override public int read(ByteBuffer dst, long position) { throw new UnsupportedOperationException(); }
        @Override public int write(ByteBuffer src, long position) { throw new UnsupportedOperationException(); }
        @Override public MappedByteBuffer map(MapMode mode, long position, long size) { throw new UnsupportedOperationException(); }
        @Override public FileLock lock(long position, long size, boolean shared) { throw new UnsupportedOperationException(); }
        @Override public FileLock tryLock(long position, long size, boolean shared) { throw new UnsupportedOperationException(); }
    }
}
