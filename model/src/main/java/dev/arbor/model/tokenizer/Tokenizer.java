package dev.arbor.model.tokenizer;

import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.arbor.format.FormatException;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * A HuggingFace tokenizer loaded from a directory's {@code tokenizer.json} (and optional
 * {@code tokenizer_config.json} for BOS/EOS and the chat template, or {@code chat_template.jinja}).
 *
 * <p>Encoding and decoding run in HF's Rust {@code tokenizers} library (the implementation behind
 * Python {@code transformers}) through DJL's JNI binding, so ids are exactly HF's. Two HF behaviours
 * to know: added tokens written literally in the text (e.g. {@code "<|eot_id|>"}) are matched even
 * with {@code addSpecialTokens=false}, which only switches the post-processor (BOS) off; and
 * {@link #decode} never applies {@code clean_up_tokenization_spaces} (Rust never does; Python
 * {@code transformers} does when the config says so).
 *
 * <p>The native tokenizer is immutable once loaded, so encode/decode may be called from several
 * threads. Close it to free the native memory.
 */
public final class Tokenizer implements AutoCloseable {
    static {
        // DJL otherwise probes the EC2 metadata service and sends telemetry on first use; Arbor
        // works offline and the tokenizer's native library ships inside the jar.
        if (System.getProperty("OPT_OUT_TRACKING") == null) System.setProperty("OPT_OUT_TRACKING", "true");
        if (System.getProperty("ai.djl.offline") == null) System.setProperty("ai.djl.offline", "true");
    }

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Pattern BYTE_TOKEN = Pattern.compile("<0x[0-9A-Fa-f]{2}>");

    private final HuggingFaceTokenizer hf;
    private final String[] idToToken;      // null where an id has no token
    private final boolean[] special;       // added tokens marked "special"
    private final boolean[] byteToken;     // <0xNN> tokens of a byte_fallback model
    private final Integer bosId;
    private final List<Integer> eosIds;
    private final ChatTemplate chatTemplate;

    private Tokenizer(HuggingFaceTokenizer hf, String[] idToToken, boolean[] special, boolean[] byteToken,
                      Integer bosId, List<Integer> eosIds, ChatTemplate chatTemplate) {
        this.hf = hf;
        this.idToToken = idToToken;
        this.special = special;
        this.byteToken = byteToken;
        this.bosId = bosId;
        this.eosIds = eosIds;
        this.chatTemplate = chatTemplate;
    }

