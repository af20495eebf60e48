package dev.arbor.cli;

import dev.arbor.format.ArborException;
import dev.arbor.format.ModelSource;
import dev.arbor.model.tokenizer.Tokenizer;

import java.nio.file.Path;
import java.util.Arrays;

/** Helpers the engine commands (logits, generate, bench) share. */
final class EngineArgs {
    private EngineArgs() {}

    /** --threads as given, or every available processor. */
    static int threads(Integer given) {
        return given != null ? given : Runtime.getRuntime().availableProcessors();
    }

    /** "1,2,3" or "1 2 3" to ids. */
    static int[] parseTokens(String s) {
        String t = s.trim();
        if (t.startsWith("[") && t.endsWith("]")) t = t.substring(1, t.length() - 1);
        if (t.isBlank()) throw new ArborException("--tokens is empty.");
        try {
            return Arrays.stream(t.split("[,\\s]+")).filter(x -> !x.isEmpty()).mapToInt(Integer::parseInt).toArray();
        } catch (NumberFormatException e) {
            throw new ArborException("--tokens must be integers separated by commas or spaces, not '" + s + "'.");
        }
    }

    /** The model's tokenizer (tokenizer.json beside the weights). */
    static Tokenizer tokenizer(ModelSource src) {
        Path file = src.sideFile("tokenizer.json").orElseThrow(() ->
                new ArborException(src.describe() + " has no tokenizer.json; give token ids with --tokens instead."));
        return Tokenizer.load(file.getParent());
    }
}
