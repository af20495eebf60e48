package dev.arbor.versioning;

import dev.arbor.format.DType;
import dev.arbor.format.LlamaConfig;
import dev.arbor.format.RandomInit;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;

/** Small checkpoints for store tests. */
final class Fixtures {
    private Fixtures() {}

    static final LlamaConfig CONFIG = LlamaConfig.create(32, 2, 4, 2, 64, 96);

    /** A random LLaMA checkpoint (F32, ~60 KB) with a tokenizer.json beside it. */
    static Path checkpoint(Path dir, long seed) throws IOException {
        Path side = Files.createTempDirectory("arbor-side");
        Path tok = side.resolve("tokenizer.json");
        Files.writeString(tok, "{\"version\":\"1.0\",\"model\":{\"type\":\"BPE\",\"seed\":" + seed + "}}\n");
        try {
            RandomInit.write(CONFIG, seed, 0.02, DType.F32, dir, List.of(tok), 0, (d, t) -> { });
        } finally {
            // the checkpoint has its own copy of the tokenizer now
            Files.delete(tok);
            Files.delete(side);
        }
        return dir;
    }

    /** Bytes of every regular file under dir, as the file system reports them. */
    static long bytesUnder(Path dir) throws IOException {
        if (!Files.exists(dir)) return 0;
        try (Stream<Path> s = Files.walk(dir)) {
            long sum = 0;
            for (Path p : s.filter(Files::isRegularFile).toList()) sum += Files.size(p);
            return sum;
        }
    }

    static long fileCount(Path dir) throws IOException {
        if (!Files.exists(dir)) return 0;
        try (Stream<Path> s = Files.walk(dir)) {
            return s.filter(Files::isRegularFile).count();
        }
    }
}
