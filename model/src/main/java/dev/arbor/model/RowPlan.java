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

    static RowPlan decode(int rows) {
        int[] all = new int[rows];
        for (int i = 0; i < rows; i++) all[i] = i;
        return new RowPlan(new int[0], new int[0], all);
    }
}
