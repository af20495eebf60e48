package dev.arbor.format;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Writes one .safetensors file, tensor by tensor: the header is computed from the entries'
 * dtypes and shapes, then each entry streams its bytes in order. Only one tensor's conversion
 * buffer is in memory at a time. The file is written atomically.
 */
public final class SafetensorsWriter {
    private SafetensorsWriter() {}

    /** The header the entries will get, laid out in the given order. */
    public static SafetensorsHeader headerFor(List<TensorEntry> entries, Map<String, String> metadata) {
        List<TensorInfo> infos = new ArrayList<>();
        long off = 0;
        java.util.Set<String> seen = new java.util.HashSet<>();
        for (TensorEntry e : entries) {
            if (!seen.add(e.name())) throw new IllegalArgumentException("duplicate tensor name " + e.name());
            long n = e.byteSize();
            infos.add(new TensorInfo(e.name(), e.dtype(), e.shape(), off, off + n));
            off += n;
        }
        return new SafetensorsHeader(infos, metadata == null ? Map.of() : new java.util.LinkedHashMap<>(metadata));
    }

    /** Atomically writes a file (temp file, fsync, rename, directory fsync). */
    public static void write(Path file, List<TensorEntry> entries, Map<String, String> metadata) throws IOException {
        AtomicFiles.write(file, ch -> writeTo(ch, entries, metadata));
    }

    /** Writes the whole file content into an open channel (not atomic by itself). */
    public static void writeTo(FileChannel ch, List<TensorEntry> entries, Map<String, String> metadata) throws IOException {
        // Keep metadata order stable: LinkedHashMap when the caller gave one.
        SafetensorsHeader header = headerFor(entries, metadata);
        byte[] hb = header.toBytes();
        ByteBuffer len = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(0, hb.length);
        AtomicFiles.writeFully(ch, len);
        AtomicFiles.writeFully(ch, ByteBuffer.wrap(hb));
        for (TensorEntry e : entries) {
            TensorSink sink = new TensorSink(ch, e.name(), e.dtype(), e.byteSize());
            e.content().writeTo(sink);
            sink.finish();
        }
    }
}
