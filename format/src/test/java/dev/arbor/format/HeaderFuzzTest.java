package dev.arbor.format;

import com.code_intelligence.jazzer.junit.FuzzTest;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;

/**
 * Coverage-guided fuzzing of the header parser (Jazzer). Any input must either parse into a
 * header whose tensors tile the data section, or be refused with a FormatException; any other
 * exception or an OutOfMemoryError fails the test. CI runs it in fuzzing mode for a bounded time
 * (JAZZER_FUZZ=1, maxDuration); a plain run replays the seed corpus.
 */
class HeaderFuzzTest {

    @FuzzTest(maxDuration = "30s")
    void headerParserOnlyFailsCleanly(byte[] input) {
        if (input.length < 2) return;
        // The first two bytes choose the claimed data size; the rest is the header text.
        long dataBytes = ((input[0] & 0xFF) << 8 | (input[1] & 0xFF));
        byte[] header = java.util.Arrays.copyOfRange(input, 2, input.length);
        try {
            SafetensorsHeader h = SafetensorsHeader.parse("fuzz", header, dataBytes);
            long covered = 0;
            for (TensorInfo t : h.tensors()) covered += t.byteSize();
            if (covered != dataBytes) throw new AssertionError("accepted a header that does not cover the data");
            // what parses must survive a write/parse round trip
            SafetensorsHeader again = SafetensorsHeader.parse("again", h.toBytes(), dataBytes);
            if (!again.tensors().equals(h.tensors()) || !again.metadata().equals(h.metadata())) {
                throw new AssertionError("round trip changed the header");
            }
        } catch (FormatException expected) {
            if (expected.getMessage() == null || expected.getMessage().isBlank()) throw new AssertionError("empty message");
        }
    }

    /** Seed-like check that the harness itself accepts a valid header. */
    @org.junit.jupiter.api.Test
    void harnessAcceptsAValidHeader() {
        String h = "{\"__metadata__\":{\"format\":\"pt\"},\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
        byte[] hb = h.getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(2 + hb.length).order(ByteOrder.BIG_ENDIAN);
        b.putShort((short) 8).put(hb);
        headerParserOnlyFailsCleanly(b.array());
    }
}
