package dev.arbor.format;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.StreamReadConstraints;
import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The parsed and validated JSON header of a safetensors file: its tensors (in header order) and
 * its string-to-string metadata. Validation is strict: every way a header can be wrong becomes a
 * {@link FormatException} naming the file and the problem.
 */
public record SafetensorsHeader(List<TensorInfo> tensors, Map<String, String> metadata) {

    /** Largest header accepted, as in the reference implementation. */
    public static final long MAX_HEADER_BYTES = 100L * 1024 * 1024;

    private static final ObjectMapper JSON;
    static {
        JsonFactory f = JsonFactory.builder()
                .enable(com.fasterxml.jackson.core.StreamReadFeature.STRICT_DUPLICATE_DETECTION)
                .streamReadConstraints(StreamReadConstraints.builder().maxNestingDepth(64).maxNumberLength(64).build())
                .build();
        JSON = new ObjectMapper(f);
    }

    public SafetensorsHeader {
        tensors = List.copyOf(tensors);
        metadata = java.util.Collections.unmodifiableMap(new LinkedHashMap<>(metadata));
    }

    /**
     * Parses header bytes. {@code dataBytes} is the size of the data section that follows the
     * header; every tensor must lie inside it and together they must cover it without holes or
     * overlaps.
     */
    public static SafetensorsHeader parse(String where, byte[] headerBytes, long dataBytes) {
        String text;
        try {
            text = StandardCharsets.UTF_8.newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT)
                    .decode(ByteBuffer.wrap(headerBytes)).toString();
        } catch (CharacterCodingException e) {
            throw new FormatException(where + ": the safetensors header is not valid UTF-8.");
        }
        JsonNode root;
        try (JsonParser p = JSON.createParser(text)) {
            root = JSON.readTree(p);
            if (p.nextToken() != null) throw new FormatException(where + ": the safetensors header has text after its JSON object.");
        } catch (JacksonException e) {
            throw new FormatException(where + ": the safetensors header is not valid JSON (" + firstLine(e.getOriginalMessage()) + ").");
        } catch (java.io.IOException e) {
            throw new FormatException(where + ": the safetensors header could not be read (" + e.getMessage() + ").");
        }
        if (root == null || !root.isObject()) {
            throw new FormatException(where + ": the safetensors header is not a JSON object.");
        }
        Map<String, String> metadata = new LinkedHashMap<>();
        List<TensorInfo> infos = new ArrayList<>();
        Iterator<Map.Entry<String, JsonNode>> it = ((ObjectNode) root).fields();
        while (it.hasNext()) {
            Map.Entry<String, JsonNode> e = it.next();
            String name = e.getKey();
            JsonNode v = e.getValue();
            if (name.equals("__metadata__")) {
                if (!v.isObject()) throw new FormatException(where + ": __metadata__ must be an object of strings.");
                Iterator<Map.Entry<String, JsonNode>> m = v.fields();
                while (m.hasNext()) {
                    Map.Entry<String, JsonNode> kv = m.next();
                    if (!kv.getValue().isTextual()) {
                        throw new FormatException(where + ": __metadata__ value of '" + kv.getKey() + "' is not a string.");
                    }
                    metadata.put(kv.getKey(), kv.getValue().textValue());
                }
                continue;
            }
            infos.add(parseEntry(where, name, v, dataBytes));
        }
        checkLayout(where, infos, dataBytes);
        return new SafetensorsHeader(infos, metadata);
    }

    private static TensorInfo parseEntry(String where, String name, JsonNode v, long dataBytes) {
        String t = where + ": tensor '" + name + "'";
        if (!v.isObject()) throw new FormatException(t + " is not described by a JSON object.");
        JsonNode dt = v.get("dtype"), sh = v.get("shape"), off = v.get("data_offsets");
        if (dt == null || sh == null || off == null) {
            throw new FormatException(t + " lacks one of dtype, shape, data_offsets.");
        }
        if (v.size() != 3) throw new FormatException(t + " has fields other than dtype, shape, data_offsets.");
        if (!dt.isTextual()) throw new FormatException(t + " has a dtype that is not a string.");
        DType dtype = DType.ofCode(dt.textValue());
        if (dtype == null) throw new FormatException(t + " has unknown dtype '" + dt.textValue() + "'.");
        if (!sh.isArray()) throw new FormatException(t + " has a shape that is not a list.");
        long[] shape = new long[sh.size()];
        for (int i = 0; i < shape.length; i++) {
            shape[i] = nonNegativeLong(t + " shape", sh.get(i));
        }
        if (!off.isArray() || off.size() != 2) throw new FormatException(t + " data_offsets must be two integers.");
        long begin = nonNegativeLong(t + " data_offsets", off.get(0));
        long end = nonNegativeLong(t + " data_offsets", off.get(1));
        if (end < begin) throw new FormatException(t + " data_offsets end before they begin.");
        long need;
        try {
            need = Math.multiplyExact(TensorInfo.numel(shape), (long) dtype.size());
        } catch (ArithmeticException e) {
            throw new FormatException(t + " has a shape too large to address.");
        }
        if (end - begin != need) {
            throw new FormatException(t + " is " + dtype.code() + java.util.Arrays.toString(shape) + " = " + need
                    + " bytes but data_offsets span " + (end - begin) + " bytes.");
        }
        if (end > dataBytes) {
            throw new FormatException(t + " data_offsets [" + begin + ", " + end + "] run past the end of the file's "
                    + dataBytes + " data bytes.");
        }
        return new TensorInfo(name, dtype, shape, begin, end);
    }

    private static long nonNegativeLong(String what, JsonNode n) {
        if (n == null || !n.isIntegralNumber() || !n.canConvertToLong() || n.longValue() < 0) {
            throw new FormatException(what + " must hold non-negative integers.");
        }
        return n.longValue();
    }

    private static void checkLayout(String where, List<TensorInfo> infos, long dataBytes) {
        List<TensorInfo> sorted = new ArrayList<>(infos);
        sorted.sort(Comparator.comparingLong(TensorInfo::begin).thenComparingLong(TensorInfo::end));
        long pos = 0;
        for (TensorInfo ti : sorted) {
            if (ti.begin() < pos) {
                throw new FormatException(where + ": tensor '" + ti.name() + "' overlaps the tensor before it (starts at "
                        + ti.begin() + ", expected " + pos + ").");
            }
            if (ti.begin() > pos) {
                throw new FormatException(where + ": there is a hole before tensor '" + ti.name() + "' (it starts at "
                        + ti.begin() + ", expected " + pos + ").");
            }
            pos = ti.end();
        }
        if (pos != dataBytes) {
            throw new FormatException(where + ": the data section is " + dataBytes + " bytes but the tensors cover " + pos + ".");
        }
    }

    private static String firstLine(String s) {
        if (s == null) return "malformed";
        int nl = s.indexOf('\n');
        return nl < 0 ? s : s.substring(0, nl);
    }

    public TensorInfo find(String name) {
        for (TensorInfo t : tensors) if (t.name().equals(name)) return t;
        return null;
    }

    /**
     * The header bytes as the reference implementation writes them: compact JSON,
     * {@code __metadata__} first, ASCII-escaped, padded with spaces to a multiple of 8 bytes.
     */
    public byte[] toBytes() {
        StringBuilder sb = new StringBuilder();
        sb.append('{');
        boolean first = true;
        if (!metadata.isEmpty()) {
            sb.append(JsonText.quote("__metadata__")).append(":{");
            boolean f2 = true;
            for (Map.Entry<String, String> e : metadata.entrySet()) {
                if (!f2) sb.append(',');
                f2 = false;
                sb.append(JsonText.quote(e.getKey())).append(':').append(JsonText.quote(e.getValue()));
            }
            sb.append('}');
            first = false;
        }
        for (TensorInfo t : tensors) {
            if (!first) sb.append(',');
            first = false;
            sb.append(JsonText.quote(t.name())).append(":{\"dtype\":").append(JsonText.quote(t.dtype().code()))
                    .append(",\"shape\":[");
            long[] shape = t.shape();
            for (int i = 0; i < shape.length; i++) {
                if (i > 0) sb.append(',');
                sb.append(shape[i]);
            }
            sb.append("],\"data_offsets\":[").append(t.begin()).append(',').append(t.end()).append("]}");
        }
        sb.append('}');
        while (sb.length() % 8 != 0) sb.append(' ');   // ASCII only, so chars = bytes
        return sb.toString().getBytes(StandardCharsets.US_ASCII);
    }
}
