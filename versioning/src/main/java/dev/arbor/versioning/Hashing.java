package dev.arbor.versioning;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;

/** SHA-256 helpers. */
final class Hashing {
    private Hashing() {}

    static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("the JDK has no SHA-256", e);
        }
    }

    static String hex(byte[] bytes) {
        return HexFormat.of().formatHex(sha256().digest(bytes));
    }

    /** Hashes a whole file through a heap buffer (MessageDigest is fastest on arrays). */
    static String hexOfFile(Path file) throws IOException {
        MessageDigest sha = sha256();
        byte[] arr = new byte[1 << 20];
        ByteBuffer buf = ByteBuffer.wrap(arr);
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            while (true) {
                buf.clear();
                int n = ch.read(buf);
                if (n < 0) break;
                sha.update(arr, 0, n);
            }
        }
        return HexFormat.of().formatHex(sha.digest());
    }
}
