package dev.arbor.model;

import org.junit.jupiter.api.RepeatedTest;
import org.junit.jupiter.api.Test;

import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicIntegerArray;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** The pool runs every chunk once, and a job's warmer runs on a thread out of chunks while another still works. */
class WorkerPoolTest {
    @Test
    void everyChunkRunsExactlyOnce() {
        try (WorkerPool pool = new WorkerPool(2)) {
            AtomicIntegerArray ran = new AtomicIntegerArray(1000);
            for (int round = 0; round < 20; round++) pool.run(1000, (c, t) -> ran.incrementAndGet(c));
            for (int c = 0; c < 1000; c++) assertThat(ran.get(c)).isEqualTo(20);
        }
    }

    /**
     * Chunk 0 does not finish until a warmer piece has run, so the thread that took chunk 1 must warm while chunk 0 is
     * still running; its share ends when the warmer says so (three pieces), and none starts once the job is done.
     */
    @Test
    void theWarmerRunsOnAThreadOutOfChunksWhileAnotherStillWorks() throws Exception {
        try (WorkerPool pool = new WorkerPool(2)) {
            AtomicInteger pieces = new AtomicInteger();
            ConcurrentHashMap<Integer, Integer> piecesByThread = new ConcurrentHashMap<>();
            ConcurrentHashMap<Integer, Integer> chunkThread = new ConcurrentHashMap<>();
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
            pool.run(2, (c, t) -> {
                chunkThread.put(c, t);
                if (c == 0) while (pieces.get() == 0 && System.nanoTime() < deadline) Thread.onSpinWait();
            }, (t, piece) -> {
                if (piece >= 3) return false;
                pieces.incrementAndGet();
                piecesByThread.merge(t, 1, Integer::sum);
                return true;
            });
            assertThat(pieces.get()).as("warmer pieces while chunk 0 waited").isPositive();
            assertThat(chunkThread.get(0)).as("the two chunks ran on different threads").isNotEqualTo(chunkThread.get(1));
            assertThat(piecesByThread).doesNotContainKey(chunkThread.get(0));
            assertThat(piecesByThread.get(chunkThread.get(1))).isBetween(1, 3);

            int after = pieces.get();
            Thread.sleep(20);
            assertThat(pieces.get()).as("no piece runs after the job").isEqualTo(after);
        }
    }

    /** Repeated: the failure must be seen even when it comes just as the last chunk ends. */
    @RepeatedTest(200)
    void aWarmerThatFailsFailsTheJob() {
        try (WorkerPool pool = new WorkerPool(2)) {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
            AtomicInteger warmed = new AtomicInteger();
            assertThatThrownBy(() -> pool.run(2, (c, t) -> {
                if (c == 0) while (warmed.get() == 0 && System.nanoTime() < deadline) Thread.onSpinWait();
            }, (t, piece) -> {
                warmed.incrementAndGet();
                throw new IllegalStateException("warmer broke");
            })).isInstanceOf(IllegalStateException.class).hasMessage("warmer broke");
        }
    }

    @Test
    void aSingleThreadPoolNeverWarms() {
        try (WorkerPool pool = new WorkerPool(1)) {
            AtomicInteger pieces = new AtomicInteger(), chunks = new AtomicInteger();
            pool.run(4, (c, t) -> chunks.incrementAndGet(), (t, piece) -> pieces.incrementAndGet() < 100);
            assertThat(chunks.get()).isEqualTo(4);
            assertThat(pieces.get()).isZero();
        }
    }
}
