package dev.arbor.model;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import static org.assertj.core.api.Assertions.assertThat;

class SequenceTest {

    /**
     * put writes each row's keys where {@link Attention#keyAt} says and its values row-major, whether a run starts at
     * a 16-aligned position (register-block transposes where the vectors are 16 lanes wide) or not, for runs of two
     * sequences in one batch and head sizes that do and do not split into blocks of 16.
     */
    @ParameterizedTest
    @CsvSource({"64,0,40,5,70", "64,16,33,0,16", "48,3,50,32,7", "40,0,64,9,20", "80,0,96,0,1"})
    void putStoresEveryRowWhereAttentionReadsIt(int headDim, int startA, int rowsA, int startB, int rowsB) {
        int kvHeads = 3, kv = kvHeads * headDim, capacity = 128;
        Sequence a = sequence(kvHeads, headDim, capacity), b = sequence(kvHeads, headDim, capacity);
        int rows = rowsA + rowsB;
        Sequence[] rowSeq = new Sequence[rows];
        int[] rowPos = new int[rows];
        for (int r = 0; r < rows; r++) {
            rowSeq[r] = r < rowsA ? a : b;
            rowPos[r] = r < rowsA ? startA + r : startB + r - rowsA;
        }
        float[] k = new float[rows * kv], v = new float[rows * kv];
        for (int i = 0; i < k.length; i++) {
            k[i] = i + 0.25f;
            v[i] = -i - 0.5f;
        }
        Sequence.put(rowSeq, rowPos, 0, rows, 0, k, v, kvHeads, headDim);
        for (int r = 0; r < rows; r++) {
            Sequence s = rowSeq[r];
            for (int g = 0; g < kvHeads; g++) {
                for (int d = 0; d < headDim; d++) {
                    int at = r * kv + g * headDim + d;
                    assertThat(s.keys[0][g][Attention.keyAt(d, rowPos[r], headDim)]).as("key row %d head %d dim %d", r, g, d).isEqualTo(k[at]);
                    assertThat(s.values[0][g][rowPos[r] * headDim + d]).as("value row %d head %d dim %d", r, g, d).isEqualTo(v[at]);
                }
            }
        }
    }

    private static Sequence sequence(int kvHeads, int headDim, int capacity) {
        Sequence s = new Sequence(null, null, 1, kvHeads, headDim);
        for (int g = 0; g < kvHeads; g++) {
            s.keys[0][g] = new float[capacity * headDim];
            s.values[0][g] = new float[capacity * headDim];
        }
        s.capacity = capacity;
        return s;
    }
}
