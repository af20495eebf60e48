package dev.arbor.format;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * One .safetensors file, opened read-only and memory-mapped as a whole (no 2 GiB limit).
 * {@link #tensor} returns zero-copy views; {@link #read} copies a byte range through the
 * channel instead, for streaming work that must not keep the file's pages resident.
 */
public final class SafetensorsFile implements AutoCloseable {
    private final Path path;
    private final FileChannel channel;
    private final Arena arena;
    private final MemorySegment mapped;
    private final SafetensorsHeader header;
    private final long dataStart;
    private final Map<String, TensorInfo> byName = new LinkedHashMap<>();

    private SafetensorsFile(Path path, FileChannel channel, Arena arena, MemorySegment mapped,
                            SafetensorsHeader header, long dataStart) {
        this.path = path;
        this.channel = channel;
        this.arena = arena;
        this.mapped = mapped;
        this.header = header;
        this.dataStart = dataStart;
        for (TensorInfo t : header.tensors()) byName.put(t.name(), t);
    }

    /** Opens and validates a file; maps it only when {@code map} is true. */
    public static SafetensorsFile open(Path path, boolean map) {
        FileChannel ch;
        try {
            ch = FileChannel.open(path, StandardOpenOption.READ);
        } catch (NoSuchFileException e) {
            throw new FormatException(path + " does not exist.");
        } catch (IOException e) {
            throw new FormatException(path + " cannot be opened: " + e.getMessage() + ".");
        }
        Arena arena = null;
        try {
            if (Files.isDirectory(path)) throw new FormatException(path + " is a directory, not a .safetensors file.");
            long size = ch.size();
            if (size < 8) throw new FormatException(path + " is too short to be a safetensors file (" + size + " bytes).");
            ByteBuffer lenBuf = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
            readFully(ch, lenBuf, 0);
            long n = lenBuf.getLong(0);
            if (n < 0 || n > SafetensorsHeader.MAX_HEADER_BYTES) {
                throw new FormatException(path + ": the header length " + Long.toUnsignedString(n)
                        + " is larger than the 100 MiB limit; the file is not safetensors or is damaged.");
            }
            if (8 + n > size) {
                throw new FormatException(path + ": the header length " + n + " runs past the end of the file ("
                        + size + " bytes); the file is truncated or damaged.");
            }
            ByteBuffer hb = ByteBuffer.allocate((int) n);
            readFully(ch, hb, 8);
            SafetensorsHeader header = SafetensorsHeader.parse(path.toString(), hb.array(), size - 8 - n);
            MemorySegment seg = null;
            if (map) {
                arena = Arena.ofShared();
                seg = ch.map(FileChannel.MapMode.READ_ONLY, 0, size, arena);
            }
            return new SafetensorsFile(path, ch, arena, seg, header, 8 + n);
        } catch (IOException e) {
            closeQuietly(ch, arena);
            throw new FormatException(path + " cannot be read: " + e.getMessage() + ".");
        } catch (RuntimeException e) {
            closeQuietly(ch, arena);
            throw e;
        }
    }

    /** Opens, validates and memory-maps a file. */
    public static SafetensorsFile open(Path path) { return open(path, true); }

    private static void closeQuietly(FileChannel ch, Arena arena) {
        try { ch.close(); } catch (IOException ignored) { }
        if (arena != null) arena.close();
    }

    static void readFully(FileChannel ch, ByteBuffer buf, long pos) throws IOException {
        while (buf.hasRemaining()) {
            int r = ch.read(buf, pos);
            if (r < 0) throw new IOException("unexpected end of file");
            pos += r;
        }
    }

    public Path path() { return path; }

    public SafetensorsHeader header() { return header; }

    public List<TensorInfo> tensors() { return header.tensors(); }

    public Map<String, String> metadata() { return header.metadata(); }

    public boolean contains(String name) { return byName.containsKey(name); }

    public TensorInfo info(String name) {
        TensorInfo t = byName.get(name);
        if (t == null) throw new FormatException(path + " has no tensor named '" + name + "'.");
        return t;
    }

    /** A zero-copy view of a tensor (the file must have been opened mapped). */
    public Tensor tensor(String name) {
        TensorInfo t = info(name);
        if (mapped == null) throw new IllegalStateException(path + " was opened without a mapping");
        return new Tensor(t.name(), t.dtype(), t.shape(), mapped.asSlice(dataStart + t.begin(), t.byteSize()));
    }

    /** Copies bytes [offset, offset + dst.remaining()) of a tensor's data into dst. */
    public void read(TensorInfo t, long offset, ByteBuffer dst) {
        if (offset < 0 || offset + dst.remaining() > t.byteSize()) throw new IndexOutOfBoundsException();
        try {
            readFully(channel, dst, dataStart + t.begin() + offset);
        } catch (IOException e) {
            throw new FormatException(path + " cannot be read: " + e.getMessage() + ".");
        }
    }

    /** Absolute offset of the data section in the file. */
    public long dataStart() { return dataStart; }

    @Override public void close() {
        closeQuietly(channel, arena);
    }
}
