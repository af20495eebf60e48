package dev.arbor.model;

import java.util.List;

/**
 * Which rows of a batch are prompt segments (a sequence given several tokens) and which are
 * single decode rows, so that a backend can pick a kernel for each: on the CPU, prompt segments go
 * through the packed GEMM and decode rows through the Matmul kernels. Both compute each row
 * independently of the other rows, so a sequence's result depends only on how many tokens it was
 * itself given, never on what it was batched with.
 */
record RowPlan(int[] segStart, int[] segLen, int[] decodeRows) {
    static RowPlan of(List<int[]> tokens) {
        int segs = 0, dec = 0;
        for (int[] t : tokens) if (t.length > 1) segs++; else dec++;
        int[] start = new int[segs], len = new int[segs], rows = new int[dec];
        int r = 0, si = 0, di = 0;
        for (int[] t : tokens) {
            if (t.length > 1) { start[si] = r; len[si++] = t.length; } else rows[di++] = r;
            r += t.length;
        }
        return new RowPlan(start, len, rows);
    }

    /**
     * The rows a backend should give its row-at-a-time kernels when only segments of at least
     * minSegment rows are worth a matrix-matrix product: every decode row and every row of a shorter
     * segment, in ascending order. Whether a row is among them depends only on its own sequence's
     * token count, so the batch-independence above still holds.
     */
    int[] rowsOutside(int minSegment) {
        int n = decodeRows.length;
        for (int len : segLen) if (len < minSegment) n += len;
        int[] rows = new int[n];
        int i = 0, d = 0;
        for (int s = 0; s <= segStart.length; s++) {
            int bound = s < segStart.length ? segStart[s] : Integer.MAX_VALUE;
            while (d < decodeRows.length && decodeRows[d] < bound) rows[i++] = decodeRows[d++];
            if (s < segStart.length && segLen[s] < minSegment) for (int r = 0; r < segLen[s]; r++) rows[i++] = segStart[s] + r;
        }
        return rows;
    }

    static RowPlan decode(int rows) {
        int[] all = new int[rows];
        for (int i = 0; i < rows; i++) all[i] = i;
        return new RowPlan(new int[0], new int[0], all);
    }
}
