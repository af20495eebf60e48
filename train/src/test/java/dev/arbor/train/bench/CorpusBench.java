package dev.arbor.train.bench;

import dev.arbor.format.AtomicFiles;
import dev.arbor.model.tokenizer.Tokenizer;
import dev.arbor.train.data.TokenCorpus;

import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Times preparing a training corpus: tokenizing a text file into the token cache with a tokenizer, then opening it
 * again from the cache. A benchmark, not a test: it prints wall and CPU time and asserts nothing about them. Make the
 * corpus with {@code sh ../shared/fixtures/corpora/prepare.sh DIR}, then run, for the King James Bible (4 MB) with
 * the Mistral 7B tokenizer, after {@code mvn -o install -DskipTests}:
 * <pre>
 *   (cd train &amp;&amp; mvn -q -o dependency:build-classpath -Dmdep.outputFile=/tmp/cp_train.txt)
 *   java -cp train/target/test-classes:train/target/classes:$(cat /tmp/cp_train.txt) \
 *        dev.arbor.train.bench.CorpusBench DIR/kjv.txt ../shared/fixtures/tokenizers/mistral7b
 * </pre>
 */
public final class CorpusBench {
    private CorpusBench() {}

    public static void main(String[] args) throws Exception {
        if (args.length != 2) {
            System.err.println("usage: CorpusBench TEXT_FILE TOKENIZER_DIR");
            System.exit(2);
        }
        Path text = Path.of(args[0]), tokDir = Path.of(args[1]);
        Path cache = Files.createTempDirectory("arbor-corpus-bench");
        // the native library and the JIT warmed on a small input first
        try (Tokenizer t = Tokenizer.load(tokDir)) {
            String s = Files.readString(text);
            t.encode(s.substring(0, Math.min(s.length(), 100_000)), false);
        }
        TokenCorpus.Options o = TokenCorpus.Options.defaults().withCacheDir(cache);
        var os = (com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean();
        long cpu0 = os.getProcessCpuTime(), t0 = System.nanoTime(), tokens;
        try (TokenCorpus c = TokenCorpus.prepare(text, tokDir, o)) {
            tokens = c.size();
        }
        long t1 = System.nanoTime(), cpu1 = os.getProcessCpuTime();
        boolean reused;
        try (TokenCorpus c = TokenCorpus.prepare(text, tokDir, o)) {
            reused = c.reused();
        }
        long t2 = System.nanoTime();
        AtomicFiles.deleteTree(cache);
        // CPU time too: on a shared machine the wall time says more about the neighbours than about this code
        System.out.printf("%s (%d bytes) -> %d tokens with %s on %d threads: %.2f s wall (%.0f k tokens/s), %.2f s CPU; "
                        + "reopened from the cache (%s) in %.3f s; load average %.1f%n",
                text.getFileName(), Files.size(text), tokens, tokDir.getFileName(), o.threads(), (t1 - t0) / 1e9,
                tokens / ((t1 - t0) / 1e6), (cpu1 - cpu0) / 1e9, reused ? "reused" : "NOT reused", (t2 - t1) / 1e9,
                os.getSystemLoadAverage());
    }
}
