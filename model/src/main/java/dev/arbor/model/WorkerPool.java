package dev.arbor.model;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicIntegerArray;
import java.util.concurrent.locks.LockSupport;

/**
 * A fixed set of threads that run one job at a time. A job is a number of chunks; every thread
 * (the caller included) takes chunks from a shared counter until none are left, and the caller
 * returns once every chunk is done. Because nobody owns a fixed share, a thread the OS has
 * descheduled (this machine is shared) delays nothing: the others take its chunks.
 *
 * <p>A decode step runs hundreds of jobs of a few microseconds, so idle workers spin briefly
 * before parking; a park/unpark round trip would cost more than the job. The caller waits for the
 * chunks, never for a worker to turn up: a late worker finds the job's counter exhausted and
 * touches nothing. A call from inside a running job (a pool thread) runs its chunks inline.
 *
 * <p>A job may carry a {@link Warmer}: work a thread does once it has found no chunk left while another thread
 * still runs one (decode: loading the next product's first weights into this core's caches), in small pieces,
 * stopping as soon as the job is done.
 */
final class WorkerPool implements AutoCloseable {
    /**
     * Optional work for a thread that has run out of chunks while the job's last ones still run: piece after piece
     * (each short: the job may end at any time, and the next waits for it), until it returns false.
     */
    @FunctionalInterface
    interface Warmer {
        /** Does piece number `piece` (0, 1, …) of thread `thread`'s share; false when that share is done. */
        boolean warm(int thread, int piece);
    }

    /** The work of one chunk; thread is 0 for the caller and 1..threads-1 for the workers (to pick scratch buffers). */
    @FunctionalInterface
    interface ChunkBody {
        void run(int chunk, int thread);
    }

    private static final long SPIN_NANOS = 100_000;

    private static final class Job {
        final ChunkBody body;
        final int chunks;
        final AtomicInteger next = new AtomicInteger();
        final AtomicInteger done = new AtomicInteger();
        final Warmer warmer;
        /** Threads inside {@link #warmWhileOthersWork}: the job ends when they are out, so no piece outlives it. */
        final AtomicInteger warming = new AtomicInteger();
        volatile Throwable failure;

        Job(ChunkBody body, int chunks, Warmer warmer) {
            this.body = body;
            this.chunks = chunks;
            this.warmer = warmer;
        }

        /**
         * Takes and runs chunks until none are left, then counts them done at once: one contended update a thread
         * and job instead of one a chunk (an empty job of 8 chunks on 2 threads: 2.0 → 1.3 µs, of 16: 3.2 → 1.6).
         */
        void work(int thread) {
            int c, ran = 0;
            while ((c = next.getAndIncrement()) < chunks) {
                try {
                    if (failure == null) body.run(c, thread);
                } catch (Throwable t) {
                    failure = t;
                }
                ran++;
            }
            if (ran > 0) done.addAndGet(ran);
        }

        /**
         * The warmer's pieces for this thread while other threads still run chunks (a failure ends them and fails the
         * job). Counted in before the first check of done, so that the caller, which waits for the count to reach
         * zero after every chunk is done, never returns while a piece is still running, nor before a failure is seen.
         */
        void warmWhileOthersWork(int thread) {
            if (warmer == null) return;
            warming.incrementAndGet();
            try {
                for (int piece = 0; done.get() < chunks && warmer.warm(thread, piece); piece++) { }
            } catch (Throwable t) {
                failure = t;
            } finally {
                warming.decrementAndGet();
            }
        }
    }

    private final int threads;
    private final Thread[] workers;
    private final AtomicIntegerArray parked;
    private volatile Job job;
    /** The thread inside {@link #run}, as thread 0 of the job (null between jobs). */
    private volatile Thread runner;
    private volatile int generation;
    private volatile boolean closed;

