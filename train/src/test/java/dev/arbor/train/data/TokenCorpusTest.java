package dev.arbor.train.data;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.arbor.model.tokenizer.Tokenizer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.stream.Stream;

import static dev.arbor.train.data.TestData.all;
import static dev.arbor.train.data.TestData.append;
import static dev.arbor.train.data.TestData.arborError;
import static dev.arbor.train.data.TestData.concat;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** Preparing text into token files with the byte tokenizer (fast, exact: ids are the UTF-8 bytes). */
class TokenCorpusTest {
    private static final int EOS = ByteTokenizer.EOS_ID;
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir static Path shared;
    static Path tokDir;
    static Tokenizer tok;

    @TempDir Path dir;

    @BeforeAll static void tokenizer() {
        tokDir = shared.resolve("bytes-tokenizer");
        ByteTokenizer.writeTo(tokDir);
        tok = Tokenizer.load(tokDir);
    }

    @AfterAll static void close() { tok.close(); }

    private TokenCorpus.Options options() {
        return TokenCorpus.Options.defaults().withCacheDir(dir.resolve("cache")).withThreads(2);
    }

    private Path write(String name, String text) throws Exception {
        Path p = dir.resolve("data").resolve(name);
        Files.createDirectories(p.getParent());
        Files.writeString(p, text);
        return p;
    }

    private static int[] utf8(String s) {
        byte[] b = s.getBytes(StandardCharsets.UTF_8);
        int[] ids = new int[b.length];
        for (int i = 0; i < b.length; i++) ids[i] = b[i] & 0xFF;
        return ids;
    }

    @Test void textFileIsOneDocumentFollowedByEos() throws Exception {
        String text = "In the beginning.\n\nA second paragraph, café 🙂.\n";
        Path f = write("book.txt", text);
        try (TokenCorpus c = TokenCorpus.prepare(f, tokDir, options())) {
            assertThat(all(c)).containsExactly(append(tok.encode(text, false), EOS));
            assertThat(all(c)).containsExactly(append(utf8(text), EOS));
            assertThat(c.size()).isEqualTo(utf8(text).length + 1);
            assertThat(c.documents()).isEqualTo(1);
            assertThat(c.eosId()).isEqualTo(EOS);
            assertThat(c.bosId()).isNull();
            assertThat(c.vocabSize()).isEqualTo(260);
            assertThat(c.dtype()).isEqualTo("uint16");
            assertThat(c.reused()).isFalse();
            assertThat(c.sources()).containsExactly(new TokenCorpus.Source("book.txt", Files.size(f), 1));
            assertThat(c.file().getParent()).isEqualTo(dir.resolve("cache"));
        }
        try (Stream<Path> s = Files.list(dir.resolve("cache"))) {
            assertThat(s.toList()).hasSize(1);   // no temporary file left behind
        }
    }

    @Test void jsonlDocumentsArePackedWithEosAfterEach() throws Exception {
        List<String> docs = List.of("First document.", "Second\nwith a line break and \"quotes\"", "Третий 🙂");
        String jsonl = "{\"text\": \"First document.\", \"id\": 1}\n"
                + "{\"text\": \"Second\\nwith a line break and \\\"quotes\\\"\"}\n"
                + "\n"                                      // blank lines are skipped
                + "{\"text\": \"\"}\n"                      // empty documents are skipped
                + "{\"text\": \"Третий 🙂\", \"meta\": {\"x\": [1, 2]}}\n";
        Path f = write("docs.jsonl", jsonl);
        try (TokenCorpus c = TokenCorpus.prepare(f, tokDir, options())) {
            List<int[]> expected = new ArrayList<>();
            List<Long> eosAt = new ArrayList<>();
            long at = 0;
            for (String d : docs) {
                int[] ids = tok.encode(d, false);
                expected.add(append(ids, EOS));
                at += ids.length;
                eosAt.add(at++);
            }
            assertThat(all(c)).containsExactly(concat(expected));
            assertThat(c.documents()).isEqualTo(3);
            List<Long> eosPositions = new ArrayList<>();
            for (long i = 0; i < c.size(); i++) if (c.get(i) == EOS) eosPositions.add(i);
            assertThat(eosPositions).isEqualTo(eosAt);
        }
    }

