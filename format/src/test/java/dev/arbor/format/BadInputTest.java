package dev.arbor.format;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** Every malformed input is refused with one clear sentence naming the file and the problem. */
class BadInputTest {
    @TempDir Path dir;

    static byte[] file(String header, int dataBytes) {
        byte[] h = header.getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(8 + h.length + dataBytes).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(h.length).put(h);
        return b.array();
    }

    private String refuse(byte[] content) throws Exception {
        Path p = dir.resolve("bad.safetensors");
        Files.write(p, content);
        var thrown = org.assertj.core.api.Assertions.catchThrowableOfType(FormatException.class, () -> SafetensorsFile.open(p).close());
        assertThat(thrown).as("should be refused").isNotNull();
        String m = thrown.getMessage();
        assertThat(m).contains(p.toString()).endsWith(".").doesNotContain("\n");
        return m;
    }

    @Test void truncatedFile() throws Exception {
        assertThat(refuse(new byte[]{1, 2, 3})).contains("too short");
        byte[] ok = file("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8);
        byte[] cut = java.util.Arrays.copyOf(ok, ok.length - 3);
        assertThat(refuse(cut)).contains("run past the end");
    }

    @Test void headerLengthPastTheEnd() throws Exception {
        ByteBuffer b = ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN).putLong(1000).putLong(0);
        assertThat(refuse(b.array())).contains("runs past the end of the file");
        ByteBuffer huge = ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN).putLong(-1).putLong(0);
        assertThat(refuse(huge.array())).contains("100 MiB limit");
    }

    @Test void invalidJson() throws Exception {
        assertThat(refuse(file("{\"a\":", 0))).contains("not valid JSON");
        assertThat(refuse(file("[1,2]   ", 0))).contains("not a JSON object");
        assertThat(refuse(file("{\"a\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]},\"a\":{}}", 4))).contains("not valid JSON");
        byte[] badUtf8 = file("{\"\u00e9\":1}", 0);
        badUtf8[10] = (byte) 0xFF;
        assertThat(refuse(badUtf8)).contains("UTF-8");
    }

    @Test void unknownDtype() throws Exception {
        assertThat(refuse(file("{\"w\":{\"dtype\":\"F8\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1)))
                .contains("unknown dtype 'F8'");
    }

    @Test void overlappingOrOutOfRangeOffsets() throws Exception {
        assertThat(refuse(file("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                + "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12))).contains("overlaps");
        assertThat(refuse(file("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}", 16))).contains("hole");
        assertThat(refuse(file("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 4))).contains("run past the end");
        assertThat(refuse(file("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 12))).contains("data section is 12 bytes");
        assertThat(refuse(file("{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8))).contains("non-negative");
    }

    @Test void sizeMismatch() throws Exception {
        assertThat(refuse(file("{\"a\":{\"dtype\":\"BF16\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8)))
                .contains("BF16[3] = 6 bytes but data_offsets span 8 bytes");
        assertThat(refuse(file("{\"a\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904,4],\"data_offsets\":[0,8]}}", 8)))
                .contains("too large");
    }

    @Test void metadataMustBeStrings() throws Exception {
        assertThat(refuse(file("{\"__metadata__\":{\"format\":1}}", 0))).contains("__metadata__");
    }

    @Test void missingShardAndIndexNamingAnAbsentTensor() throws Exception {
        Path ck = Golden.path("mqa_f16_3shards");
        Path copy = dir.resolve("ck");
        Files.createDirectories(copy);
        try (var s = Files.list(ck)) {
            for (Path p : s.toList()) Files.copy(p, copy.resolve(p.getFileName()));
        }
        Files.delete(copy.resolve("model-00002-of-00003.safetensors"));
        assertThatThrownBy(() -> Checkpoint.open(copy)).isInstanceOf(FormatException.class)
                .hasMessageContaining("names shard model-00002-of-00003.safetensors, which is missing");
        Files.copy(ck.resolve("model-00002-of-00003.safetensors"), copy.resolve("model-00002-of-00003.safetensors"));
        String idx = Files.readString(copy.resolve(Checkpoint.INDEX_FILE));
        Files.writeString(copy.resolve(Checkpoint.INDEX_FILE),
                idx.replace("\"weight_map\": {", "\"weight_map\": {\n    \"model.ghost.weight\": \"model-00001-of-00003.safetensors\","));
        assertThatThrownBy(() -> Checkpoint.open(copy)).isInstanceOf(FormatException.class)
                .hasMessageContaining("'model.ghost.weight'").hasMessageContaining("does not contain it");
    }

    @Test void missingPath() {
        assertThatThrownBy(() -> Checkpoint.open(dir.resolve("nope"))).isInstanceOf(FormatException.class)
                .hasMessage(dir.resolve("nope") + " does not exist.");
    }

    @Test void configErrors() {
        assertThatThrownBy(() -> LlamaConfig.fromJson("c.json", "{\"hidden_size\": 64}"))
                .hasMessageContaining("lacks the integer field 'intermediate_size'");
        assertThatThrownBy(() -> LlamaConfig.create(64, 2, 4, 3, 128, 100)).hasMessageContaining("must divide");
        assertThatThrownBy(() -> LlamaConfig.create(64, 2, 4, 4, 128, 100).with("hidden_act", "gelu").requireLlama("m"))
                .hasMessageContaining("hidden_act 'gelu'");
    }
}
