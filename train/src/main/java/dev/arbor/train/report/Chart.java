package dev.arbor.train.report;

import java.math.BigDecimal;
import java.math.MathContext;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * A 2-D line/marker chart and its layout, drawn the same way on any {@link Canvas} (so the
 * PNG and the inline SVG agree). Series are expected sorted by x; non-finite points (and
 * non-positive ones on a log axis) break lines instead of being drawn.
 */
final class Chart {
    enum Style { LINE, MARKERS }

    /**
     * One curve. For MARKERS, color is the outline and fill the inside (-1: hollow). Lines
     * with more points than pixels are reduced to each pixel column's first, min, max and last
     * points, which keeps spikes visible and SVG paths small.
     */
    record Series(String label, double[] x, double[] y, int color, int fill, Style style, double width, double alpha,
            boolean inLegend) {
        static Series line(String label, double[] x, double[] y, int color, double width, double alpha, boolean inLegend) {
            return new Series(label, x, y, color, color, Style.LINE, width, alpha, inLegend);
        }

        static Series markers(String label, double[] x, double[] y, int stroke, int fill, boolean inLegend) {
            return new Series(label, x, y, stroke, fill, Style.MARKERS, 1, 1, inLegend);
        }
    }

    static final int TEXT = 0x222222, AXIS = 0x444444, GRID = 0xE6E6E6, MUTED = 0x777777;
    private static final double TICK_FONT = 11, LABEL_FONT = 12, TITLE_FONT = 15, MARKER_R = 3.5;

    final String title, xLabel, yLabel;
    final List<Series> series = new ArrayList<>();
    /** null: log when every value is positive and they span more than a factor of 3. */
    Boolean logY;

    Chart(String title, String xLabel, String yLabel) {
        this.title = title;
        this.xLabel = xLabel;
        this.yLabel = yLabel;
    }

    Chart add(Series s) {
        series.add(s);
        return this;
    }

    /** The y scale actually used. */
    boolean usesLogY() {
        double min = Double.POSITIVE_INFINITY, max = Double.NEGATIVE_INFINITY;
        boolean nonPositive = false;
        for (Series s : series)
            for (int i = 0; i < s.y.length; i++) {
                double y = s.y[i];
                if (!Double.isFinite(y) || !Double.isFinite(s.x[i])) continue;
                if (y <= 0) nonPositive = true;
                else {
                    min = Math.min(min, y);
                    max = Math.max(max, y);
                }
            }
        if (min > max) return false; // no positive values: nothing a log axis could show
        if (logY != null) return logY;
        // A loss falling from ln(vocab) ~ 10 to ~3 is easier to read in log space; narrow ranges are not.
        return !nonPositive && max / min > 3;
    }

