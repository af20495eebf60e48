package dev.arbor.train.data;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.arbor.format.ArborException;

import java.io.BufferedReader;
import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.io.Reader;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileVisitOption;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.DigestInputStream;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Locale;
import java.util.function.LongConsumer;
import java.util.stream.Stream;

/**
 * The input side of data preparation: which files make up the input, their combined SHA-256, and
 * reading each file's documents as text pieces.
 *
 * <p>Rules: a {@code .jsonl} file holds one JSON object per line and each object's text field is
 * a document (blank lines are skipped); a {@code .json} file is either a JSON array of such
 * objects or JSON lines; any other file is one plain-text document (UTF-8, a leading BOM
 * dropped). A directory is read recursively in order of relative path, skipping hidden files and
 * directories (names starting with "."). Documents with empty text are skipped.
 */
final class Inputs {
    private static final ObjectMapper JSON = new ObjectMapper();
    // For JSONL lines: "{...} junk" is an error, not a silently accepted object.
    private static final ObjectMapper JSON_LINE = new ObjectMapper().enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS);

    private Inputs() {}

    enum Kind { TEXT, JSONL, JSON }

    /** One input file; {@code name} is its path relative to the input ('/'-separated), or its file name. */
    record InputFile(Path path, String name, long size, Kind kind) {}

    /** Receives a document as one or more consecutive pieces of text. */
    interface PieceSink {
        void piece(String text, boolean documentStart, boolean documentEnd);
    }

    /** The files of {@code input} (a file or a directory), in a fixed order. */
    static List<InputFile> list(Path input) {
        if (!Files.exists(input)) throw new ArborException("The data path " + input + " does not exist.");
        try {
            if (Files.isRegularFile(input)) {
                return List.of(file(input, input.getFileName().toString()));
            }
            if (!Files.isDirectory(input)) throw new ArborException("The data path " + input + " is neither a file nor a directory.");
            List<InputFile> files = new ArrayList<>();
            try (Stream<Path> walk = Files.walk(input, FileVisitOption.FOLLOW_LINKS)) {
                for (Path p : (Iterable<Path>) walk::iterator) {
                    Path rel = input.relativize(p);
                    if (rel.toString().isEmpty() || isHidden(rel) || !Files.isRegularFile(p)) continue;
                    files.add(file(p, slashed(rel)));
                }
            }
            // Sort by the '/'-joined relative name so the order (and hash) is the same on every OS.
            files.sort((a, b) -> a.name().compareTo(b.name()));
            return files;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static InputFile file(Path p, String name) throws IOException {
        String lower = p.getFileName().toString().toLowerCase(Locale.ROOT);
        Kind kind = lower.endsWith(".jsonl") ? Kind.JSONL : lower.endsWith(".json") ? Kind.JSON : Kind.TEXT;
        return new InputFile(p, name, Files.size(p), kind);
    }

    private static boolean isHidden(Path rel) {
        for (Path part : rel) if (part.toString().startsWith(".")) return true;
        return false;
    }

    private static String slashed(Path rel) {
        StringBuilder sb = new StringBuilder();
        for (Path part : rel) {
            if (!sb.isEmpty()) sb.append('/');
            sb.append(part);
        }
        return sb.toString();
    }

    static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Starts a file's contribution to the input hash: its name and size, so renames and moves count. */
    static void hashFileHeader(MessageDigest md, InputFile f) {
        md.update(f.name().getBytes(StandardCharsets.UTF_8));
        md.update((byte) 0);
        md.update(ByteBuffer.allocate(8).putLong(f.size()).array());
    }

    /** SHA-256 over every file's name, size and bytes, in order: the identity of the input. */
    static String hash(List<InputFile> files) {
        MessageDigest md = sha256();
        byte[] buf = new byte[1 << 20];
        try {
            for (InputFile f : files) {
                hashFileHeader(md, f);
                try (InputStream in = Files.newInputStream(f.path())) {
                    for (int n; (n = in.read(buf)) > 0; ) md.update(buf, 0, n);
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return HexFormat.of().formatHex(md.digest());
    }

    static String hashFile(Path file) {
        return hash(List.of(new InputFile(file, "", sizeOf(file), Kind.TEXT)));
    }

    private static long sizeOf(Path file) {
        try {
            return Files.size(file);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * Reads {@code f}'s documents into {@code sink}, feeding every byte read through {@code md}
     * (after {@link #hashFileHeader}), and returns the number of documents. Documents longer than
     * {@code pieceChars} arrive in pieces cut after a line break where there is one.
     */
    static long read(InputFile f, String textField, int pieceChars, MessageDigest md, LongConsumer bytesRead, PieceSink sink) {
        hashFileHeader(md, f);
        try (DigestInputStream in = new DigestInputStream(new Counting(Files.newInputStream(f.path()), bytesRead), md)) {
            long docs;
            try (BufferedReader r = new BufferedReader(strictUtf8(in), 1 << 16)) {
                skipBom(r);
                docs = switch (f.kind()) {
                    case TEXT -> readText(r, pieceChars, sink);
                    case JSONL -> readJsonLines(f, r, textField, pieceChars, sink);
                    case JSON -> startsWith(r, '[') ? readJsonArray(f, r, textField, pieceChars, sink)
                                                     : readJsonLines(f, r, textField, pieceChars, sink);
                };
                // Hash what the parser did not need to read, so the digest always covers the whole file.
                in.transferTo(OutputStream.nullOutputStream());
            }
            return docs;
        } catch (CharacterCodingException e) {
            throw new ArborException(f.path() + " is not valid UTF-8 text.", e);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Reports bytes read to a progress callback, in steps of at least 1 MiB. */
    private static final class Counting extends FilterInputStream {
        private final LongConsumer report;
        private long unreported;

        Counting(InputStream in, LongConsumer report) {
            super(in);
            this.report = report;
        }

        @Override public int read() throws IOException {
            int b = super.read();
            if (b >= 0) count(1);
            return b;
        }

        @Override public int read(byte[] b, int off, int len) throws IOException {
            int n = super.read(b, off, len);
            if (n > 0) count(n);
            return n;
        }

        private void count(long n) {
            unreported += n;
            if (unreported >= (1 << 20)) flushCount();
        }

        private void flushCount() {
            if (unreported > 0) report.accept(unreported);
            unreported = 0;
        }

        @Override public void close() throws IOException {
            flushCount();
            super.close();
        }
    }

    private static Reader strictUtf8(InputStream in) {
        // The default decoder would silently turn bad bytes into U+FFFD; report them instead.
        return new InputStreamReader(in, StandardCharsets.UTF_8.newDecoder()
                .onMalformedInput(CodingErrorAction.REPORT).onUnmappableCharacter(CodingErrorAction.REPORT));
    }

    private static void skipBom(BufferedReader r) throws IOException {
        r.mark(1);
        if (r.read() != '\uFEFF') r.reset();
    }

    /** Whether the first non-whitespace character is {@code c}; the reader is left where it was. */
    private static boolean startsWith(BufferedReader r, char c) throws IOException {
        r.mark(1 << 16);
        try {
            for (int i = 0, ch; i < (1 << 16) && (ch = r.read()) >= 0; i++) {
                if (!Character.isWhitespace(ch)) return ch == c;
            }
            return false;
        } finally {
            r.reset();
        }
    }

    /** A whole file as one document, streamed in pieces of about {@code pieceChars}. */
    private static long readText(Reader r, int pieceChars, PieceSink sink) throws IOException {
        StringBuilder sb = new StringBuilder();
        char[] buf = new char[1 << 16];
        boolean first = true;
        for (int n; (n = r.read(buf)) > 0; ) {
            sb.append(buf, 0, n);
            while (sb.length() >= 2 * pieceChars) {
                int cut = cutPoint(sb, pieceChars);
                sink.piece(sb.substring(0, cut), first, false);
                sb.delete(0, cut);
                first = false;
            }
        }
        if (first && sb.isEmpty()) return 0;        // an empty file is no document
        emitPieces(sb.toString(), pieceChars, first, sink);
        return 1;
    }

    private static long readJsonLines(InputFile f, BufferedReader r, String field, int pieceChars, PieceSink sink) throws IOException {
        long docs = 0;
        long lineNo = 0;
        for (String line; (line = r.readLine()) != null; ) {
            lineNo++;
            if (line.isBlank()) continue;
            JsonNode n;
            try {
                n = JSON_LINE.readTree(line);
            } catch (JsonProcessingException e) {
                throw new ArborException(f.path() + " line " + lineNo + " is not valid JSON (" + firstLine(e.getOriginalMessage()) + ").");
            }
            String text = text(n, field);
            if (text == null) throw new ArborException(describe(n, field, f.path() + " line " + lineNo));
            if (!text.isEmpty()) {
                emitPieces(text, pieceChars, true, sink);
                docs++;
            }
        }
        return docs;
    }

    private static long readJsonArray(InputFile f, BufferedReader r, String field, int pieceChars, PieceSink sink) throws IOException {
        long docs = 0;
        long element = 0;
        try (JsonParser p = JSON.getFactory().createParser(r)) {
            p.disable(JsonParser.Feature.AUTO_CLOSE_SOURCE); // the caller still hashes the rest of the file
            p.nextToken(); // START_ARRAY, checked by startsWith
            for (JsonToken t; (t = p.nextToken()) != JsonToken.END_ARRAY; ) {
                if (t == null) throw new ArborException(f.path() + " ends before its JSON array is closed.");
                element++;
                JsonNode n = JSON.readTree(p);
                String text = text(n, field);
                if (text == null) throw new ArborException(describe(n, field, f.path() + " element " + element));
                if (!text.isEmpty()) {
                    emitPieces(text, pieceChars, true, sink);
                    docs++;
                }
            }
            if (p.nextToken() != null) throw new ArborException(f.path() + " has more content after its JSON array.");
        } catch (JsonProcessingException e) {
            throw new ArborException(f.path() + " is not valid JSON (" + firstLine(e.getOriginalMessage()) + " at line "
                    + e.getLocation().getLineNr() + ").");
        }
        return docs;
    }

    private static String firstLine(String s) {
        return String.valueOf(s).lines().findFirst().orElse("").strip();
    }

    private static String text(JsonNode n, String field) {
        if (n == null || !n.isObject()) return null;
        JsonNode t = n.get(field);
        return t != null && t.isTextual() ? t.asText() : null;
    }

    /** Why a JSON value gave no text: not an object, no such field, or a field that is not a string. */
    private static String describe(JsonNode n, String field, String where) {
        if (n == null || !n.isObject()) return where + " is not a JSON object.";
        if (!n.has(field)) return where + " has no \"" + field + "\" field.";
        return where + " has a \"" + field + "\" field that is not a string.";
    }

    /** Emits {@code text} as one document, in pieces when it is longer than {@code 2 × pieceChars}. */
    private static void emitPieces(String text, int pieceChars, boolean start, PieceSink sink) {
        int from = 0;
        while (text.length() - from >= 2 * pieceChars) {
            int cut = from + cutPoint(text.subSequence(from, text.length()), pieceChars);
            sink.piece(text.substring(from, cut), start, false);
            from = cut;
            start = false;
        }
        sink.piece(text.substring(from), start, true);
    }

    /**
     * Where to cut a long text so the first part has {@code min} to {@code 2·min} characters: just
     * after a line break that is followed by a non-space (regex pre-tokenizers such as Llama 3's
     * and Qwen's split there anyway, so the pieces tokenize as the whole would), else after a
     * space, else anywhere not inside a surrogate pair.
     */
    static int cutPoint(CharSequence s, int min) {
        int limit = Math.min(s.length() - 1, 2 * min);
        for (int i = min; i < limit; i++) if (s.charAt(i - 1) == '\n' && !Character.isWhitespace(s.charAt(i))) return i;
        for (int i = min; i < limit; i++) if (s.charAt(i - 1) == ' ' && s.charAt(i) != ' ') return i;
        int cut = min;
        if (Character.isLowSurrogate(s.charAt(cut))) cut++;
        return cut;
    }
}