    @Test void customTextFieldJsonArrayAndJsonLines() throws Exception {
        Path array = write("array.json", "  [ {\"content\": \"alpha\"},\n {\"content\": \"beta\", \"text\": \"ignored\"} ]\n");
        Path lines = write("lines.json", "{\"content\": \"gamma\"}\n{\"content\": \"delta\"}\n");
        TokenCorpus.Options o = options().withTextField("content");
        try (TokenCorpus a = TokenCorpus.prepare(array, tokDir, o); TokenCorpus l = TokenCorpus.prepare(lines, tokDir, o)) {
            assertThat(all(a)).containsExactly(concat(List.of(utf8("alpha"), new int[] {EOS}, utf8("beta"), new int[] {EOS})));
            assertThat(all(l)).containsExactly(concat(List.of(utf8("gamma"), new int[] {EOS}, utf8("delta"), new int[] {EOS})));
        }
    }

    @Test void directoryIsReadRecursivelyInPathOrderSkippingHiddenFiles() throws Exception {
        write("b.txt", "B");
        write("a/c.jsonl", "{\"text\": \"C1\"}\n{\"text\": \"C2\"}\n");
        write("a/b.txt", "AB");
        write("a/empty.txt", "");
        write(".hidden.txt", "hidden");
        write(".git/HEAD", "ref: hidden");
        write("a/.cache/x.txt", "hidden too");
        try (TokenCorpus c = TokenCorpus.prepare(dir.resolve("data"), tokDir, options())) {
            assertThat(c.sources()).extracting(TokenCorpus.Source::path).containsExactly("a/b.txt", "a/c.jsonl", "a/empty.txt", "b.txt");
            assertThat(c.sources()).extracting(TokenCorpus.Source::documents).containsExactly(1L, 2L, 0L, 1L);
            int[] eos = {EOS};
            assertThat(all(c)).containsExactly(concat(List.of(utf8("AB"), eos, utf8("C1"), eos, utf8("C2"), eos, utf8("B"), eos)));
            assertThat(c.documents()).isEqualTo(4);
        }
    }

    @Test void bosAndEosCanBeChosen() throws Exception {
        Path f = write("docs.jsonl", "{\"text\": \"ab\"}\n{\"text\": \"c\"}\n");
        try (TokenCorpus c = TokenCorpus.prepare(f, tokDir, options().withAddBos(true).withEosId(ByteTokenizer.PAD_ID))) {
            assertThat(all(c)).containsExactly(256, 'a', 'b', 258, 256, 'c', 258);
            assertThat(c.bosId()).isEqualTo(256);
            assertThat(c.eosId()).isEqualTo(258);
        }
    }