    WorkerPool(int threads) {
        if (threads < 1) throw new IllegalArgumentException("threads must be >= 1");
        this.threads = threads;
        this.workers = new Thread[threads - 1];
        this.parked = new AtomicIntegerArray(Math.max(threads - 1, 1));
        for (int i = 0; i < workers.length; i++) {
            int id = i + 1;
            workers[i] = Thread.ofPlatform().daemon().name("arbor-cpu-" + id).unstarted(() -> loop(id));
            workers[i].start();
        }
    }

    int threads() { return threads; }

    /**
     * How many of `left` units of work the next chunk of a job should take so that its threads finish together:
     * 1/(2·threads) of what is left, at least one. Chunks cut this way shrink as the work runs out, so each thread
     * starts on long chunks and the last ones are a unit long (guided self-scheduling); even chunks left one thread
     * idle for up to a chunk at the end of every job.
     */
    static int shrinkingShare(int left, int threads) { return Math.max(1, Math.ceilDiv(left, 2 * threads)); }

    /** This thread's id in a running job: 0 for the caller of {@link #run}, 1.. for workers, −1 for other threads. */
    int selfId() {
        Thread me = Thread.currentThread();
        if (me == runner) return 0;
        for (int i = 0; i < workers.length; i++) if (workers[i] == me) return i + 1;
        return -1;
    }

    /** Runs body(chunk, thread) for chunk = 0..chunks-1 on all threads and waits until all are done. */
    void run(int chunks, ChunkBody body) { run(chunks, body, null); }

    /**
     * {@link #run(int, ChunkBody)}, where a thread that finds no chunk left does warmer's pieces (see {@link Warmer})
     * until every chunk is done. The warmer runs only on a pool of several threads and a job of several chunks.
     */
    void run(int chunks, ChunkBody body, Warmer warmer) {
        if (chunks <= 0) return;
        int self = selfId();
        if (self >= 0) {   // nested: this thread's pool mates are busy with the outer job
            for (int c = 0; c < chunks; c++) body.run(c, self);
            return;
        }
        synchronized (this) {
            runner = Thread.currentThread();
            try {
                runJob(chunks, body, warmer);
            } finally {
                runner = null;
            }
        }
    }

    private void runJob(int chunks, ChunkBody body, Warmer warmer) {
        Job j = new Job(body, chunks, warmer);
        if (threads > 1 && chunks > 1) {
            job = j;
            generation++;
            for (int i = 0; i < workers.length; i++) if (parked.get(i) != 0) LockSupport.unpark(workers[i]);
        }
        j.work(0);
        j.warmWhileOthersWork(0);   // alone (one thread, or one chunk) every chunk is done: no piece runs
        int spins = 0;
        while (j.done.get() < chunks || j.warming.get() > 0) {   // a piece under way is a few hundred ns
            if (++spins < 10_000) Thread.onSpinWait();
            else Thread.yield();
        }
        Throwable t = j.failure;
        if (t instanceof RuntimeException r) throw r;
        if (t instanceof Error e) throw e;
        if (t != null) throw new IllegalStateException(t);
    }

    private void loop(int id) {
        int seen = 0;
        while (true) {
            long spinStart = System.nanoTime();
            int g;
            while ((g = generation) == seen && !closed) {
                if (System.nanoTime() - spinStart < SPIN_NANOS) {
                    Thread.onSpinWait();
                } else {
                    // Publish the flag before re-checking, so a job posted meanwhile is either seen here or unparks us.
                    parked.set(id - 1, 1);
                    if (generation == seen && !closed) LockSupport.park(this);
                    parked.set(id - 1, 0);
                }
            }
            if (closed) return;
            seen = g;
            Job j = job;
            if (j != null) {
                j.work(id);
                j.warmWhileOthersWork(id);
            }
        }
    }

    @Override public void close() {
        // idempotent; afterwards run() still works, on the calling thread alone
        closed = true;
        for (Thread w : workers) LockSupport.unpark(w);
    }
}
