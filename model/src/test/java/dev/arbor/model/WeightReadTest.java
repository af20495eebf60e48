package dev.arbor.model;

import dev.arbor.format.Checkpoint;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The read that bounds decode reads the bytes decode reads: the checkpoint's pages until the weights are packed,
 * then the packed copies (each weight's rows padded to whole panels of {@link Gemm#NR}), and F16 weights, never
 * packed, always in place.
 */
class WeightReadTest {

    @Test
    void theBoundReadsThePackedCopiesOnceDecodeHasMadeThem() {
        try (Checkpoint ck = Goldens.open("gqa_bf16"); LlamaModel m = LlamaModel.load(ck, 2)) {
            long inPlace = m.weightBytesPerToken(), packed = 0;
            for (Weight w : m.decodeWeights()) packed += (long) Math.ceilDiv(w.rows(), Gemm.NR) * Gemm.NR * w.cols() * w.dtype().size();
            assertThat(packed).as("rows of 48, 16, 88 and 72 leave their last panels part empty").isGreaterThan(inPlace);

            MachineLimits.Read before = MachineLimits.weightRead(m);
            assertThat(before.bytes()).isEqualTo(inPlace);
            assertThat(before.nanos()).isPositive();

            m.step(m.newSequence(), 3);
            assertThat(MachineLimits.weightRead(m).bytes()).isEqualTo(packed);
        }
    }

    @Test
    void f16WeightsAreReadInPlace() {
        try (Checkpoint ck = Goldens.open("mqa_f16_3sh"); LlamaModel m = LlamaModel.load(ck, 2)) {
            m.step(m.newSequence(), 3);
            assertThat(MachineLimits.weightRead(m).bytes()).isEqualTo(m.weightBytesPerToken());
        }
    }
}