    void paint(Canvas c, int w, int h) {
        boolean log = usesLogY();
        c.rect(0, 0, w, h, 0xFFFFFF, 1, -1);

        // data bounds over the points that can be drawn
        double x0 = Double.POSITIVE_INFINITY, x1 = Double.NEGATIVE_INFINITY, y0 = x0, y1 = x1;
        for (Series s : series)
            for (int i = 0; i < s.x.length; i++) {
                if (!drawable(s.x[i], s.y[i], log)) continue;
                x0 = Math.min(x0, s.x[i]);
                x1 = Math.max(x1, s.x[i]);
                y0 = Math.min(y0, s.y[i]);
                y1 = Math.max(y1, s.y[i]);
            }
        boolean empty = x0 > x1;
        if (empty) {
            x0 = 0;
            x1 = 1;
            y0 = 0;
            y1 = 1;
            log = false;
        }

        double top = title != null ? TITLE_FONT + 18 : 12;
        double bottom = h - (10 + TICK_FONT + 6 + (xLabel != null ? LABEL_FONT + 8 : 0));
        double ph = Math.max(10, bottom - top);
        Axis ya = log ? Axis.log(y0, y1, 0.05, Math.max(3, (int) (ph / 45))) : Axis.linear(y0, y1, 0.05, Math.max(3, (int) (ph / 45)), true);
        String[] yLabels = Axis.labels(ya.ticks, log);
        double maxLabel = 0;
        for (String s : yLabels) maxLabel = Math.max(maxLabel, c.textWidth(s, TICK_FONT, false));
        double left = 8 + (yLabel != null ? LABEL_FONT + 10 : 0) + maxLabel + 8;
        double right = w - 18;
        double pw = Math.max(10, right - left);
        Axis xa = Axis.linear(x0, x1, 0.015, Math.max(2, (int) (pw / 90)), true); // a little room for edge markers
        String[] xLabels = Axis.labels(xa.ticks, false);

        // grid, frame, ticks
        for (double t : ya.ticks) {
            double py = bottom - ya.frac(t) * ph;
            c.line(left, py, right, py, GRID, 1, false);
        }
        for (double t : xa.ticks) {
            double px = left + xa.frac(t) * pw;
            c.line(px, top, px, bottom, GRID, 1, false);
        }
        c.rect(left, top, pw, ph, -1, 0, AXIS);
        double lastY = Double.POSITIVE_INFINITY;
        for (int i = 0; i < ya.ticks.length; i++) {
            double py = bottom - ya.frac(ya.ticks[i]) * ph;
            c.line(left - 4, py, left, py, AXIS, 1, false);
            if (lastY - py < TICK_FONT + 2) continue; // labels would overlap: keep the tick, skip the text
            c.text(yLabels[i], left - 7, py + TICK_FONT * 0.36, TICK_FONT, TEXT, Canvas.Anchor.END, false, false);
            lastY = py;
        }
        double lastRight = Double.NEGATIVE_INFINITY;
        for (int i = 0; i < xa.ticks.length; i++) {
            double px = left + xa.frac(xa.ticks[i]) * pw;
            c.line(px, bottom, px, bottom + 4, AXIS, 1, false);
            double tw = c.textWidth(xLabels[i], TICK_FONT, false);
            if (px - tw / 2 < lastRight + 8) continue;
            c.text(xLabels[i], px, bottom + 6 + TICK_FONT, TICK_FONT, TEXT, Canvas.Anchor.MIDDLE, false, false);
            lastRight = px + tw / 2;
        }
        if (xLabel != null) c.text(xLabel, left + pw / 2, h - 9, LABEL_FONT, TEXT, Canvas.Anchor.MIDDLE, false, false);
        if (yLabel != null)
            c.text(yLabel + (log ? " (log scale)" : ""), 8 + LABEL_FONT, top + ph / 2, LABEL_FONT, TEXT, Canvas.Anchor.MIDDLE, false, true);
        if (title != null) c.text(title, left + pw / 2, TITLE_FONT + 8, TITLE_FONT, TEXT, Canvas.Anchor.MIDDLE, true, false);
        if (empty) {
            c.text("no data", left + pw / 2, top + ph / 2, LABEL_FONT, MUTED, Canvas.Anchor.MIDDLE, false, false);
            return;
        }

        // curves, clipped to the plot area
        List<double[]> occupied = new ArrayList<>(); // pixel positions, for placing the legend
        c.clip(left, top, pw, ph);
        for (Series s : series) {
            double[] px = new double[s.x.length], py = new double[s.x.length];
            int n = 0;
            for (int i = 0; i <= s.x.length; i++) {
                boolean ok = i < s.x.length && drawable(s.x[i], s.y[i], log);
                if (ok) {
                    px[n] = left + xa.frac(s.x[i]) * pw;
                    py[n] = bottom - ya.frac(s.y[i]) * ph;
                    occupied.add(new double[] {px[n], py[n]});
                    n++;
                }
                if (s.style == Style.LINE && !ok && n > 0) { // end of an unbroken run
                    double[][] d = decimate(px, py, n, pw);
                    c.polyline(d[0], d[1], d[0].length, s.color, s.width, s.alpha);
                    n = 0;
                }
            }
            if (s.style == Style.MARKERS)
                for (int i = 0; i < n; i++) c.circle(px[i], py[i], MARKER_R, s.fill, s.color);
        }
        c.unclip();
        legend(c, left, top, pw, ph, occupied);
    }

    private static boolean drawable(double x, double y, boolean log) {
        return Double.isFinite(x) && Double.isFinite(y) && (!log || y > 0);
    }

