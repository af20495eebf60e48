package dev.arbor.train.data;

import dev.arbor.model.tokenizer.Tokenizer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static dev.arbor.train.data.TestData.all;
import static dev.arbor.train.data.TestData.append;
import static dev.arbor.train.data.TestData.concat;
import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** Preparation with a real tokenizer (Mistral 7B, from shared/fixtures): token streams equal direct tokenization. */
class FixtureTokenizerTest {
    private static final List<String> DOCS = List.of(
            "The quick brown fox jumps over the lazy dog.",
            "  Leading spaces, then a line break\nand a tab\there.",
            "Accents: café, naïve, Ærøskøbing; CJK: 日本語; emoji: 🙂🚀.",
            "Numbers 1234567 and code: for (int i = 0; i < n; i++) { sum += a[i]; }");

    @TempDir Path dir;
    static Path tokDir;
    static Tokenizer tok;

    @BeforeAll static void load() {
        tokDir = fixture("mistral7b");
        tok = Tokenizer.load(tokDir);
    }

    @AfterAll static void close() {
        if (tok != null) tok.close();
    }

    private static Path fixture(String name) {
        Path p = Path.of(System.getProperty("arbor.shared", "../shared"), "fixtures", "tokenizers", name);
        assumeTrue(Files.isRegularFile(p.resolve("tokenizer.json")), "tokenizer fixture " + name + " is not available");
        return p;
    }

    private Path jsonl() throws Exception {
        StringBuilder sb = new StringBuilder();
        for (String d : DOCS) sb.append("{\"text\": ").append(new com.fasterxml.jackson.databind.ObjectMapper().writeValueAsString(d)).append("}\n");
        return Files.writeString(dir.resolve("docs.jsonl"), sb.toString());
    }

    private TokenCorpus.Options options() {
        return TokenCorpus.Options.defaults().withCacheDir(dir.resolve("cache")).withThreads(2);
    }

    @Test void mistralStreamEqualsDirectTokenizationInUint16() throws Exception {
        int eos = tok.eosIds().getFirst();
        assertThat(eos).isEqualTo(2);
        List<int[]> expected = new ArrayList<>();
        for (String d : DOCS) expected.add(append(tok.encode(d, false), eos));
        try (TokenCorpus c = TokenCorpus.prepare(jsonl(), tokDir, options())) {
            assertThat(c.dtype()).isEqualTo("uint16");
            assertThat(c.vocabSize()).isEqualTo(32000);
            assertThat(all(c)).containsExactly(concat(expected));
            assertThat(Files.size(c.file())).isGreaterThan(64 + 2 * c.size()).isLessThan(64 + 2 * c.size() + 4096);   // 2 bytes a token
        }
        List<int[]> withBos = new ArrayList<>();
        for (String d : DOCS) withBos.add(concat(List.of(new int[] {tok.bosId()}, tok.encode(d, false), new int[] {eos})));
        try (TokenCorpus c = TokenCorpus.prepare(jsonl(), tokDir, options().withAddBos(true))) {
            assertThat(c.bosId()).isEqualTo(1);
            assertThat(all(c)).containsExactly(concat(withBos));
        }
    }

    @Test void mistralLongDocumentDiffersFromOneCallOnlyAtPieceStarts() throws Exception {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; sb.length() < 3 * TokenCorpus.PIECE_CHARS; i++) sb.append("And verse ").append(i).append(" said: let there be light.\n");
        String text = sb.toString();
        Path f = Files.writeString(dir.resolve("long.txt"), text);
        try (TokenCorpus c = TokenCorpus.prepare(f, tokDir, options())) {
            int direct = tok.encode(text, false).length + 1;
            // The text is cut in 2 or 3 pieces; a later piece starts with a "▁" that one call would not
            // have put there (SentencePiece prepends one to every input), so at most a token per cut differs.
            assertThat(c.size()).isBetween(direct - 2L, direct + 2L);
            assertThat(tok.decode(all(c), true).replace("\n ", "\n")).isEqualTo(text);
        }
    }
}
