package dev.arbor.train.data;

import dev.arbor.format.ArborException;
import org.assertj.core.api.ThrowableAssert;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

/** Helpers shared by the data tests. */
final class TestData {
    private TestData() {}

    /** Writes a token file holding {@code ids} directly (no tokenizer), as the writer lays it out. */
    static Path tokenFile(Path file, int[] ids, int vocab, int eos) {
        int width = TokenFile.bytesPerToken(vocab);
        byte[] json = new TokenFile.Meta(width, ids.length, vocab, eos, null, 1, "0".repeat(64), "1".repeat(64), "text",
                List.of(new TokenCorpus.Source("synthetic", 0, 1))).toJson();
        ByteBuffer b = ByteBuffer.allocate(TokenFile.DATA_OFFSET + ids.length * width + json.length).order(ByteOrder.LITTLE_ENDIAN);
        b.put(TokenFile.header(width, ids.length, json.length));
        for (int id : ids) {
            if (width == 2) b.putShort((short) id); else b.putInt(id);
        }
        b.put(json);
        try {
            Files.write(file, b.array());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return file;
    }

    /** 0, 1, 2, ... n-1: a stream whose tokens are their own positions, so windows are easy to check. */
    static int[] positions(int n) {
        int[] ids = new int[n];
        for (int i = 0; i < n; i++) ids[i] = i;
        return ids;
    }

    /** The ArborException {@code call} throws; its message is one sentence, as the CLI prints it. */
    static String arborError(ThrowableAssert.ThrowingCallable call) {
        ArborException e = catchThrowableOfType(ArborException.class, call);
        assertThat(e).as("an ArborException").isNotNull();
        String m = e.getMessage();
        assertThat(m).doesNotContain("\n").endsWith(".");
        return m;
    }

    static int[] concat(List<int[]> parts) {
        int n = 0;
        for (int[] p : parts) n += p.length;
        int[] out = new int[n];
        int at = 0;
        for (int[] p : parts) {
            System.arraycopy(p, 0, out, at, p.length);
            at += p.length;
        }
        return out;
    }

    static int[] append(int[] a, int... b) {
        return concat(List.of(a, b));
    }

    static int[] all(TokenCorpus c) {
        int[] out = new int[Math.toIntExact(c.size())];
        c.read(0, out, 0, out.length);
        return out;
    }
}