    /** Loads {@code dir/tokenizer.json} and, when present, {@code dir/tokenizer_config.json}. */
    public static Tokenizer load(Path dir) {
        Path file = dir.resolve("tokenizer.json");
        if (!Files.isRegularFile(file)) throw new FormatException(dir + " has no tokenizer.json.");
        byte[] json;
        try {
            json = Files.readAllBytes(file);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        Vocab v = readVocab(file, json);
        Map<String, Integer> vocab = v.ids();
        int size = 0;
        for (int id : vocab.values()) size = Math.max(size, id + 1);
        String[] idToToken = new String[size];
        vocab.forEach((t, id) -> idToToken[id] = t);
        boolean[] special = new boolean[size];
        for (String t : v.special()) special[vocab.get(t)] = true;
        boolean[] byteToken = new boolean[size];
        if (v.byteFallback()) {
            for (int id = 0; id < size; id++) byteToken[id] = idToToken[id] != null && BYTE_TOKEN.matcher(idToToken[id]).matches();
        }

        JsonNode config = readConfig(dir.resolve("tokenizer_config.json"));
        if (config == null) config = JSON.createObjectNode();
        Integer bos = tokenId(config, "bos_token", vocab, dir);
        Integer eos = tokenId(config, "eos_token", vocab, dir);
        ChatTemplate template = ChatTemplate.fromConfig(config, dir.resolve("tokenizer_config.json"), readOptional(dir.resolve("chat_template.jinja")));

        HuggingFaceTokenizer hf;
        try {
            // No truncation or padding: DJL's wrapper would otherwise cut inputs at 512 tokens.
            hf = HuggingFaceTokenizer.newInstance(new ByteArrayInputStream(json),
                    Map.of("truncation", "false", "padding", "false", "addSpecialTokens", "false"));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (RuntimeException e) {
            throw new FormatException(file + " is not a tokenizer the HF tokenizers library accepts (" + e.getMessage() + ").", e);
        }
        return new Tokenizer(hf, idToToken, special, byteToken, bos, eos == null ? List.of() : List.of(eos), template);
    }

    /** Token ids of {@code text}; {@code addSpecialTokens} adds what the post-processor adds (e.g. BOS). */
    public int[] encode(String text, boolean addSpecialTokens) {
        return toInts(hf.encode(text, addSpecialTokens, false).getIds());
    }

    /** The text of {@code ids}, as HF's Rust {@code decode} gives it. */
    public String decode(int[] ids, boolean skipSpecialTokens) {
        return hf.decode(toLongs(ids), skipSpecialTokens);
    }

    /** The vocabulary's token strings for {@code ids} (byte-level tokens in GPT-2's alphabet, e.g. {@code Ġ} for space). */
    public String[] tokens(int[] ids) {
        String[] out = new String[ids.length];
        for (int i = 0; i < ids.length; i++) {
            checkId(ids[i]);
            out[i] = idToToken[ids[i]];
        }
        return out;
    }

    /**
     * Number of token ids including added tokens (HF's {@code len(tokenizer)}); a model's
     * {@code vocab_size} may be larger (padded embedding rows).
     */
    public int vocabSize() { return idToToken.length; }

    /** Id of tokenizer_config's {@code bos_token}, or null when it names none. */
    public Integer bosId() { return bosId; }

    /** Id of tokenizer_config's {@code eos_token} (empty when none); generation_config may add more. */
    public List<Integer> eosIds() { return eosIds; }

    /** Whether {@code id} is an added token marked special (what {@code skipSpecialTokens} skips). */
    public boolean isSpecial(int id) { return id >= 0 && id < special.length && special[id]; }

    /** A decoder for streaming generated ids as text; pieces never split a character. */
    public StreamDecoder streamDecoder() { return new StreamDecoder(this, false); }

    /** As {@link #streamDecoder()}, leaving out special tokens when {@code skipSpecialTokens}. */
    public StreamDecoder streamDecoder(boolean skipSpecialTokens) { return new StreamDecoder(this, skipSpecialTokens); }

    /** Generation's detokenizer: a {@link StreamDecoder} per generation, leaving out special tokens when {@code skipSpecialTokens}. */
    public dev.arbor.model.sample.Detokenizer detokenizer(boolean skipSpecialTokens) { return () -> streamDecoder(skipSpecialTokens); }

    /** The chat template from tokenizer_config.json, or null when there is none. */
    public ChatTemplate chatTemplate() { return chatTemplate; }

    @Override public void close() { hf.close(); }

    /**
     * Whether {@code id} is a SentencePiece byte-fallback token ({@code <0xNN>}). HF decodes a run of
     * them together and turns the whole run into U+FFFDs if it is not valid UTF-8, so text ending in
     * such a run may still change.
     */
    boolean isByteToken(int id) { return byteToken[id]; }

    void checkId(int id) {
        if (id < 0 || id >= idToToken.length)
            throw new FormatException("Token id " + id + " is outside this tokenizer's vocabulary of " + idToToken.length + ".");
    }

    private static int[] toInts(long[] ids) {
        int[] out = new int[ids.length];
        for (int i = 0; i < ids.length; i++) out[i] = Math.toIntExact(ids[i]);
        return out;
    }

    private static long[] toLongs(int[] ids) {
        long[] out = new long[ids.length];
        for (int i = 0; i < ids.length; i++) out[i] = ids[i];
        return out;
    }

    /** What Arbor needs from tokenizer.json beside the native tokenizer. */
    private record Vocab(Map<String, Integer> ids, Set<String> special, boolean byteFallback) {}

    /**
     * Token → id for the model vocabulary and the added tokens, the added tokens marked special, and
     * the model's byte_fallback flag; streamed so that the merges (most of the file) are skipped.
     */
    private static Vocab readVocab(Path file, byte[] json) {
        Map<String, Integer> vocab = new HashMap<>();
        Set<String> specialTokens = new HashSet<>();
        boolean byteFallback = false;
        try (JsonParser p = new JsonFactory().createParser(json)) {
            if (p.nextToken() != JsonToken.START_OBJECT) throw new FormatException(file + " is not a JSON object.");
            while (p.nextToken() == JsonToken.FIELD_NAME) {
                String field = p.currentName();
                p.nextToken();
                if (field.equals("model") && p.currentToken() == JsonToken.START_OBJECT) {
                    while (p.nextToken() == JsonToken.FIELD_NAME) {
                        String f = p.currentName();
                        p.nextToken();
                        if (f.equals("vocab")) readModelVocab(p, vocab);
                        else if (f.equals("byte_fallback")) byteFallback = p.currentToken() == JsonToken.VALUE_TRUE;
                        else p.skipChildren();
                    }
                } else if (field.equals("added_tokens") && p.currentToken() == JsonToken.START_ARRAY) {
                    while (p.nextToken() == JsonToken.START_OBJECT) {
                        JsonNode t = JSON.readTree(p);
                        if (!t.path("id").canConvertToInt() || !t.path("content").isTextual())
                            throw new FormatException(file + " has an added token without an id or content.");
                        vocab.put(t.get("content").asText(), t.get("id").asInt());
                        if (t.path("special").asBoolean(false)) specialTokens.add(t.get("content").asText());
                    }
                } else {
                    p.skipChildren();
                }
            }
        } catch (IOException e) {
            throw new FormatException(file + " is not valid JSON (" + firstLine(e) + ").", e);
        }
        if (vocab.isEmpty()) throw new FormatException(file + " has no model vocabulary.");
        for (int id : vocab.values()) if (id < 0) throw new FormatException(file + " has a negative token id.");
        return new Vocab(vocab, specialTokens, byteFallback);
    }

    /** BPE/WordPiece/WordLevel store {token: id}; Unigram stores [[token, score], ...] with id = position. */
    private static void readModelVocab(JsonParser p, Map<String, Integer> vocab) throws IOException {
        if (p.currentToken() == JsonToken.START_OBJECT) {
            while (p.nextToken() == JsonToken.FIELD_NAME) {
                String token = p.currentName();
                p.nextToken();
                vocab.put(token, p.getIntValue());
            }
        } else if (p.currentToken() == JsonToken.START_ARRAY) {
            int id = 0;
            while (p.nextToken() == JsonToken.START_ARRAY) {
                p.nextToken();
                vocab.put(p.getText(), id++);
                while (p.nextToken() != JsonToken.END_ARRAY) p.skipChildren();
            }
        } else {
            p.skipChildren();
        }
    }

    private static String readOptional(Path file) {
        if (!Files.isRegularFile(file)) return null;
        try {
            return Files.readString(file);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static JsonNode readConfig(Path file) {
        if (!Files.isRegularFile(file)) return null;
        try {
            JsonNode n = JSON.readTree(file.toFile());
            if (n == null || !n.isObject()) throw new FormatException(file + " is not a JSON object.");
            return n;
        } catch (IOException e) {
            throw new FormatException(file + " is not valid JSON (" + firstLine(e) + ").", e);
        }
    }

    private static String firstLine(Exception e) {
        return String.valueOf(e.getMessage()).lines().findFirst().orElse("").strip();
    }

    /** A special-token field of tokenizer_config: a string, an AddedToken object {"content": ...}, or null. */
    static String tokenText(JsonNode config, String field) {
        JsonNode n = config.get(field);
        if (n == null || n.isNull()) return null;
        if (n.isTextual()) return n.asText();
        if (n.isObject() && n.path("content").isTextual()) return n.get("content").asText();
        return null;
    }

    private static Integer tokenId(JsonNode config, String field, Map<String, Integer> vocab, Path dir) {
        String text = tokenText(config, field);
        if (text == null) return null;
        Integer id = vocab.get(text);
        if (id == null)
            throw new FormatException(dir.resolve("tokenizer_config.json") + " names " + field + " " + text + ", which is not in tokenizer.json.");
        return id;
    }

    @Override public String toString() {
        return "Tokenizer[vocab " + idToToken.length + ", bos " + bosId + ", eos " + eosIds + "]";
    }
}
