package dev.arbor.versioning;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.locks.ReentrantLock;

/**
 * The single-writer lock of a store: an OS file lock on {@code STORE/lock} between processes
 * (the kernel drops it when a process dies, so a killed writer never wedges the store), and a
 * JVM-wide lock per store in front of it, because one JVM cannot hold two file locks on one file.
 * Readers never take it.
 */
final class WriterLock {
    private static final ConcurrentHashMap<Path, ReentrantLock> IN_JVM = new ConcurrentHashMap<>();

    @FunctionalInterface
    interface Body<T> {
        T run() throws IOException;
    }

    private WriterLock() {}

    static <T> T with(Path lockFile, Body<T> body) throws IOException {
        ReentrantLock jvm = IN_JVM.computeIfAbsent(lockFile.toAbsolutePath().normalize(), k -> new ReentrantLock());
        if (jvm.isHeldByCurrentThread()) return body.run();   // nested store call: already hold both
        jvm.lock();
        try (FileChannel ch = FileChannel.open(lockFile, StandardOpenOption.CREATE, StandardOpenOption.WRITE);
             FileLock ignored = ch.lock()) {
            return body.run();
        } finally {
            jvm.unlock();
        }
    }

    /** Whether this thread holds the lock of the store (for assertions in package code). */
    static boolean heldByCurrentThread(Path lockFile) {
        ReentrantLock l = IN_JVM.get(lockFile.toAbsolutePath().normalize());
        return l != null && l.isHeldByCurrentThread();
    }
}
