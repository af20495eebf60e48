package dev.arbor.cli;

import com.fasterxml.jackson.databind.JsonNode;
import dev.arbor.format.FormatException;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** What init-model needs from a tokenizer directory: vocabulary size and BOS/EOS ids. */
record TokenizerFacts(int vocabSize, Integer bosId, Integer eosId) {

    static TokenizerFacts read(Path dir) throws IOException {
        Path tj = dir.resolve("tokenizer.json");
        JsonNode t;
        try {
            t = Output.JSON.readTree(tj.toFile());
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new FormatException(tj + " is not valid JSON.");
        }
        int max = -1;
        JsonNode vocab = t.path("model").path("vocab");
        if (vocab.isObject()) {
            for (JsonNode id : (Iterable<JsonNode>) vocab::elements) max = Math.max(max, id.asInt());
        } else if (vocab.isArray()) {
            max = vocab.size() - 1;
        }
        for (JsonNode a : t.path("added_tokens")) max = Math.max(max, a.path("id").asInt());
        if (max < 0) throw new FormatException(tj + " has no vocabulary.");
        Integer bos = null, eos = null;
        Path tc = dir.resolve("tokenizer_config.json");
        if (Files.isRegularFile(tc)) {
            JsonNode c = Output.JSON.readTree(tc.toFile());
            bos = idOf(t, tokenText(c.get("bos_token")));
            eos = idOf(t, tokenText(c.get("eos_token")));
        }
        return new TokenizerFacts(max + 1, bos, eos);
    }

    private static String tokenText(JsonNode n) {
        if (n == null || n.isNull()) return null;
        if (n.isTextual()) return n.textValue();
        return n.path("content").asText(null);
    }

    private static Integer idOf(JsonNode t, String token) {
        if (token == null) return null;
        for (JsonNode a : t.path("added_tokens")) if (token.equals(a.path("content").asText())) return a.path("id").asInt();
        JsonNode v = t.path("model").path("vocab");
        if (v.isObject() && v.has(token)) return v.get(token).asInt();
        return null;
    }
}
