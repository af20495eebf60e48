package dev.arbor.train.report;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.core.json.JsonReadFeature;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import dev.arbor.format.AtomicFiles;
import java.io.ByteArrayOutputStream;
import java.io.Closeable;
import java.io.IOException;
import java.math.BigDecimal;
import java.math.BigInteger;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * An append-only metrics file, one JSON object per line (JSONL):
 *
 * <pre>
 * {"step":12,"tokens":24576,"loss":5.31,"lr":3.0E-4,"grad_norm":1.2,"tokens_per_s":410.5,"elapsed_s":60.1}
 * {"step":100,"val_loss":5.1}
 * </pre>
 *
 * <p>{@code step} (an integer) comes first and is required; other keys are free-form numbers,
 * strings, booleans or null. JSON has no NaN or infinity, so non-finite doubles are written as
 * the <em>strings</em> {@code "NaN"}, {@code "Infinity"} and {@code "-Infinity"} (what Jackson
 * and Python's {@code float()} understand) and read back as doubles; a diverged loss stays
 * visible in the file instead of turning into null. Bare {@code NaN} tokens (Python's
 * {@code json.dumps}) are accepted on reading too.
 *
 * <p>Durability: each line goes to the file in one {@code write} call as soon as it is logged,
 * so a killed process loses at most the line being written; the file is fsynced every
 * {@link #fsyncEvery} (5 s by default) and on {@link #close}, so a machine crash loses at most
 * that much. Readers ignore a torn tail: a last line without its newline, or trailing lines
 * that do not parse (a crash can leave zeros at the end of a file). A line that does not parse
 * but is followed by good lines is corruption, and reading fails with its line number.
 *
 * <p>Resume: {@link #resume(Path, long)} keeps the records with {@code step <= S} and drops the
 * rest (the resumed run rewrites them), by writing the kept lines to a temporary file,
 * fsyncing and renaming it over the log, so a crash during the rewrite leaves the old log.
 *
 * <p>One writer per file; the methods are thread-safe within a process.
 */
public final class MetricsLog implements Closeable {
    private static final JsonFactory FACTORY = new JsonFactory();
    private static final ObjectMapper READER =
            JsonMapper.builder()
                    .enable(JsonReadFeature.ALLOW_NON_NUMERIC_NUMBERS) // Python's json.dumps writes bare NaN
                    .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS) // "{..}{.." is a damaged line
                    .build();

    private final Path file;
    private final FileChannel out;
    private long fsyncEveryNanos = Duration.ofSeconds(5).toNanos();
    private long lastSync = System.nanoTime();
    private boolean unsynced;
    private boolean closed;

    private MetricsLog(Path file, FileChannel out) {
        this.file = file;
        this.out = out;
    }

    /** Starts a new log, replacing any existing file (atomically: the old one stays until the empty one is in place). */
    public static MetricsLog create(Path file) throws IOException {
        AtomicFiles.write(file, new byte[0]);
        return openAppend(file);
    }

    /** Appends to {@code file}, creating it if needed; a torn tail is dropped first. */
    public static MetricsLog open(Path file) throws IOException {
        return resume(file, Long.MAX_VALUE);
    }

    /**
     * Opens {@code file} for a run resumed from a checkpoint at {@code step}: records with a
     * larger step (and any torn tail) are dropped atomically, then new lines are appended.
     * A missing file is created.
     */
    public static MetricsLog resume(Path file, long step) throws IOException {
        if (!Files.exists(file)) return create(file);
        byte[] bytes = Files.readAllBytes(file);
        List<Line> lines = scan(bytes, file);
        ByteArrayOutputStream kept = new ByteArrayOutputStream(bytes.length);
        for (Line l : lines) if (l.record.step() <= step) kept.write(bytes, l.start, l.end - l.start);
        if (kept.size() != bytes.length) AtomicFiles.write(file, kept.toByteArray()); // something to drop
        return openAppend(file);
    }

    private static MetricsLog openAppend(Path file) throws IOException {
        return new MetricsLog(file, FileChannel.open(file, StandardOpenOption.WRITE, StandardOpenOption.APPEND));
    }

    /** How often appended lines are fsynced; {@link Duration#ZERO} fsyncs every line. */
    public synchronized MetricsLog fsyncEvery(Duration interval) {
        if (interval.isNegative()) throw new IllegalArgumentException("negative interval");
        fsyncEveryNanos = interval.toNanos();
        return this;
    }

    public Path file() {
        return file;
    }

    /** Appends {@code {"step":step, ...values}}; values in the map's iteration order. */
    public synchronized void log(long step, Map<String, ?> values) throws IOException {
        if (closed) throw new IllegalStateException("metrics log closed: " + file);
        byte[] line = encode(step, values);
        long before = out.size();
        try {
            AtomicFiles.writeFully(out, ByteBuffer.wrap(line)); // normally one write(2): a kill leaves all or nothing
        } catch (IOException e) {
            // e.g. disk full after part of the line: cut it off, or the next line would glue onto it
            try {
                out.truncate(before);
            } catch (IOException suppressed) {
                e.addSuppressed(suppressed);
            }
            throw e;
        }
        unsynced = true;
        if (System.nanoTime() - lastSync >= fsyncEveryNanos) sync();
    }

    public void log(MetricRecord record) throws IOException {
        log(record.step(), record.values());
    }

    /** Forces logged lines to the disk now. */
    public synchronized void sync() throws IOException {
        if (unsynced && !closed) out.force(false);
        unsynced = false;
        lastSync = System.nanoTime();
    }

    @Override
    public synchronized void close() throws IOException {
        if (closed) return;
        try {
            sync();
        } finally {
            closed = true;
            out.close();
        }
    }

    /** The records of a log, in file order, without a torn tail. */
    public static List<MetricRecord> read(Path file) throws IOException {
        byte[] bytes;
        try {
            bytes = Files.readAllBytes(file);
        } catch (NoSuchFileException e) {
            throw new NoSuchFileException(file.toString(), null, "no metrics log");
        }
        List<MetricRecord> out = new ArrayList<>();
        for (Line l : scan(bytes, file)) out.add(l.record);
        return out;
    }

    // ---- encoding ----

    static byte[] encode(long step, Map<String, ?> values) throws IOException {
        ByteArrayOutputStream buf = new ByteArrayOutputStream(128);
        try (JsonGenerator g = FACTORY.createGenerator(buf)) {
            g.writeStartObject();
            g.writeNumberField("step", step);
            for (var e : values.entrySet()) {
                String k = e.getKey();
                if ("step".equals(k)) throw new IllegalArgumentException("'step' is given as the argument, not a value");
                g.writeFieldName(k);
                switch (e.getValue()) {
                    case null -> g.writeNull();
                    case Long v -> g.writeNumber(v);
                    case Integer v -> g.writeNumber(v);
                    case Short v -> g.writeNumber(v);
                    case Byte v -> g.writeNumber(v);
                    case BigInteger v -> g.writeNumber(v);
                    case Number v -> {
                        double d = v instanceof BigDecimal bd ? bd.doubleValue() : v.doubleValue();
                        if (Double.isFinite(d)) g.writeNumber(d);
                        else g.writeString(Double.isNaN(d) ? "NaN" : d > 0 ? "Infinity" : "-Infinity");
                    }
                    case String v -> g.writeString(v);
                    case Boolean v -> g.writeBoolean(v);
                    default -> throw new IllegalArgumentException(k + ": values are numbers, strings, booleans or null, not "
                            + e.getValue().getClass().getSimpleName());
                }
            }
            g.writeEndObject();
        }
        buf.write('\n');
        return buf.toByteArray();
    }

    // ---- decoding ----

    /** A complete, parsed line: bytes [start, end) including its newline. */
    private record Line(int start, int end, MetricRecord record) {}

    /**
     * Parses every newline-terminated line. Trailing lines that do not parse are a torn tail
     * and left out; a bad line before a good one is an error.
     */
    private static List<Line> scan(byte[] bytes, Path file) throws IOException {
        List<Line> lines = new ArrayList<>();
        int badLine = 0; // 1-based number of the first bad line since the last good one
        String badWhy = null;
        int lineNo = 0;
        for (int start = 0; start < bytes.length; ) {
            int nl = start;
            while (nl < bytes.length && bytes[nl] != '\n') nl++;
            if (nl == bytes.length) break; // no newline: the line being written when the writer died
            lineNo++;
            String text = new String(bytes, start, nl - start, StandardCharsets.UTF_8).strip();
            if (!text.isEmpty()) {
                MetricRecord r = null;
                String why;
                try {
                    r = parse(text);
                    why = null;
                } catch (IllegalArgumentException e) {
                    why = e.getMessage();
                } catch (IOException e) { // Jackson's parse errors
                    why = "not valid JSON";
                }
                if (r == null) {
                    if (badLine == 0) {
                        badLine = lineNo;
                        badWhy = why;
                    }
                } else {
                    if (badLine != 0)
                        throw new IOException(file + " line " + badLine + ": " + badWhy
                                + " (good lines follow, so this is not a torn tail)");
                    lines.add(new Line(start, nl + 1, r));
                }
            }
            start = nl + 1;
        }
        return lines;
    }

    private static MetricRecord parse(String text) throws IOException {
        JsonNode n = READER.readTree(text);
        if (n == null || !n.isObject()) throw new IllegalArgumentException("not a JSON object");
        JsonNode step = n.get("step");
        if (step == null || !step.isIntegralNumber() || !step.canConvertToLong())
            throw new IllegalArgumentException("no integer \"step\"");
        Map<String, Object> values = new LinkedHashMap<>();
        for (var it = n.properties().iterator(); it.hasNext(); ) {
            var e = it.next();
            if (!e.getKey().equals("step")) values.put(e.getKey(), value(e.getValue()));
        }
        return new MetricRecord(step.longValue(), values);
    }

    private static Object value(JsonNode v) {
        if (v.isNull()) return null;
        if (v.isIntegralNumber() && v.canConvertToLong()) return v.longValue();
        if (v.isNumber()) return v.doubleValue();
        if (v.isBoolean()) return v.booleanValue();
        if (v.isTextual()) {
            return switch (v.textValue()) {
                case "NaN" -> Double.NaN;
                case "Infinity" -> Double.POSITIVE_INFINITY;
                case "-Infinity" -> Double.NEGATIVE_INFINITY;
                default -> v.textValue();
            };
        }
        return v.toString(); // nested object or array: kept as its JSON text
    }
}
