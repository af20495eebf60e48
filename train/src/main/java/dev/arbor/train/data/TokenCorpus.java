package dev.arbor.train.data;

import dev.arbor.format.ArborException;
import dev.arbor.format.AtomicFiles;
import dev.arbor.model.tokenizer.Tokenizer;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A token stream for training: text data tokenized into an Arbor token file (layout in {@code TokenFile}
 * for the layout), memory-mapped, so a corpus larger than memory is paged in as it is read.
 *
 * <pre>{@code
 * try (TokenCorpus corpus = TokenCorpus.prepare(Path.of("data/"), modelDir, TokenCorpus.Options.defaults())) {
 *     corpus.checkVocab(config.vocabSize());
 *     Batcher batcher = new Batcher(corpus, Batcher.Config.of(1024, 8));
 *     ...
 * }
 * }</pre>
 *
 * <p>The input of {@link #prepare} is a text file, a JSONL/JSON file, a directory of such files,
 * or an Arbor token file (used as is). Every document is followed by the EOS id, so documents are
 * packed into one stream. Preparing the same input with the same tokenizer and options again
 * reuses the token file in the cache directory.
 *
 * <p>Reads are thread-safe; {@link #close} unmaps the file.
 */
public final class TokenCorpus implements AutoCloseable {
    /**
     * Documents longer than twice this many characters are tokenized in pieces of 1 to 2 times
     * this size, cut after a line break, in parallel. HF tokenizers slow down on very long
     * inputs (a SentencePiece-style BPE without a pre-tokenizer sees the whole input as one
     * word: 256 KiB pieces were 3× slower per token than 32 KiB ones). The price: a tokenizer
     * that prepends "▁" to its input (Mistral, Llama 2) does so at each piece, about one token
     * in 10,000 differs from tokenizing the whole file in one call.
     */
    static final int PIECE_CHARS = 1 << 15;
    /** Small documents are grouped into tasks of about this many characters. */
    static final int CHUNK_CHARS = 1 << 18;

    private static final ValueLayout.OfShort U16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfInt U32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /** One input file of a prepared corpus: its path relative to the input, its size and number of documents. */
    public record Source(String path, long bytes, long documents) {}

    /** Called as input is read, with the bytes read so far and the input's total size. */
    @FunctionalInterface
    public interface Progress {
        void update(long bytesDone, long bytesTotal);
    }

    /**
     * How text is turned into tokens.
     *
     * @param textField the field of each JSON object that holds a document's text
     * @param addBos    whether each document starts with the tokenizer's BOS id
     * @param eosId     the id appended after each document, or null for the tokenizer's first EOS id
     * @param threads   tokenizer threads
     * @param cacheDir  where prepared token files are kept
     * @param progress  progress callback, or null
     */
    public record Options(String textField, boolean addBos, Integer eosId, int threads, Path cacheDir, Progress progress) {
        public Options {
            if (textField == null || textField.isEmpty()) throw new ArborException("The JSON text field name must not be empty.");
            if (eosId != null && eosId < 0) throw new ArborException("The EOS id must not be negative (got " + eosId + ").");
            if (threads < 1) throw new ArborException("The number of tokenizer threads must be at least 1 (got " + threads + ").");
            Objects.requireNonNull(cacheDir, "cacheDir");
        }

        /** Field "text", no BOS, the tokenizer's EOS, up to 8 threads, {@link #defaultCacheDir()}. */
        public static Options defaults() {
            return new Options("text", false, null, Math.min(8, Runtime.getRuntime().availableProcessors()),
                    defaultCacheDir(), null);
        }

        public Options withTextField(String f) { return new Options(f, addBos, eosId, threads, cacheDir, progress); }
        public Options withAddBos(boolean b) { return new Options(textField, b, eosId, threads, cacheDir, progress); }
        public Options withEosId(Integer id) { return new Options(textField, addBos, id, threads, cacheDir, progress); }
        public Options withThreads(int n) { return new Options(textField, addBos, eosId, n, cacheDir, progress); }
        public Options withCacheDir(Path d) { return new Options(textField, addBos, eosId, threads, d, progress); }
        public Options withProgress(Progress p) { return new Options(textField, addBos, eosId, threads, cacheDir, p); }
    }

    private final Path file;
    private final TokenFile.Meta meta;
    private final Arena arena;
    private final MemorySegment tokens;
    private final int maxId;
    private final boolean reused;

    private TokenCorpus(Path file, TokenFile.Meta meta, Arena arena, MemorySegment tokens, int maxId, boolean reused) {
        this.file = file;
        this.meta = meta;
        this.arena = arena;
        this.tokens = tokens;
        this.maxId = maxId;
        this.reused = reused;
    }

    /** {@code $ARBOR_STORE/cache/tokens}, or {@code ~/.arbor/cache/tokens}: beside the checkpoint store. */
    public static Path defaultCacheDir() {
        String store = System.getenv("ARBOR_STORE");
        Path root = store != null && !store.isBlank() ? Path.of(store) : Path.of(System.getProperty("user.home"), ".arbor");
        return root.resolve("cache").resolve("tokens");
    }

    /**
     * The token stream of {@code data}: an Arbor token file is opened as is (the tokenizer is not
     * needed then and may be null); text data is tokenized with the tokenizer in
     * {@code tokenizerDir}, or taken from the cache when it was prepared before with the same
     * tokenizer files and options.
     */
    public static TokenCorpus prepare(Path data, Path tokenizerDir, Options options) {
        return prepare(data, tokenizerDir, options, PIECE_CHARS, CHUNK_CHARS);
    }

    static TokenCorpus prepare(Path data, Path tokenizerDir, Options options, int pieceChars, int chunkChars) {
        // Recognised by content; a ".tokens" name that is not one gets the token file's error, not a tokenization of bytes.
        if (TokenFile.isTokenFile(data) || isTokensName(data) && Files.isRegularFile(data)) return open(data, true);
        List<Inputs.InputFile> files = Inputs.list(data);
        if (tokenizerDir == null) throw new ArborException("A tokenizer is needed to tokenize " + data + ".");
        if (files.isEmpty()) throw new ArborException(data + " contains no text.");
        String tokenizerSha = tokenizerSha256(tokenizerDir);
        String sourceSha = Inputs.hash(files);

        // The cache key covers everything that decides the output.
        Path configFile = tokenizerDir.resolve("tokenizer_config.json");
        String key = sha256Hex(String.join("\n", "arbor-tokens " + TokenFile.VERSION, "source " + sourceSha,
                "tokenizer " + tokenizerSha,
                "tokenizer_config " + (Files.isRegularFile(configFile) ? Inputs.hashFile(configFile) : "none"),
                "text_field " + options.textField(), "bos " + options.addBos(), "eos " + options.eosId(),
                "pieces " + pieceChars));
        Path cached = options.cacheDir().resolve(key.substring(0, 32) + ".tokens");
        if (Files.isRegularFile(cached)) {
            try {
                TokenCorpus c = open(cached, true);
                if (c.sourceSha256().equals(sourceSha) && c.tokenizerSha256().equals(tokenizerSha)) return c;
                c.close();
            } catch (ArborException e) {
                // A damaged cache entry is rebuilt below, replacing it atomically.
            }
        }
        write(data, files, sourceSha, tokenizerDir, tokenizerSha, options, pieceChars, chunkChars, cached);
        return open(cached, false);
    }

    /**
     * Tokenizes {@code data} (text, not a token file) into the token file {@code out}, without
     * the cache; the result can be given back later as {@code --data out}.
     */
    public static TokenCorpus tokenize(Path data, Path tokenizerDir, Options options, Path out) {
        if (TokenFile.isTokenFile(data)) throw new ArborException(data + " is already an Arbor token file.");
        List<Inputs.InputFile> files = Inputs.list(data);
        if (tokenizerDir == null) throw new ArborException("A tokenizer is needed to tokenize " + data + ".");
        if (files.isEmpty()) throw new ArborException(data + " contains no text.");
        String sourceSha = Inputs.hash(files);
        write(data, files, sourceSha, tokenizerDir, tokenizerSha256(tokenizerDir), options, PIECE_CHARS, CHUNK_CHARS, out);
        return open(out, false);
    }

    private static boolean isTokensName(Path p) {
        return p.getFileName() != null && p.getFileName().toString().endsWith(".tokens");
    }

    /** Opens an Arbor token file, checking its header, metadata and that every id is in its vocabulary. */
    public static TokenCorpus open(Path tokenFile) {
        return open(tokenFile, true);
    }

    private static void write(Path data, List<Inputs.InputFile> files, String sourceSha, Path tokenizerDir, String tokenizerSha,
                              Options o, int pieceChars, int chunkChars, Path out) {
        long totalBytes = files.stream().mapToLong(Inputs.InputFile::size).sum();
        try (Tokenizer tok = Tokenizer.load(tokenizerDir)) {
            int vocab = tok.vocabSize();
            int eos = o.eosId() != null ? o.eosId() : firstEos(tok, tokenizerDir);
            if (eos >= vocab)
                throw new ArborException("The EOS id " + eos + " is outside the tokenizer's vocabulary of " + vocab + " ids.");
            Integer bos = null;
            if (o.addBos()) {
                bos = tok.bosId();
                if (bos == null) throw new ArborException("The tokenizer in " + tokenizerDir + " names no bos_token, so documents cannot start with BOS.");
            }
            int width = TokenFile.bytesPerToken(vocab);
            Integer bosId = bos;
            AtomicLong done = new AtomicLong();
            AtomicFiles.write(out, ch -> {
                ch.position(TokenFile.DATA_OFFSET);
                MessageDigest md = Inputs.sha256();
                List<Source> sources = new ArrayList<>();
                long count;
                long documents = 0;
                try (ParallelTokenizer pt = new ParallelTokenizer(tok, bosId, eos, o.threads(), chunkChars, ch, width)) {
                    for (Inputs.InputFile f : files) {
                        long docs = Inputs.read(f, o.textField(), pieceChars, md, n -> {
                            long d = done.addAndGet(n);
                            if (o.progress() != null) o.progress().update(d, totalBytes);
                        }, pt);
                        sources.add(new Source(f.name(), f.size(), docs));
                        documents += docs;
                    }
                    count = pt.finish();
                }
                if (!HexFormat.of().formatHex(md.digest()).equals(sourceSha))
                    throw new ArborException(data + " changed while it was being tokenized; run again.");
                if (count == 0) throw new ArborException(data + " contains no text.");
                byte[] json = new TokenFile.Meta(width, count, vocab, eos, bosId, documents, sourceSha, tokenizerSha,
                        o.textField(), sources).toJson();
                writeAt(ch, ByteBuffer.wrap(json), TokenFile.DATA_OFFSET + count * width);
                writeAt(ch, TokenFile.header(width, count, json.length), 0);
            });
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static int firstEos(Tokenizer tok, Path tokenizerDir) {
        if (tok.eosIds().isEmpty())
            throw new ArborException("The tokenizer in " + tokenizerDir + " names no eos_token; give the EOS id to put after each document.");
        return tok.eosIds().getFirst();
    }

    private static void writeAt(FileChannel ch, ByteBuffer b, long position) throws IOException {
        while (b.hasRemaining()) position += ch.write(b, position);
    }

    private static TokenCorpus open(Path file, boolean reused) {
        if (!Files.isRegularFile(file)) throw new ArborException("The token file " + file + " does not exist.");
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            long size = ch.size();
            ByteBuffer h = ByteBuffer.allocate(TokenFile.DATA_OFFSET).order(ByteOrder.LITTLE_ENDIAN);
            while (h.hasRemaining() && ch.read(h) >= 0) { /* fill */ }
            h.flip();
            byte[] magic = new byte[TokenFile.MAGIC.length];
            if (h.remaining() >= magic.length) h.get(magic);
            if (!Arrays.equals(magic, TokenFile.MAGIC))
                throw new ArborException(file + " is not an Arbor token file (it does not start with ARBORTOK).");
            if (h.remaining() < TokenFile.DATA_OFFSET - magic.length) throw TokenFile.damaged(file, "it is shorter than its header");
            int version = h.getInt();
            if (version != TokenFile.VERSION)
                throw new ArborException(file + " is an Arbor token file of format version " + version
                        + ", but this Arbor reads version " + TokenFile.VERSION + ".");
            int width = h.getInt();
            long count = h.getLong(), metaOffset = h.getLong(), metaLength = h.getLong();
            if (width != 2 && width != 4) throw TokenFile.damaged(file, "its header gives " + width + " bytes per token");
            if (count < 0 || count > (Long.MAX_VALUE - TokenFile.DATA_OFFSET) / width
                    || metaOffset != TokenFile.DATA_OFFSET + count * width || metaLength < 2 || metaLength > Integer.MAX_VALUE - 8
                    || metaOffset + metaLength != size)
                throw TokenFile.damaged(file, "its size of " + size + " bytes does not match its header (is it truncated?)");
            ByteBuffer json = ByteBuffer.allocate((int) metaLength);
            while (json.hasRemaining() && ch.read(json, metaOffset + json.position()) >= 0) { /* fill */ }
            TokenFile.Meta meta = TokenFile.Meta.parse(file, json.array(), width, count);
            if (count == 0) throw new ArborException(file + " contains no tokens.");

            Arena arena = Arena.ofShared();
            try {
                MemorySegment seg = ch.map(FileChannel.MapMode.READ_ONLY, TokenFile.DATA_OFFSET, count * width, arena);
                int maxId = checkIds(file, seg, width, count, meta.vocabSize());
                return new TokenCorpus(file, meta, arena, seg, maxId, reused);
            } catch (RuntimeException | IOException e) {
                arena.close();
                throw e;
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * One pass over the ids (sequential, so the OS streams it in) checking that each is in the
     * vocabulary; returns the largest id. Done once on open so that a bad file fails at once,
     * not hours into training.
     */
    private static int checkIds(Path file, MemorySegment seg, int width, long count, int vocab) {
        int max = 0;
        for (long i = 0; i < count; i++) {
            long id = width == 2 ? Short.toUnsignedInt(seg.get(U16, 2 * i)) : Integer.toUnsignedLong(seg.get(U32, 4 * i));
            if (id >= vocab)
                throw new ArborException(file + " has token id " + id + " at position " + i + ", outside its vocabulary of " + vocab + " ids.");
            if (id > max) max = (int) id;
        }
        return max;
    }

    /** SHA-256 of {@code dir/tokenizer.json}. */
    private static String tokenizerSha256(Path tokenizerDir) {
        Path json = tokenizerDir.resolve("tokenizer.json");
        if (!Files.isRegularFile(json)) throw new ArborException(tokenizerDir + " has no tokenizer.json.");
        try {
            return HexFormat.of().formatHex(Inputs.sha256().digest(Files.readAllBytes(json)));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static String sha256Hex(String s) {
        return HexFormat.of().formatHex(Inputs.sha256().digest(s.getBytes(StandardCharsets.UTF_8)));
    }

    /** Number of tokens. */
    public long size() { return meta.tokens(); }

    /** The token at {@code index}. */
    public int get(long index) {
        Objects.checkIndex(index, meta.tokens());
        return meta.bytesPerToken() == 2 ? Short.toUnsignedInt(tokens.get(U16, 2 * index)) : tokens.get(U32, 4 * index);
    }

    /** Copies tokens {@code [from, from + length)} into {@code dst[offset ...]}. */
    public void read(long from, int[] dst, int offset, int length) {
        Objects.checkFromIndexSize(from, length, meta.tokens());
        Objects.checkFromIndexSize(offset, length, dst.length);
        if (meta.bytesPerToken() == 2) {
            for (int i = 0; i < length; i++) dst[offset + i] = Short.toUnsignedInt(tokens.get(U16, 2 * (from + i)));
        } else {
            MemorySegment.copy(tokens, U32, 4 * from, dst, offset, length);
        }
    }

    /**
     * Checks that every id of this corpus is an id of a model with {@code modelVocabSize} embedding
     * rows, so that training never indexes outside the embedding.
     */
    public void checkVocab(int modelVocabSize) {
        if (maxId >= modelVocabSize)
            throw new ArborException("The training data (" + file + ") contains token id " + maxId + ", outside the model's vocabulary of "
                    + modelVocabSize + " ids (was it tokenized with another tokenizer?).");
    }

    /** The token file. */
    public Path file() { return file; }
    /** Whether this corpus came from an existing token file (cache hit or given) rather than being tokenized now. */
    public boolean reused() { return reused; }
    /** The tokenizer's vocabulary size recorded when the file was made. */
    public int vocabSize() { return meta.vocabSize(); }
    /** The id that follows every document. */
    public int eosId() { return meta.eosId(); }
    /** The id that starts every document, or null when documents have no BOS. */
    public Integer bosId() { return meta.bosId(); }
    /** "uint16" or "uint32". */
    public String dtype() { return TokenFile.dtype(meta.bytesPerToken()); }
    /** Number of documents. */
    public long documents() { return meta.documents(); }
    /** SHA-256 of the source data (names, sizes and bytes of its files), hex. */
    public String sourceSha256() { return meta.sourceSha256(); }
    /** SHA-256 of the tokenizer.json used, hex. */
    public String tokenizerSha256() { return meta.tokenizerSha256(); }
    /** The source files in stream order. */
    public List<Source> sources() { return meta.sources(); }

    @Override public void close() { arena.close(); }

    @Override public String toString() {
        return "TokenCorpus[" + file + ", " + meta.tokens() + " tokens " + dtype() + ", vocab " + meta.vocabSize() + "]";
    }
}
