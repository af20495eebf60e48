package dev.arbor.serve;

import dev.arbor.format.ArborException;
import dev.arbor.format.ModelSource;
import dev.arbor.model.LlamaModel;
import dev.arbor.model.Sequence;
import dev.arbor.model.tokenizer.StreamDecoder;
import dev.arbor.model.tokenizer.Tokenizer;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * One loaded version: its tensors (memory-mapped), engine and tokenizer. Requests hold a
 * reference while they run; once the deployment is retired (a newer one took over) the last
 * request to finish closes it, which unmaps its memory.
 */
final class Deployment {
    final String label;          // "tiny@3" or a directory name: system_fingerprint and X-Arbor-Version
    final String modelName;      // what the API calls the model
    final String ref;            // what was deployed ("tiny:prod", "tiny@3", a path)
    final ModelSource source;
    final LlamaModel model;
    final Tokenizer tokenizer;
    final List<Integer> eosIds;
    final long loadedAt = System.currentTimeMillis() / 1000;
    final double warmUpSeconds;  // spent warming the JIT up after loading (0: none)
    private int refs;
    private boolean retired;
    private boolean closed;

    private Deployment(String label, String modelName, String ref, ModelSource source, LlamaModel model, Tokenizer tokenizer,
                       double warmUpSeconds) {
        this.label = label;
        this.warmUpSeconds = warmUpSeconds;
        this.modelName = modelName;
        this.ref = ref;
        this.source = source;
        this.model = model;
        this.tokenizer = tokenizer;
        List<Integer> eos = new ArrayList<>(model.eosIds());
        for (int id : tokenizer.eosIds()) if (!eos.contains(id)) eos.add(id);
        this.eosIds = List.copyOf(eos);
    }

    /**
     * Loads a version completely: tensors checked and mapped, tokenizer loaded, one step run (it touches every
     * weight page and allocates the workspace), then up to warmUp of JIT warm-up ({@link LlamaModel#warmUp}).
     */
    static Deployment load(Catalog.Opened o, int threads, Duration warmUp) {
        ModelSource src = o.source();
        LlamaModel m = null;
        Tokenizer tok = null;
        try {
            m = threads > 0 ? LlamaModel.load(src, threads) : LlamaModel.load(src);
            Path tj = src.sideFile("tokenizer.json").orElseThrow(() ->
                    new ArborException(src.describe() + " has no tokenizer.json; the server needs one to read and write text."));
            tok = Tokenizer.load(tj.getParent());
            if (tok.vocabSize() > m.vocabSize()) {
                throw new ArborException(src.describe() + ": its tokenizer has " + tok.vocabSize() + " tokens, more than the model's vocabulary (" + m.vocabSize() + ").");
            }
            Sequence s = m.newSequence();
            Integer bos = tok.bosId();
            m.step(s, bos != null ? bos : 0);
            s.release();
            long t0 = System.nanoTime();
            if (!warmUp.isZero()) {
                m.warmUp(warmUp);
                warmUpTokenizer(tok);
            }
            return new Deployment(o.label(), o.modelName(), o.ref(), src, m, tok, warmUp.isZero() ? 0 : (System.nanoTime() - t0) / 1e9);
        } catch (RuntimeException | Error e) {
            if (tok != null) tok.close();
            if (m != null) m.close();
            src.close();
            throw e;
        }
    }

    /** Encodes and stream-decodes some text, so that a first request does not run the tokenizer's Java side cold. */
    private static void warmUpTokenizer(Tokenizer tok) {
        String text = "The quick brown fox jumps over the lazy dog. 0123456789 ÄÖÜ äöü € 漢字 🙂\n";
        for (int round = 0; round < 20; round++) {
            int[] ids = tok.encode(text.repeat(4), true);
            StreamDecoder d = tok.streamDecoder(true);
            for (int id : ids) d.push(id);
            tok.decode(ids, true);
        }
    }

    /** Takes a reference; false once the deployment is closed. */
    synchronized boolean acquire() {
        if (closed) return false;
        refs++;
        return true;
    }

    synchronized void release() {
        refs--;
        if (retired && refs == 0) close();
    }

    /** No new requests will come; closes now or when the last running one ends. */
    synchronized void retire() {
        retired = true;
        if (refs == 0) close();
    }

    synchronized boolean isClosed() { return closed; }

    synchronized int references() { return refs; }

    private void close() {
        if (closed) return;
        closed = true;
        tokenizer.close();
        model.close();
        source.close();
    }
}