    /** Keeps each pixel column's first, min, max and last points when there are many more points than columns. */
    static double[][] decimate(double[] px, double[] py, int n, double columns) {
        if (n <= 4 * columns) return new double[][] {java.util.Arrays.copyOf(px, n), java.util.Arrays.copyOf(py, n)};
        double[] ox = new double[n], oy = new double[n];
        int m = 0;
        int start = 0;
        while (start < n) {
            long col = (long) Math.floor(px[start]);
            int end = start, lo = start, hi = start;
            while (end < n && (long) Math.floor(px[end]) == col) {
                if (py[end] < py[lo]) lo = end;
                if (py[end] > py[hi]) hi = end;
                end++;
            }
            int[] keep = {start, Math.min(lo, hi), Math.max(lo, hi), end - 1};
            int prev = -1;
            for (int k : keep)
                if (k != prev && k >= start) {
                    ox[m] = px[k];
                    oy[m] = py[k];
                    m++;
                    prev = k;
                }
            start = end;
        }
        return new double[][] {java.util.Arrays.copyOf(ox, m), java.util.Arrays.copyOf(oy, m)};
    }

    /** The legend box, in whichever corner of the plot covers the fewest data points. */
    private void legend(Canvas c, double left, double top, double pw, double ph, List<double[]> occupied) {
        List<Series> items = series.stream().filter(Series::inLegend).toList();
        if (items.isEmpty()) return;
        double textW = 0;
        for (Series s : items) textW = Math.max(textW, c.textWidth(s.label, TICK_FONT, false));
        double row = TICK_FONT + 7, bw = 8 + 24 + 6 + textW + 10, bh = 6 + row * items.size() + 2;
        double[][] corners = {
            {left + pw - bw - 8, top + 8}, {left + pw - bw - 8, top + ph - bh - 8}, {left + 8, top + 8}, {left + 8, top + ph - bh - 8}};
        double bx = corners[0][0], by = corners[0][1];
        long best = Long.MAX_VALUE;
        for (double[] k : corners) {
            long inside = occupied.stream().filter(p -> p[0] >= k[0] - 4 && p[0] <= k[0] + bw + 4 && p[1] >= k[1] - 4 && p[1] <= k[1] + bh + 4).count();
            if (inside < best) { // strict: ties keep the earlier corner (top right first)
                best = inside;
                bx = k[0];
                by = k[1];
            }
        }
        c.rect(bx, by, bw, bh, 0xFFFFFF, 0.88, 0xCCCCCC);
        for (int i = 0; i < items.size(); i++) {
            Series s = items.get(i);
            double cy = by + 6 + row * i + row / 2 - 2;
            if (s.style == Style.LINE) c.polyline(new double[] {bx + 8, bx + 32}, new double[] {cy, cy}, 2, s.color, Math.max(s.width, 1.5), Math.max(s.alpha, 0.35));
            else c.circle(bx + 20, cy, MARKER_R, s.fill, s.color);
            c.text(s.label, bx + 38, cy + TICK_FONT * 0.36, TICK_FONT, TEXT, Canvas.Anchor.START, false, false);
        }
    }

    /** An axis: its range, scale and tick positions. */
    record Axis(double lo, double hi, boolean log, double[] ticks) {
        double frac(double v) {
            return log ? (Math.log10(v) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo)) : (v - lo) / (hi - lo);
        }

        static Axis linear(double min, double max, double pad, int target, boolean zeroFloor) {
            if (min == max) {
                double d = min == 0 ? 1 : Math.abs(min) * 0.1;
                min -= d;
                max += d;
            }
            double span = max - min, lo = min - pad * span, hi = max + pad * span;
            // non-negative data near zero: start the axis at zero (not below it, not just above it)
            if (zeroFloor && min >= 0 && lo < 0.2 * span) lo = 0;
            return new Axis(lo, hi, false, niceTicks(lo, hi, target));
        }

