package dev.arbor.versioning;

import dev.arbor.format.AtomicFiles;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Blobs as files {@code blobs/ab/abcdef…} (raw bytes, so a blob maps directly as a tensor).
 * New blobs are written under {@code tmp/} in the same file system and renamed into place once
 * fsynced, so a blob file under its final name is always complete.
 */
final class LocalBlobStore implements BlobStore {
    private final Path blobs;
    private final Path tmp;

    LocalBlobStore(Path root) {
        this.blobs = root.resolve("blobs");
        this.tmp = root.resolve("tmp");
    }

    static boolean isHash(String s) {
        if (s.length() != 64) return false;
        for (int i = 0; i < 64; i++) {
            char c = s.charAt(i);
            if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
        }
        return true;
    }

    @Override public Path localPath(String hash) {
        if (!isHash(hash)) throw new StoreException("'" + hash + "' is not a blob name (64 hex digits).");
        return blobs.resolve(hash.substring(0, 2)).resolve(hash);
    }

    @Override public boolean contains(String hash) { return Files.isRegularFile(localPath(hash)); }

    @Override public long size(String hash) {
        try {
            return Files.size(localPath(hash));
        } catch (IOException e) {
            return -1;
        }
    }

    @Override public Writer create() throws IOException {
        Files.createDirectories(tmp);
        Path file = tmp.resolve("blob-" + ProcessHandle.current().pid() + "-"
                + Long.toHexString(ThreadLocalRandom.current().nextLong()));
        return new LocalWriter(file, FileChannel.open(file, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE));
    }

    @Override public List<String> list() throws IOException {
        List<String> out = new ArrayList<>();
        if (!Files.isDirectory(blobs)) return out;
        try (DirectoryStream<Path> dirs = Files.newDirectoryStream(blobs)) {
            for (Path d : dirs) {
                if (!Files.isDirectory(d)) continue;
                try (DirectoryStream<Path> files = Files.newDirectoryStream(d)) {
                    for (Path f : files) {
                        String n = f.getFileName().toString();
                        if (isHash(n) && n.startsWith(d.getFileName().toString())) out.add(n);
                    }
                }
            }
        }
        out.sort(null);
        return out;
    }

    @Override public boolean delete(String hash) throws IOException {
        return Files.deleteIfExists(localPath(hash));
    }

    @Override public List<Path> temporaries() throws IOException {
        List<Path> out = new ArrayList<>();
        if (!Files.isDirectory(tmp)) return out;
        try (DirectoryStream<Path> s = Files.newDirectoryStream(tmp)) {
            for (Path p : s) out.add(p);
        }
        return out;
    }

    private final class LocalWriter implements Writer {
        private final Path file;
        private final FileChannel ch;
        private final MessageDigest sha = Hashing.sha256();
        private final byte[] chunk = new byte[1 << 16];
        private long written;
        private boolean done;

        LocalWriter(Path file, FileChannel ch) {
            this.file = file;
            this.ch = ch;
        }

        @Override public void write(ByteBuffer src) throws IOException {
            // hash from a heap copy: MessageDigest's fast path takes arrays
            ByteBuffer dup = src.duplicate();
            while (dup.hasRemaining()) {
                int n = Math.min(chunk.length, dup.remaining());
                dup.get(chunk, 0, n);
                sha.update(chunk, 0, n);
            }
            written += src.remaining();
            AtomicFiles.writeFully(ch, src);
        }

        @Override public long bytesWritten() { return written; }

        @Override public Written commit() throws IOException {
            done = true;
            String hash = HexFormat.of().formatHex(sha.digest());
            Path target = localPath(hash);
            if (Files.exists(target)) {   // already stored: this copy need not be durable
                ch.close();
                Files.deleteIfExists(file);
                return new Written(hash, written, false);
            }
            ch.force(true);
            ch.close();
            Path dir = target.getParent();
            if (!Files.isDirectory(dir)) {
                Files.createDirectories(dir);
                AtomicFiles.fsyncDirectory(blobs);
            }
            AtomicFiles.moveAtomically(file, target);
            AtomicFiles.fsyncDirectory(dir);
            return new Written(hash, written, true);
        }

        @Override public void close() throws IOException {
            if (done) return;
            done = true;
            ch.close();
            try {
                Files.deleteIfExists(file);
            } catch (NoSuchFileException ignored) {
                // already gone
            }
        }
    }
}
