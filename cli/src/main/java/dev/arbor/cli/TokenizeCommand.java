package dev.arbor.cli;

import com.fasterxml.jackson.core.json.JsonWriteFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.arbor.format.FormatException;
import dev.arbor.model.tokenizer.Tokenizer;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;

@Command(name = "tokenize", description = "Turn text into token ids with a HuggingFace tokenizer.json; one output line per input.")
final class TokenizeCommand implements Callable<Integer> {
    @Option(names = "--tokenizer", required = true, paramLabel = "DIR", description = "directory with tokenizer.json (a checkpoint directory)")
    Path dir;

    @ArgGroup(exclusive = true, multiplicity = "1") Input input;

    static final class Input {
        @Option(names = "--text", paramLabel = "S", description = "the text to tokenize") String text;
        @Option(names = "--file", paramLabel = "F", description = "one input per line; in a .jsonl file, each line's \"text\" field")
        Path file;
    }

    @Option(names = "--special", description = "add the post-processor's special tokens (e.g. BOS)") boolean special;
    @Option(names = "--json", description = "print {\"text\", \"ids\", \"tokens\"} per line") boolean json;

    // One line per input, ASCII only (non-ASCII escaped) so any terminal encoding shows it intact.
    private static final ObjectMapper LINE = JsonMapper.builder().enable(JsonWriteFeature.ESCAPE_NON_ASCII).build();

    @Override public Integer call() throws IOException {
        List<String> texts = input.text != null ? List.of(input.text) : readInputs(input.file);
        PrintWriter out = new PrintWriter(System.out, false);
        try (Tokenizer tok = Tokenizer.load(dir)) {
            for (String text : texts) {
                int[] ids = tok.encode(text, special);
                ArrayNode idsJ = LINE.createArrayNode();
                for (int id : ids) idsJ.add(id);
                if (json) {
                    ObjectNode o = LINE.createObjectNode().put("text", text);
                    o.set("ids", idsJ);
                    ArrayNode toks = o.putArray("tokens");
                    for (String t : tok.tokens(ids)) toks.add(t);
                    out.println(LINE.writeValueAsString(o));
                } else {
                    out.println(LINE.writeValueAsString(idsJ));
                }
            }
        }
        out.flush();
        return 0;
    }

    /** Lines of a text file, or the "text" fields of a .jsonl file (whose texts may hold newlines). */
    static List<String> readInputs(Path file) {
        List<String> lines;
        try {
            lines = Files.readAllLines(file, StandardCharsets.UTF_8);
        } catch (CharacterCodingException e) {
            throw new FormatException(file + " is not UTF-8 text.");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        if (!file.getFileName().toString().endsWith(".jsonl")) return lines;
        List<String> texts = new ArrayList<>();
        for (int i = 0; i < lines.size(); i++) {
            if (lines.get(i).isBlank()) continue;
            JsonNode n;
            try {
                n = LINE.readTree(lines.get(i));
            } catch (IOException e) {
                throw new FormatException(file + " line " + (i + 1) + " is not valid JSON.");
            }
            if (n == null || !n.path("text").isTextual())
                throw new FormatException(file + " line " + (i + 1) + " has no \"text\" string.");
            texts.add(n.get("text").asText());
        }
        return texts;
    }
}