        static Axis log(double min, double max, double pad, int target) {
            double a = Math.log10(min), b = Math.log10(max);
            if (a == b) {
                a -= 0.1;
                b += 0.1;
            }
            double span = b - a;
            a -= pad * span;
            b += pad * span;
            double lo = Math.pow(10, a), hi = Math.pow(10, b);
            // the densest "nice" mantissa set that does not crowd the axis
            int[][] sets = {{1, 2, 3, 4, 5, 6, 7, 8, 9}, {1, 2, 3, 5}, {1, 2, 5}, {1}};
            for (int[] set : sets) {
                List<Double> t = new ArrayList<>();
                for (int e = (int) Math.floor(a); e <= (int) Math.ceil(b); e++)
                    for (int m : set) {
                        double v = m * Math.pow(10, e);
                        if (v >= lo * (1 - 1e-9) && v <= hi * (1 + 1e-9)) t.add(v);
                    }
                if (t.size() <= target + 2 || set.length == 1) {
                    if (t.size() >= 2) {
                        if (t.size() > target + 2) { // many decades: every k-th power of ten
                            int stride = (int) Math.ceil(t.size() / (double) target);
                            List<Double> thin = new ArrayList<>();
                            for (int i = 0; i < t.size(); i += stride) thin.add(t.get(i));
                            t = thin;
                        }
                        return new Axis(lo, hi, true, t.stream().mapToDouble(Double::doubleValue).toArray());
                    }
                    break; // too narrow for round mantissas: linear ticks, log positions
                }
            }
            return new Axis(lo, hi, true, niceTicks(lo, hi, target));
        }

        /** Multiples of 1, 2 or 5 x 10^k inside [lo, hi], about target of them. */
        static double[] niceTicks(double lo, double hi, int target) {
            double raw = (hi - lo) / Math.max(1, target);
            double mag = Math.pow(10, Math.floor(Math.log10(raw)));
            double norm = raw / mag;
            double step = (norm < 1.5 ? 1 : norm < 3 ? 2 : norm < 7 ? 5 : 10) * mag;
            List<Double> t = new ArrayList<>();
            for (double k = Math.ceil(lo / step - 1e-9); k * step <= hi + step * 1e-9; k++) t.add(k * step + 0.0); // + 0.0: no -0
            return t.stream().mapToDouble(Double::doubleValue).toArray();
        }

        /**
         * Tick labels: SI suffixes from 10^4 up (24.6M tokens), scientific below 10^-3
         * (learning rates), otherwise plain, with as few decimals as tell the ticks apart.
         */
        static String[] labels(double[] ticks, boolean perTick) {
            String[] out = new String[ticks.length];
            double maxAbs = 0;
            for (double t : ticks) maxAbs = Math.max(maxAbs, Math.abs(t));
            for (int i = 0; i < ticks.length; i++) {
                double ref = perTick ? Math.abs(ticks[i]) : maxAbs;
                out[i] = label(ticks[i], ref, perTick ? new double[] {ticks[i]} : ticks);
            }
            return out;
        }

        private static String label(double v, double ref, double[] group) {
            if (v == 0) return "0";
            if (ref >= 1e4) {
                String[] suffix = {"k", "M", "G", "T", "P", "E"};
                int p = Math.min(suffix.length, (int) Math.floor(Math.log10(ref) / 3));
                double unit = Math.pow(1000, p);
                return plain(v / unit, decimals(group, unit)) + suffix[p - 1];
            }
            if (ref < 1e-3) {
                for (int d = 0; d <= 6; d++) {
                    String s = String.format(Locale.ROOT, "%." + d + "e", v);
                    if (Math.abs(Double.parseDouble(s) - v) <= 1e-6 * Math.abs(v) || d == 6)
                        return s.replace("e-0", "e-").replace("e+0", "e").replace("e+", "e");
                }
            }
            return plain(v, decimals(group, 1));
        }

        private static int decimals(double[] group, double unit) {
            double maxAbs = 0;
            for (double t : group) maxAbs = Math.max(maxAbs, Math.abs(t / unit));
            for (int d = 0; d < 6; d++) {
                boolean exact = true;
                double f = Math.pow(10, d);
                for (double t : group) {
                    double s = t / unit;
                    if (Math.abs(Math.rint(s * f) / f - s) > 1e-6 * Math.max(maxAbs, 1e-12)) exact = false;
                }
                if (exact) return d;
            }
            return 6;
        }

        private static String plain(double v, int decimals) {
            return new BigDecimal(v).round(MathContext.DECIMAL64).setScale(decimals, java.math.RoundingMode.HALF_EVEN).toPlainString();
        }
    }
}
