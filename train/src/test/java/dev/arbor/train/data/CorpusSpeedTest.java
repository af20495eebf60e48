package dev.arbor.train.data;

import dev.arbor.model.tokenizer.Tokenizer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Measures tokenizing the King James Bible (4 MB) with the Mistral 7B tokenizer. Runs only when
 * the corpus has been made ({@code sh shared/fixtures/corpora/prepare.sh DIR}, then
 * {@code -Darbor.corpora=DIR}); prints the time, asserts nothing about it.
 */
class CorpusSpeedTest {
    @TempDir Path cache;

    @Test void tokenizeKjvWithMistral() throws Exception {
        String corpora = System.getProperty("arbor.corpora");
        assumeTrue(corpora != null && Files.isRegularFile(Path.of(corpora, "kjv.txt")), "set -Darbor.corpora=DIR holding kjv.txt");
        Path kjv = Path.of(corpora, "kjv.txt");
        Path tokDir = Path.of(System.getProperty("arbor.shared", "../shared"), "fixtures", "tokenizers", "mistral7b");
        assumeTrue(Files.isRegularFile(tokDir.resolve("tokenizer.json")), "no mistral7b fixture");
        // Warm up the native library and the JIT on a small input first.
        try (Tokenizer t = Tokenizer.load(tokDir)) {
            t.encode(Files.readString(kjv).substring(0, 100_000), false);
        }
        TokenCorpus.Options o = TokenCorpus.Options.defaults().withCacheDir(cache);
        var os = (com.sun.management.OperatingSystemMXBean) java.lang.management.ManagementFactory.getOperatingSystemMXBean();
        long cpu0 = os.getProcessCpuTime();
        long t0 = System.nanoTime();
        long tokens;
        try (TokenCorpus c = TokenCorpus.prepare(kjv, tokDir, o)) {
            tokens = c.size();
            assertThat(c.reused()).isFalse();
        }
        long t1 = System.nanoTime();
        long cpu1 = os.getProcessCpuTime();
        try (TokenCorpus c = TokenCorpus.prepare(kjv, tokDir, o)) {
            assertThat(c.reused()).isTrue();
        }
        long t2 = System.nanoTime();
        // CPU time too: on a shared machine the wall time says more about the neighbours than about this code.
        System.out.printf("kjv.txt (%d bytes) -> %d tokens with mistral7b on %d threads: %.2f s wall (%.0f k tokens/s), %.2f s CPU; cache hit %.3f s; load average %.1f%n",
                Files.size(kjv), tokens, o.threads(), (t1 - t0) / 1e9, tokens / ((t1 - t0) / 1e6), (cpu1 - cpu0) / 1e9,
                (t2 - t1) / 1e9, os.getSystemLoadAverage());
    }
}