    @Test void longDocumentsAreTokenizedInPiecesInParallelInOrder() throws Exception {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < 400; i++) {
            sb.append("Line ").append(i).append(": naïve 🙂🚀 text");
            sb.append(i % 7 == 0 ? "\n\n" : i % 3 == 0 ? " " : "\n");
            if (i % 50 == 0) sb.append("🙂".repeat(40));   // long runs without a break: cut anywhere but in a pair
        }
        String text = sb.toString();
        Path txt = write("long.txt", text);
        Path jsonl = write("long.jsonl", "{\"text\": " + JSON.writeValueAsString(text) + "}\n{\"text\": \"tail\"}\n");
        int[] expectedTxt = append(utf8(text), EOS);
        int[] expectedJsonl = concat(List.of(utf8(text), new int[] {EOS}, utf8("tail"), new int[] {EOS}));
        for (int threads : new int[] {1, 3}) {
            TokenCorpus.Options o = options().withThreads(threads).withCacheDir(dir.resolve("cache" + threads));
            try (TokenCorpus a = TokenCorpus.prepare(txt, tokDir, o, 97, 50);
                 TokenCorpus b = TokenCorpus.prepare(jsonl, tokDir, o, 97, 50)) {
                assertThat(all(a)).containsExactly(expectedTxt);
                assertThat(all(b)).containsExactly(expectedJsonl);
                assertThat(a.documents()).isEqualTo(1);
            }
        }
        // Deterministic: the files made with 1 and 3 threads are byte-identical.
        try (Stream<Path> one = Files.list(dir.resolve("cache1")); Stream<Path> three = Files.list(dir.resolve("cache3"))) {
            List<Path> a = one.sorted().toList(), b = three.sorted().toList();
            assertThat(a).hasSize(2);
            for (int i = 0; i < a.size(); i++) assertThat(Files.readAllBytes(a.get(i))).isEqualTo(Files.readAllBytes(b.get(i)));
        }
    }

    @Test void cutPointsFallAfterLineBreaksAndNeverInsideSurrogatePairs() {
        assertThat(Inputs.cutPoint("aa bb\ncc dd", 4)).isEqualTo(6);      // after the line break
        assertThat(Inputs.cutPoint("aa bb\n cc dd", 4)).isEqualTo(7);     // not before a space: after the space instead
        assertThat(Inputs.cutPoint("aaaa bbbb cccc dddd", 4)).isEqualTo(5);
        assertThat(Inputs.cutPoint("abcdefghijklmnop", 4)).isEqualTo(4);
        String emoji = "🙂".repeat(10);
        for (int min = 1; min < 15; min++) assertThat(Character.isLowSurrogate(emoji.charAt(Inputs.cutPoint(emoji, min)))).isFalse();
    }

    @Test void fileLayoutIsHeaderLittleEndianTokensThenJsonMetadata() throws Exception {
        String text = "héllo";
        Path f = write("h.txt", text);
        try (TokenCorpus c = TokenCorpus.prepare(f, tokDir, options())) {
            byte[] bytes = Files.readAllBytes(c.file());
            ByteBuffer b = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
            byte[] magic = new byte[8];
            b.get(magic);
            assertThat(new String(magic, StandardCharsets.US_ASCII)).isEqualTo("ARBORTOK");
            assertThat(b.getInt()).isEqualTo(1);                 // version
            assertThat(b.getInt()).isEqualTo(2);                 // uint16
            long n = b.getLong();
            assertThat(n).isEqualTo(7);                          // h é(2 bytes) l l o + EOS
            assertThat(b.getLong()).isEqualTo(64 + 2 * n);       // metadata offset
            long metaLength = b.getLong();
            assertThat(bytes.length).isEqualTo(64 + 2 * n + metaLength);
            int[] ids = new int[(int) n];
            for (int i = 0; i < n; i++) ids[i] = Short.toUnsignedInt(b.getShort(64 + 2 * i));
            assertThat(ids).containsExactly('h', 0xC3, 0xA9, 'l', 'l', 'o', EOS);

            JsonNode meta = JSON.readTree(new String(bytes, (int) (64 + 2 * n), (int) metaLength, StandardCharsets.UTF_8));
            assertThat(meta.get("format").asText()).isEqualTo("arbor-tokens");
            assertThat(meta.get("version").asInt()).isEqualTo(1);
            assertThat(meta.get("dtype").asText()).isEqualTo("uint16");
            assertThat(meta.get("tokens").asLong()).isEqualTo(7);
            assertThat(meta.get("vocab_size").asInt()).isEqualTo(260);
            assertThat(meta.get("eos_id").asInt()).isEqualTo(EOS);
            assertThat(meta.get("bos_id").isNull()).isTrue();
            assertThat(meta.get("documents").asLong()).isEqualTo(1);
            assertThat(meta.get("tokenizer_sha256").asText()).isEqualTo(sha256(Files.readAllBytes(tokDir.resolve("tokenizer.json"))));
            // Source hash: each file's name, a 0 byte, its size (8 bytes big-endian), then its bytes.
            byte[] content = Files.readAllBytes(f);
            MessageDigest md = MessageDigest.getInstance("SHA-256");
            md.update("h.txt".getBytes(StandardCharsets.UTF_8));
            md.update((byte) 0);
            md.update(ByteBuffer.allocate(8).putLong(content.length).array());
            md.update(content);
            assertThat(meta.get("source_sha256").asText()).isEqualTo(HexFormat.of().formatHex(md.digest())).isEqualTo(c.sourceSha256());
            assertThat(meta.get("sources").get(0).get("path").asText()).isEqualTo("h.txt");
            assertThat(meta.get("sources").get(0).get("bytes").asLong()).isEqualTo(content.length);
        }
    }

    private static String sha256(byte[] b) throws Exception {
        return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(b));
    }

    @Test void preparedFilesAreReusedFromTheCache() throws Exception {
        Path f = write("docs.jsonl", "{\"text\": \"one\"}\n{\"text\": \"two\"}\n");
        Path first;
        FileTime made;
        try (TokenCorpus c = TokenCorpus.prepare(f, tokDir, options())) {
            assertThat(c.reused()).isFalse();
            first = c.file();
            made = Files.getLastModifiedTime(first);
        }
        try (TokenCorpus c = TokenCorpus.prepare(f, tokDir, options().withThreads(1))) {
            assertThat(c.reused()).isTrue();
            assertThat(c.file()).isEqualTo(first);
            assertThat(Files.getLastModifiedTime(first)).isEqualTo(made);
            assertThat(all(c)).containsExactly(concat(List.of(utf8("one"), new int[] {EOS}, utf8("two"), new int[] {EOS})));
        }
        // Anything that changes the output misses the cache: the options...
        try (TokenCorpus c = TokenCorpus.prepare(f, tokDir, options().withAddBos(true))) {
            assertThat(c.reused()).isFalse();
            assertThat(c.file()).isNotEqualTo(first);
        }
        // ...the tokenizer (same tokenizer.json bytes, other tokenizer_config.json: another EOS)...
        Path otherTok = dir.resolve("tok2");
        ByteTokenizer.writeTo(otherTok);
        Files.writeString(otherTok.resolve("tokenizer_config.json"), "{\"bos_token\": \"<s>\", \"eos_token\": \"<pad>\"}");
        try (TokenCorpus c = TokenCorpus.prepare(f, otherTok, options())) {
            assertThat(c.reused()).isFalse();
            assertThat(c.eosId()).isEqualTo(ByteTokenizer.PAD_ID);
        }
        // ...and the data.
        Files.writeString(f, "{\"text\": \"one\"}\n{\"text\": \"three\"}\n");
        try (TokenCorpus c = TokenCorpus.prepare(f, tokDir, options())) {
            assertThat(c.reused()).isFalse();
            assertThat(c.file()).isNotEqualTo(first);
            assertThat(all(c)).containsExactly(concat(List.of(utf8("one"), new int[] {EOS}, utf8("three"), new int[] {EOS})));
        }
    }

    @Test void aDamagedCacheEntryIsRebuilt() throws Exception {
        Path f = write("a.txt", "some text");
        Path file;
        try (TokenCorpus c = TokenCorpus.prepare(f, tokDir, options())) {
            file = c.file();
        }
        byte[] good = Files.readAllBytes(file);
        Files.write(file, java.util.Arrays.copyOf(good, good.length - 10));
        try (TokenCorpus c = TokenCorpus.prepare(f, tokDir, options())) {
            assertThat(c.reused()).isFalse();
            assertThat(c.file()).isEqualTo(file);
            assertThat(all(c)).containsExactly(append(utf8("some text"), EOS));
        }
        assertThat(Files.readAllBytes(file)).isEqualTo(good);
    }

    @Test void aGivenTokenFileIsUsedAsIsWhateverItsName() throws Exception {
        Path f = write("a.txt", "pre-tokenized");
        Path out = dir.resolve("corpus.bin");
        try (TokenCorpus made = TokenCorpus.tokenize(f, tokDir, options(), out)) {
            assertThat(made.file()).isEqualTo(out);
            assertThat(made.reused()).isFalse();
        }
        try (TokenCorpus c = TokenCorpus.prepare(out, null, options()); TokenCorpus o = TokenCorpus.open(out)) {
            assertThat(c.reused()).isTrue();
            assertThat(c.file()).isEqualTo(out);
            assertThat(all(c)).containsExactly(append(utf8("pre-tokenized"), EOS)).containsExactly(all(o));
            assertThat(c.sources()).extracting(TokenCorpus.Source::path).containsExactly("a.txt");
        }
        assertThat(arborError(() -> TokenCorpus.tokenize(out, tokDir, options(), dir.resolve("x.tokens"))))
                .isEqualTo(out + " is already an Arbor token file.");
    }

    @Test void readsAreBoundsCheckedAndUint32FilesRead() throws Exception {
        int[] ids = {0, 65535, 65536, 70000, 99999};
        try (TokenCorpus c = TokenCorpus.open(TestData.tokenFile(dir.resolve("wide.tokens"), ids, 100000, 1))) {
            assertThat(c.dtype()).isEqualTo("uint32");
            assertThat(all(c)).containsExactly(ids);
            assertThat(c.get(3)).isEqualTo(70000);
            int[] part = new int[4];
            c.read(2, part, 1, 3);
            assertThat(part).containsExactly(0, 65536, 70000, 99999);
            assertThatThrownBy(() -> c.get(5)).isInstanceOf(IndexOutOfBoundsException.class);
            assertThatThrownBy(() -> c.read(3, part, 0, 3)).isInstanceOf(IndexOutOfBoundsException.class);
        }
        int[] narrow = {0, 255, 65535};
        try (TokenCorpus c = TokenCorpus.open(TestData.tokenFile(dir.resolve("narrow.tokens"), narrow, 65536, 0))) {
            assertThat(c.dtype()).isEqualTo("uint16");
            assertThat(all(c)).containsExactly(narrow);   // read as unsigned
        }
    }

    /**
     * A WordLevel tokenizer with 70,000 words "w0".."w69999" plus {@code </s>} (id 70000): ids above
     * 65535 need uint32. (Llama 3's 128k vocabulary would do too, but takes seconds to load.)
     */
    private Path wideTokenizer() throws Exception {
        Path d = dir.resolve("wide-tok");
        Files.createDirectories(d);
        var vocab = JSON.createObjectNode();
        for (int i = 0; i < 70000; i++) vocab.put("w" + i, i);
        vocab.put("<unk>", 70001);
        var root = JSON.createObjectNode();
        root.put("version", "1.0");
        var added = root.putArray("added_tokens").addObject();
        added.put("id", 70000).put("content", "</s>").put("single_word", false).put("lstrip", false).put("rstrip", false)
                .put("normalized", false).put("special", true);
        root.putObject("pre_tokenizer").put("type", "WhitespaceSplit");
        var model = root.putObject("model");
        model.put("type", "WordLevel");
        model.set("vocab", vocab);
        model.put("unk_token", "<unk>");
        Files.write(d.resolve("tokenizer.json"), JSON.writeValueAsBytes(root));
        Files.writeString(d.resolve("tokenizer_config.json"), "{\"eos_token\": \"</s>\"}");
        return d;
    }

    @Test void aVocabularyAbove65536IsStoredAsUint32() throws Exception {
        Path wide = wideTokenizer();
        Path f = write("wide.jsonl", "{\"text\": \"w0 w65535 w65536\"}\n{\"text\": \"w69999 w7 nope\"}\n");
        try (TokenCorpus c = TokenCorpus.prepare(f, wide, options())) {
            int[] ids = {0, 65535, 65536, 70000, 69999, 7, 70001, 70000};
            assertThat(c.dtype()).isEqualTo("uint32");
            assertThat(c.vocabSize()).isEqualTo(70002);
            assertThat(c.eosId()).isEqualTo(70000);
            assertThat(all(c)).containsExactly(ids);
            ByteBuffer raw = ByteBuffer.wrap(Files.readAllBytes(c.file())).order(ByteOrder.LITTLE_ENDIAN);
            assertThat(raw.getInt(12)).isEqualTo(4);                // bytes per token
            assertThat(raw.getLong(24)).isEqualTo(64 + 4L * ids.length);
            for (int i = 0; i < ids.length; i++) assertThat(raw.getInt(64 + 4 * i)).isEqualTo(ids[i]);
        }
        // And a vocabulary of 260 gets uint16 (2 bytes a token).
        try (TokenCorpus c = TokenCorpus.prepare(write("narrow.txt", "ab"), tokDir, options())) {
            assertThat(c.dtype()).isEqualTo("uint16");
            ByteBuffer raw = ByteBuffer.wrap(Files.readAllBytes(c.file())).order(ByteOrder.LITTLE_ENDIAN);
            assertThat(raw.getInt(12)).isEqualTo(2);
            assertThat(new int[] {raw.getShort(64), raw.getShort(66), raw.getShort(68)}).containsExactly('a', 'b', EOS);
        }
    }

    @Test void progressIsReported() throws Exception {
        write("p/a.txt", "x".repeat(1000));
        write("p/b.jsonl", "{\"text\": \"yy\"}\n".repeat(100));
        long total = 1000 + 15 * 100;
        List<long[]> calls = new CopyOnWriteArrayList<>();
        try (TokenCorpus c = TokenCorpus.prepare(dir.resolve("data/p"), tokDir, options().withProgress((done, all) -> calls.add(new long[] {done, all})))) {
            assertThat(c.size()).isEqualTo(1001 + 3 * 100);
        }
        assertThat(calls).hasSize(2);                               // at the end of each file (and every MiB within one)
        assertThat(calls.get(0)).containsExactly(1000, total);
        assertThat(calls.get(1)).containsExactly(total, total);
    }

    @Test void checkVocabComparesTheLargestIdWithTheModel() throws Exception {
        Path f = write("a.txt", "abc");
        try (TokenCorpus c = TokenCorpus.prepare(f, tokDir, options())) {
            c.checkVocab(258);                                 // the largest id is EOS 257
            assertThat(arborError(() -> c.checkVocab(257))).isEqualTo("The training data (" + c.file()
                    + ") contains token id 257, outside the model's vocabulary of 257 ids (was it tokenized with another tokenizer?).");
        }
    }

    // ---- bad input: each is one clear sentence naming the file (and line) ----

    @Test void badTextInputs() throws Exception {
        Path missing = dir.resolve("nope.txt");
        assertThat(arborError(() -> TokenCorpus.prepare(missing, tokDir, options()))).isEqualTo("The data path " + missing + " does not exist.");

        Path notJson = write("bad.jsonl", "{\"text\": \"ok\"}\n{\"text\": oops}\n");
        assertThat(arborError(() -> TokenCorpus.prepare(notJson, tokDir, options()))).startsWith(notJson + " line 2 is not valid JSON (");

        Path trailing = write("trailing.jsonl", "{\"text\": \"a\"} {\"text\": \"b\"}\n");
        assertThat(arborError(() -> TokenCorpus.prepare(trailing, tokDir, options()))).startsWith(trailing + " line 1 is not valid JSON (");

        Path notObject = write("array.jsonl", "[\"text\"]\n");
        assertThat(arborError(() -> TokenCorpus.prepare(notObject, tokDir, options()))).isEqualTo(notObject + " line 1 is not a JSON object.");

        Path noField = write("nofield.jsonl", "{\"text\": \"a\"}\n\n{\"body\": \"b\"}\n");
        assertThat(arborError(() -> TokenCorpus.prepare(noField, tokDir, options()))).isEqualTo(noField + " line 3 has no \"text\" field.");

        Path notString = write("number.jsonl", "{\"text\": 42}\n");
        assertThat(arborError(() -> TokenCorpus.prepare(notString, tokDir, options())))
                .isEqualTo(notString + " line 1 has a \"text\" field that is not a string.");

        Path badElement = write("bad.json", "[{\"text\": \"a\"}, 7]");
        assertThat(arborError(() -> TokenCorpus.prepare(badElement, tokDir, options()))).isEqualTo(badElement + " element 2 is not a JSON object.");

        Path unclosed = write("unclosed.json", "[{\"text\": \"a\"}");
        assertThat(arborError(() -> TokenCorpus.prepare(unclosed, tokDir, options()))).startsWith(unclosed + " is not valid JSON (");

        Path latin1 = dir.resolve("data/latin1.txt");
        Files.write(latin1, new byte[] {'c', 'a', 'f', (byte) 0xE9, '\n'});
        assertThat(arborError(() -> TokenCorpus.prepare(latin1, tokDir, options()))).isEqualTo(latin1 + " is not valid UTF-8 text.");
    }

    @Test void inputWithoutTextIsRefused() throws Exception {
        Path empty = write("empty.txt", "");
        assertThat(arborError(() -> TokenCorpus.prepare(empty, tokDir, options()))).isEqualTo(empty + " contains no text.");

        Path emptyDocs = write("empty.jsonl", "{\"text\": \"\"}\n\n");
        assertThat(arborError(() -> TokenCorpus.prepare(emptyDocs, tokDir, options()))).isEqualTo(emptyDocs + " contains no text.");

        Path emptyDir = Files.createDirectories(dir.resolve("nothing"));
        assertThat(arborError(() -> TokenCorpus.prepare(emptyDir, tokDir, options()))).isEqualTo(emptyDir + " contains no text.");

        Path onlyHidden = Files.createDirectories(dir.resolve("hidden"));
        Files.writeString(onlyHidden.resolve(".secret.txt"), "not read");
        assertThat(arborError(() -> TokenCorpus.prepare(onlyHidden, tokDir, options()))).isEqualTo(onlyHidden + " contains no text.");
        try (Stream<Path> s = Files.list(dir.resolve("cache"))) {
            assertThat(s.toList()).isEmpty();                   // nothing half-written is left in the cache
        } catch (java.nio.file.NoSuchFileException fine) {
            // the cache directory was never needed
        }
    }

    @Test void badTokenizerChoices() throws Exception {
        Path f = write("a.txt", "abc");
        assertThat(arborError(() -> TokenCorpus.prepare(f, tokDir, options().withEosId(999))))
                .isEqualTo("The EOS id 999 is outside the tokenizer's vocabulary of 260 ids.");
        assertThat(arborError(() -> TokenCorpus.prepare(f, null, options()))).isEqualTo("A tokenizer is needed to tokenize " + f + ".");
        Path noTok = Files.createDirectories(dir.resolve("empty-tok"));
        assertThat(arborError(() -> TokenCorpus.prepare(f, noTok, options()))).isEqualTo(noTok + " has no tokenizer.json.");

        Path bare = dir.resolve("bare-tok");
        ByteTokenizer.writeTo(bare);
        Files.delete(bare.resolve("tokenizer_config.json"));    // no bos_token, no eos_token
        assertThat(arborError(() -> TokenCorpus.prepare(f, bare, options())))
                .isEqualTo("The tokenizer in " + bare + " names no eos_token; give the EOS id to put after each document.");
        assertThat(arborError(() -> TokenCorpus.prepare(f, bare, options().withEosId(257).withAddBos(true))))
                .isEqualTo("The tokenizer in " + bare + " names no bos_token, so documents cannot start with BOS.");
        try (TokenCorpus c = TokenCorpus.prepare(f, bare, options().withEosId(257))) {
            assertThat(all(c)).containsExactly('a', 'b', 'c', 257);
        }
        assertThat(arborError(() -> options().withThreads(0))).isEqualTo("The number of tokenizer threads must be at least 1 (got 0).");
        assertThat(arborError(() -> options().withTextField(""))).isEqualTo("The JSON text field name must not be empty.");
        assertThat(arborError(() -> options().withEosId(-1))).isEqualTo("The EOS id must not be negative (got -1).");
    }

    @Test void badTokenFiles() throws Exception {
        Path good = TestData.tokenFile(dir.resolve("good.tokens"), new int[] {1, 2, 3}, 260, 257);
        byte[] bytes = Files.readAllBytes(good);

        Path text = write("plain.tokens", "just text");
        assertThat(arborError(() -> TokenCorpus.open(text))).isEqualTo(text + " is not an Arbor token file (it does not start with ARBORTOK).");
        // Given as data, a .tokens name is taken as a token file, not tokenized as text.
        assertThat(arborError(() -> TokenCorpus.prepare(text, tokDir, options()))).isEqualTo(text + " is not an Arbor token file (it does not start with ARBORTOK).");

        Path tiny = dir.resolve("tiny.tokens");
        Files.write(tiny, java.util.Arrays.copyOf(bytes, 20));
        assertThat(arborError(() -> TokenCorpus.open(tiny))).isEqualTo(tiny + " is not a usable Arbor token file: it is shorter than its header.");

        Path truncated = dir.resolve("truncated.tokens");
        Files.write(truncated, java.util.Arrays.copyOf(bytes, bytes.length - 1));
        assertThat(arborError(() -> TokenCorpus.open(truncated))).isEqualTo(truncated + " is not a usable Arbor token file: its size of "
                + (bytes.length - 1) + " bytes does not match its header (is it truncated?).");

        Path v2 = dir.resolve("v2.tokens");
        byte[] b2 = bytes.clone();
        b2[8] = 2;
        Files.write(v2, b2);
        assertThat(arborError(() -> TokenCorpus.open(v2))).isEqualTo(v2 + " is an Arbor token file of format version 2, but this Arbor reads version 1.");

        Path outOfRange = TestData.tokenFile(dir.resolve("range.tokens"), new int[] {5, 300, 7}, 260, 257);
        assertThat(arborError(() -> TokenCorpus.open(outOfRange)))
                .isEqualTo(outOfRange + " has token id 300 at position 1, outside its vocabulary of 260 ids.");

        Path badMeta = dir.resolve("meta.tokens");
        byte[] b3 = bytes.clone();
        b3[b3.length - 3] = '#';
        Files.write(badMeta, b3);
        assertThat(arborError(() -> TokenCorpus.open(badMeta))).isEqualTo(badMeta + " is not a usable Arbor token file: its metadata is not valid JSON.");

        Path none = TestData.tokenFile(dir.resolve("none.tokens"), new int[0], 260, 257);
        assertThat(arborError(() -> TokenCorpus.open(none))).isEqualTo(none + " contains no tokens.");

        Path absent = dir.resolve("absent.tokens");
        assertThat(arborError(() -> TokenCorpus.open(absent))).isEqualTo("The token file " + absent + " does not exist.");
    }
}
