package dev.arbor.train.data;

import dev.arbor.model.tokenizer.Tokenizer;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Tokenizes a stream of document pieces on a small fixed pool and writes the ids to a channel in
 * the order the pieces arrived, whatever order the workers finish in.
 *
 * <p>Pieces are grouped into chunks of about {@code chunkChars} characters (many small JSONL
 * documents per task, so the per-task overhead stays small); at most two chunks per thread are in
 * flight, so memory stays bounded however large the input is.
 */
final class ParallelTokenizer implements Inputs.PieceSink, AutoCloseable {
    private record Piece(String text, boolean start, boolean end) {}

    private final Tokenizer tokenizer;
    private final Integer bosId;              // prepended to each document when not null
    private final int eosId;                  // appended to each document
    private final int vocabSize;
    private final int chunkChars;
    private final int maxInFlight;
    private final ExecutorService pool;
    private final ArrayDeque<Future<int[]>> inFlight = new ArrayDeque<>();
    private final FileChannel out;
    private final ByteBuffer buf;
    private final int bytesPerToken;

    private List<Piece> chunk = new ArrayList<>();
    private int chunkLength;
    private long tokens;

    ParallelTokenizer(Tokenizer tokenizer, Integer bosId, int eosId, int threads, int chunkChars,
                      FileChannel out, int bytesPerToken) {
        this.tokenizer = tokenizer;
        this.bosId = bosId;
        this.eosId = eosId;
        this.vocabSize = tokenizer.vocabSize();
        this.chunkChars = chunkChars;
        this.maxInFlight = 2 * threads;
        AtomicInteger n = new AtomicInteger();
        this.pool = Executors.newFixedThreadPool(threads, r -> {
            Thread t = new Thread(r, "arbor-tokenize-" + n.incrementAndGet());
            t.setDaemon(true);
            return t;
        });
        this.out = out;
        this.bytesPerToken = bytesPerToken;
        this.buf = ByteBuffer.allocate(1 << 20).order(ByteOrder.LITTLE_ENDIAN);
    }

    @Override public void piece(String text, boolean documentStart, boolean documentEnd) {
        chunk.add(new Piece(text, documentStart, documentEnd));
        chunkLength += text.length();
        if (chunkLength >= chunkChars || chunk.size() >= 8192) submit();
    }

    /** Tokenizes what is buffered, writes everything still in flight, and returns the token count. */
    long finish() {
        submit();
        while (!inFlight.isEmpty()) write(await(inFlight.removeFirst()));
        flush();
        return tokens;
    }

    private void submit() {
        if (chunk.isEmpty()) return;
        List<Piece> pieces = chunk;
        chunk = new ArrayList<>();
        chunkLength = 0;
        inFlight.addLast(pool.submit(() -> encode(pieces)));
        // Keep the order: always wait for the oldest chunk, never just any finished one.
        while (inFlight.size() >= maxInFlight) write(await(inFlight.removeFirst()));
    }

    private int[] encode(List<Piece> pieces) {
        IntBuffer ids = new IntBuffer();
        for (Piece p : pieces) {
            if (p.start() && bosId != null) ids.add(bosId);
            if (!p.text().isEmpty()) ids.addAll(tokenizer.encode(p.text(), false));
            if (p.end()) ids.add(eosId);
        }
        return ids.toArray();
    }

    private static int[] await(Future<int[]> f) {
        try {
            return f.get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while tokenizing", e);
        } catch (ExecutionException e) {
            if (e.getCause() instanceof RuntimeException re) throw re;
            if (e.getCause() instanceof Error err) throw err;
            throw new IllegalStateException(e.getCause());
        }
    }

    private void write(int[] ids) {
        for (int id : ids) {
            if (id < 0 || id >= vocabSize) throw new IllegalStateException("tokenizer produced id " + id + " outside its vocabulary of " + vocabSize);
            if (buf.remaining() < 4) flush();
            if (bytesPerToken == 2) buf.putShort((short) id); else buf.putInt(id);
        }
        tokens += ids.length;
    }

    private void flush() {
        buf.flip();
        try {
            while (buf.hasRemaining()) out.write(buf);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        buf.clear();
    }

    /**
     * Drops chunks not started yet and waits for those being encoded: the caller closes the
     * tokenizer (freeing its native memory) right after, also when reading the input failed.
     */
    @Override public void close() {
        pool.shutdownNow();
        boolean interrupted = false;
        for (;;) {
            try {
                if (pool.awaitTermination(1, TimeUnit.MINUTES)) break;
            } catch (InterruptedException e) {
                interrupted = true;
            }
        }
        if (interrupted) Thread.currentThread().interrupt();
    }

    /** A growable int array (avoids boxing a million Integers per chunk). */
    private static final class IntBuffer {
        private int[] a = new int[1024];
        private int n;

        void add(int v) {
            if (n == a.length) a = java.util.Arrays.copyOf(a, 2 * n);
            a[n++] = v;
        }

        void addAll(int[] v) {
            if (n + v.length > a.length) a = java.util.Arrays.copyOf(a, Math.max(2 * a.length, n + v.length));
            System.arraycopy(v, 0, a, n, v.length);
            n += v.length;
        }

        int[] toArray() { return java.util.Arrays.copyOf(a, n); }
    }
}
