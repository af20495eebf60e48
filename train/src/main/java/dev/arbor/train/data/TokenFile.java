package dev.arbor.train.data;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.arbor.format.ArborException;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The on-disk layout of an Arbor token file ({@code *.tokens}), one self-contained file:
 *
 * <pre>
 * offset 0   8 bytes  magic "ARBORTOK"
 *        8   u32 LE   format version (1)
 *       12   u32 LE   bytes per token: 2 (uint16, vocab ≤ 65536) or 4 (uint32)
 *       16   u64 LE   token count N
 *       24   u64 LE   metadata offset (= 64 + N × bytes per token)
 *       32   u64 LE   metadata length
 *       40   24 zero bytes
 *       64   N tokens, little-endian unsigned
 *       then the metadata: UTF-8 JSON (see {@link Meta})
 * </pre>
 *
 * The metadata sits after the tokens so the file is written in one streaming pass (the count is
 * only known at the end) and the token array starts at an aligned offset for memory mapping.
 */
final class TokenFile {
    static final byte[] MAGIC = "ARBORTOK".getBytes(StandardCharsets.US_ASCII);
    static final int VERSION = 1;
    static final int DATA_OFFSET = 64;
    static final String FORMAT_NAME = "arbor-tokens";
    private static final ObjectMapper JSON = new ObjectMapper();

    private TokenFile() {}

    /** uint16 when every id of the vocabulary fits, else uint32. */
    static int bytesPerToken(int vocabSize) { return vocabSize <= 65536 ? 2 : 4; }

    static String dtype(int bytesPerToken) { return bytesPerToken == 2 ? "uint16" : "uint32"; }

    /** Whether {@code file} starts with the token file magic (so any file name is accepted). */
    static boolean isTokenFile(Path file) {
        if (!Files.isRegularFile(file)) return false;
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            ByteBuffer b = ByteBuffer.allocate(MAGIC.length);
            while (b.hasRemaining() && ch.read(b) >= 0) { /* fill */ }
            return !b.hasRemaining() && Arrays.equals(b.array(), MAGIC);
        } catch (IOException e) {
            return false;
        }
    }

    /** The JSON metadata. {@code bosId} is null when no BOS was added. */
    record Meta(int bytesPerToken, long tokens, int vocabSize, int eosId, Integer bosId, long documents,
                String sourceSha256, String tokenizerSha256, String textField, List<TokenCorpus.Source> sources) {

        byte[] toJson() {
            ObjectNode n = JSON.createObjectNode();
            n.put("format", FORMAT_NAME);
            n.put("version", VERSION);
            n.put("dtype", dtype(bytesPerToken));
            n.put("tokens", tokens);
            n.put("vocab_size", vocabSize);
            n.put("eos_id", eosId);
            if (bosId == null) n.putNull("bos_id"); else n.put("bos_id", bosId);
            n.put("documents", documents);
            n.put("source_sha256", sourceSha256);
            n.put("tokenizer_sha256", tokenizerSha256);
            n.put("text_field", textField);
            ArrayNode files = n.putArray("sources");
            for (TokenCorpus.Source s : sources) {
                ObjectNode f = files.addObject();
                f.put("path", s.path());
                f.put("bytes", s.bytes());
                f.put("documents", s.documents());
            }
            try {
                return JSON.writerWithDefaultPrettyPrinter().writeValueAsBytes(n);
            } catch (IOException e) {
                throw new IllegalStateException(e);
            }
        }

        /** Parses and checks the metadata against the fixed header; every problem names the file. */
        static Meta parse(Path file, byte[] json, int bytesPerToken, long tokens) {
            JsonNode n;
            try {
                n = JSON.readTree(json);
            } catch (IOException e) {
                throw damaged(file, "its metadata is not valid JSON");
            }
            if (n == null || !n.isObject() || !FORMAT_NAME.equals(n.path("format").asText()))
                throw damaged(file, "its metadata is not an arbor-tokens JSON object");
            if (!dtype(bytesPerToken).equals(n.path("dtype").asText()) || n.path("tokens").asLong(-1) != tokens)
                throw damaged(file, "its metadata disagrees with its header about the dtype or token count");
            int vocab = n.path("vocab_size").asInt(-1);
            int eos = n.path("eos_id").asInt(-1);
            if (vocab <= 0 || bytesPerToken == 2 && vocab > 65536)
                throw damaged(file, "its vocab_size " + n.path("vocab_size") + " is missing or does not fit its dtype");
            if (eos < 0 || eos >= vocab)
                throw damaged(file, "its eos_id " + n.path("eos_id") + " is not an id of its vocabulary of " + vocab);
            Integer bos = n.path("bos_id").isInt() ? n.get("bos_id").asInt() : null;
            List<TokenCorpus.Source> sources = new ArrayList<>();
            for (JsonNode s : n.path("sources"))
                sources.add(new TokenCorpus.Source(s.path("path").asText(), s.path("bytes").asLong(), s.path("documents").asLong()));
            return new Meta(bytesPerToken, tokens, vocab, eos, bos, n.path("documents").asLong(0),
                    n.path("source_sha256").asText(""), n.path("tokenizer_sha256").asText(""),
                    n.path("text_field").asText(""), List.copyOf(sources));
        }
    }

    /** The 64-byte fixed header. */
    static ByteBuffer header(int bytesPerToken, long tokens, long metaLength) {
        ByteBuffer b = ByteBuffer.allocate(DATA_OFFSET).order(ByteOrder.LITTLE_ENDIAN);
        b.put(MAGIC).putInt(VERSION).putInt(bytesPerToken).putLong(tokens)
                .putLong(DATA_OFFSET + tokens * bytesPerToken).putLong(metaLength);
        return b.clear();
    }

    static ArborException damaged(Path file, String why) {
        return new ArborException(file + " is not a usable Arbor token file: " + why + ".");
    }
}
