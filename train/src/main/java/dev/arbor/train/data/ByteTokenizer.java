package dev.arbor.train.data;

import dev.arbor.format.AtomicFiles;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Path;

/**
 * A byte-level tokenizer for small from-scratch models: one token per UTF-8 byte (id = byte
 * value, 0..255) and four special tokens, {@code <s>} 256, {@code </s>} 257, {@code <pad>} 258,
 * {@code <unk>} 259. It is a HuggingFace {@code tokenizer.json} (ByteLevel pre-tokenizer and
 * decoder, a BPE model with no merges, BOS added by the post-processor), so Arbor's
 * {@link dev.arbor.model.tokenizer.Tokenizer}, Python {@code transformers} and llama.cpp's
 * converter all load it, and any UTF-8 text round-trips exactly.
 */
public final class ByteTokenizer {
    public static final int VOCAB_SIZE = 260;
    public static final int BOS_ID = 256;
    public static final int EOS_ID = 257;
    public static final int PAD_ID = 258;
    public static final int UNK_ID = 259;

    static final String TOKENIZER_JSON = "tokenizer.json";
    static final String TOKENIZER_CONFIG_JSON = "tokenizer_config.json";

    private ByteTokenizer() {}

    /**
     * Writes {@code tokenizer.json} and {@code tokenizer_config.json} (bos {@code <s>}, eos
     * {@code </s>}) into {@code dir}, creating it when needed and replacing files of those names.
     * Each file is written atomically.
     */
    public static void writeTo(Path dir) {
        try {
            AtomicFiles.write(dir.resolve(TOKENIZER_JSON), resource(TOKENIZER_JSON));
            AtomicFiles.write(dir.resolve(TOKENIZER_CONFIG_JSON), resource(TOKENIZER_CONFIG_JSON));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The bytes of one of the two shipped files (resources under {@code bytes/}). */
    static byte[] resource(String name) throws IOException {
        try (InputStream in = ByteTokenizer.class.getResourceAsStream("bytes/" + name)) {
            if (in == null) throw new IllegalStateException("resource bytes/" + name + " is missing from the arbor-train jar");
            return in.readAllBytes();
        }
    }
}
