package dev.arbor.serve;

import dev.arbor.model.Sequence;

import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Continuous batching on one thread: at every decode step, waiting requests join the running
 * batch (up to maxBatch), cancelled or timed-out ones leave it, and all running sequences of a
 * deployment advance together in one {@code LlamaModel.step} (a new one with its whole prompt,
 * the others with their last token). Sequences of a retired deployment keep running on it, in
 * their own step, until they finish.
 */
final class Scheduler implements AutoCloseable {
    /** Raised to a job's listener when it ran past the request timeout. */
    static final class TimedOut extends RuntimeException {
        TimedOut() { super("The request ran past the server's request timeout.", null, false, false); }
    }

    private final int maxBatch;
    private final int capacity;
    private final LinkedBlockingQueue<Job> waiting = new LinkedBlockingQueue<>();
    private final List<Job> running = new ArrayList<>();
    private final AtomicInteger inSystem = new AtomicInteger();
    private final AtomicInteger runningCount = new AtomicInteger();
    private final AtomicLong kvBytes = new AtomicLong();
    private final AtomicLong steps = new AtomicLong();
    private final Thread thread;
    private volatile boolean stopped;

    Scheduler(int maxBatch, int maxQueue) {
        this.maxBatch = maxBatch;
        this.capacity = maxBatch + maxQueue;
        this.thread = Thread.ofPlatform().name("arbor-scheduler").daemon(true).unstarted(this::loop);
        thread.start();
    }

    /** Queues a job; false when the queue is full (the caller answers 429). */
    boolean submit(Job job) {
        while (true) {
            int n = inSystem.get();
            if (n >= capacity || stopped) return false;
            if (inSystem.compareAndSet(n, n + 1)) break;
        }
        waiting.add(job);
        return true;
    }

    int running() { return runningCount.get(); }

    int waiting() { return Math.max(0, inSystem.get() - runningCount.get()); }

    long kvCacheBytes() { return kvBytes.get(); }

    long steps() { return steps.get(); }

    private void loop() {
        while (!stopped) {
            try {
                if (running.isEmpty()) {
                    Job j = waiting.poll(100, TimeUnit.MILLISECONDS);
                    if (j == null) continue;
                    admit(j);
                }
                while (running.size() < maxBatch) {
                    Job j = waiting.poll();
                    if (j == null) break;
                    admit(j);
                }
                long now = System.nanoTime();
                for (Iterator<Job> it = running.iterator(); it.hasNext(); ) {
                    Job j = it.next();
                    if (j.cancelled) {
                        it.remove();
                        end(j);
                    } else if (now - j.deadlineNanos > 0) {
                        it.remove();
                        end(j);
                        j.listener.onError(new TimedOut());
                    }
                }
                runningCount.set(running.size());
                if (running.isEmpty()) continue;
                step();
            } catch (InterruptedException e) {
                if (stopped) break;
            } catch (Throwable t) {
                // never let the scheduler die: fail what is running and go on
                RuntimeException e = t instanceof RuntimeException r ? r : new RuntimeException(t);
                for (Job j : List.copyOf(running)) {
                    running.remove(j);
                    end(j);
                    j.listener.onError(e);
                }
                runningCount.set(0);
            }
        }
        // stopping: fail whatever is left
        List<Job> left = new ArrayList<>(running);
        running.clear();
        waiting.drainTo(left);
        for (Job j : left) {
            end(j);
            j.listener.onError(new ApiException(503, "server_error", null, "server_shutting_down", "The server is shutting down."));
        }
    }

    private void admit(Job j) {
        if (j.cancelled) {
            end(j);
            return;
        }
        running.add(j);
    }

    private void step() {
        Map<Deployment, List<Job>> groups = new LinkedHashMap<>();
        for (Job j : running) groups.computeIfAbsent(j.deployment, d -> new ArrayList<>()).add(j);
        for (Map.Entry<Deployment, List<Job>> g : groups.entrySet()) {
            List<Job> jobs = g.getValue();
            List<Sequence> seqs = new ArrayList<>(jobs.size());
            List<int[]> tokens = new ArrayList<>(jobs.size());
            for (Job j : jobs) {
                tokens.add(j.nextTokens());
                seqs.add(j.seq);
            }
            float[][] logits;
            try {
                logits = g.getKey().model.step(seqs, tokens);
            } catch (RuntimeException e) {
                for (Job j : jobs) {
                    running.remove(j);
                    end(j);
                    j.listener.onError(e);
                }
                continue;
            }
            steps.incrementAndGet();
            for (int i = 0; i < jobs.size(); i++) {
                Job j = jobs.get(i);
                boolean done;
                try {
                    done = j.accept(logits[i]);
                } catch (RuntimeException e) {
                    running.remove(j);
                    end(j);
                    j.listener.onError(e);
                    continue;
                }
                if (done) {
                    running.remove(j);
                    j.listener.onDone(j);
                    end(j);
                }
            }
        }
        long kv = 0;
        IdentityHashMap<Sequence, Boolean> seen = new IdentityHashMap<>();
        for (Job j : running) if (j.seq != null && seen.put(j.seq, true) == null) kv += j.seq.cacheBytes();
        kvBytes.set(kv);
        runningCount.set(running.size());
    }

    /** A job leaves the system: its slot, its cache and its hold on the deployment go. */
    private void end(Job j) {
        if (j.seq != null) j.seq.release();   // its cache serves a later request
        j.seq = null;
        inSystem.decrementAndGet();
        j.deployment.release();
    }

    @Override public void close() {
        stopped = true;
        thread.interrupt();
        try {
            thread.join(10_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
