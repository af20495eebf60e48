package dev.arbor.train.report;

import dev.arbor.format.AtomicFiles;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.math.BigDecimal;
import java.math.MathContext;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;
import javax.imageio.ImageIO;

/**
 * Pictures and a summary of training runs from their {@link MetricsLog} records.
 *
 * <ul>
 *   <li>{@link #write}: {@code loss.png} (train loss raw + smoothed, val loss as markers) and a
 *       self-contained {@code report.html} (summary table, the same chart as inline SVG, plus
 *       learning rate, gradient norm, throughput and mask charts for the keys present).
 *   <li>{@link #compare}: several runs overlaid on one chart (e.g. grown vs. not grown), x by
 *       step, tokens or FLOPs, as PNG and/or HTML with a table of one row per run.
 * </ul>
 *
 * <p>Records with {@code loss} are training steps, records with {@code val_loss} evaluations.
 * When a step occurs twice (a run resumed without truncating its log), the later record
 * wins. Non-finite values are not plotted but are counted in the table. Files are written
 * atomically (temporary file, fsync, rename). Rendering needs no display and no fonts: AWT is
 * put in headless mode, and if the JDK cannot render text a built-in bitmap font is used.
 */
public final class TrainingReport {
    static {
        Java2dCanvas.ensureHeadless();
    }

    private TrainingReport() {}

    /** What the x axis measures; TOKENS and FLOPS read the {@code tokens} / {@code flops} keys. */
    public enum XAxis {
        STEP("step", "step"), TOKENS("tokens", "tokens"), FLOPS("flops", "training FLOPs");

        private final String key, label;

        XAxis(String key, String label) {
            this.key = key;
            this.label = label;
        }

        public String key() {
            return key;
        }
    }

    public enum YScale { AUTO, LINEAR, LOG }

    /**
     * Rendering choices. {@code smoothing}: EMA weight in [0, 1) for the smoothed train line
     * (0 = none), or negative for automatic (about n/25 points of memory, at most 200).
     * {@code title} null: a default. AUTO y scale: log when all values are positive and span
     * more than a factor of 3, else linear.
     */
    public record Options(String title, int width, int height, double smoothing, YScale yScale, XAxis xAxis) {
        public Options {
            if (width < 200 || height < 150) throw new IllegalArgumentException("image too small: " + width + "x" + height);
            if (smoothing >= 1) throw new IllegalArgumentException("smoothing must be < 1");
            Objects.requireNonNull(yScale);
            Objects.requireNonNull(xAxis);
        }

        public static Options defaults() {
            return new Options(null, 1000, 600, -1, YScale.AUTO, XAxis.STEP);
        }

        public Options withTitle(String t) {
            return new Options(t, width, height, smoothing, yScale, xAxis);
        }

        public Options withSize(int w, int h) {
            return new Options(title, w, h, smoothing, yScale, xAxis);
        }

        public Options withSmoothing(double s) {
            return new Options(title, width, height, s, yScale, xAxis);
        }

        public Options withYScale(YScale y) {
            return new Options(title, width, height, smoothing, y, xAxis);
        }

        public Options withXAxis(XAxis x) {
            return new Options(title, width, height, smoothing, yScale, x);
        }
    }

    /**
     * Figures of one run. NaN where there is nothing to show (no val records: the val fields;
     * no tokens key: tokens). {@code tokensPerSecond} is the median of the {@code tokens_per_s}
     * values, or tokens / wall time when there are none; {@code wallSeconds} the largest
     * {@code elapsed_s}. first/last loss are the first and last train records' values as
     * logged (non-finite if the run diverged), best the lowest finite one.
     */
    public record RunStats(long lastStep, int trainRecords, int valRecords, double tokens, double firstLoss,
            double lastLoss, double bestLoss, long bestLossStep, double lastValLoss, double bestValLoss,
            long bestValStep, double tokensPerSecond, double wallSeconds, int nonFiniteLosses) {

        public static RunStats of(List<MetricRecord> records) {
            Runs r = Runs.of(records);
            long lastStep = -1;
            double tokens = Double.NaN, wall = Double.NaN;
            for (MetricRecord m : records) {
                lastStep = Math.max(lastStep, m.step());
                tokens = maxFinite(tokens, m.get("tokens"));
                wall = maxFinite(wall, m.get("elapsed_s"));
            }
            double first = r.train.isEmpty() ? Double.NaN : r.train.firstEntry().getValue().get("loss");
            double last = Double.NaN, best = Double.NaN, lastVal = Double.NaN, bestVal = Double.NaN;
            long bestStep = -1, bestValStep = -1;
            int nonFinite = 0;
            List<Double> rates = new ArrayList<>();
            for (MetricRecord m : r.train.values()) {
                double l = m.get("loss");
                last = l;
                if (!Double.isFinite(l)) nonFinite++;
                else if (Double.isNaN(best) || l < best) {
                    best = l;
                    bestStep = m.step();
                }
                double tps = m.get("tokens_per_s");
                if (Double.isFinite(tps)) rates.add(tps);
            }
            for (MetricRecord m : r.val.values()) {
                double v = m.get("val_loss");
                lastVal = v;
                if (Double.isFinite(v) && (Double.isNaN(bestVal) || v < bestVal)) {
                    bestVal = v;
                    bestValStep = m.step();
                }
            }
            double rate;
            if (!rates.isEmpty()) {
                double[] s = rates.stream().mapToDouble(Double::doubleValue).sorted().toArray();
                rate = s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
            } else {
                rate = wall > 0 ? tokens / wall : Double.NaN;
            }
            return new RunStats(lastStep, r.train.size(), r.val.size(), tokens, first, last, best, bestStep, lastVal,
                    bestVal, bestValStep, rate, wall, nonFinite);
        }

        private static double maxFinite(double acc, double v) {
            if (!Double.isFinite(v)) return acc;
            return Double.isNaN(acc) ? v : Math.max(acc, v);
        }
    }

    // ---------------------------------------------------------------- single run

    /** {@link #write(List, Path, Map, Options)} with the records of a metrics JSONL file. */
    public static RunStats write(Path metricsJsonl, Path outDir, Map<String, ?> summary) throws IOException {
        return write(MetricsLog.read(metricsJsonl), outDir, summary, Options.defaults());
    }

    public static RunStats write(List<MetricRecord> records, Path outDir, Map<String, ?> summary) throws IOException {
        return write(records, outDir, summary, Options.defaults());
    }

    /**
     * Writes {@code outDir/loss.png} and {@code outDir/report.html}. {@code summary} entries
     * (model name, config, hardware, anything) are listed in the table, "model" first; values
     * are printed with toString (numbers formatted). Returns the run's figures.
     */
    public static RunStats write(List<MetricRecord> records, Path outDir, Map<String, ?> summary, Options options)
            throws IOException {
        Map<String, ?> extra = summary == null ? Map.of() : summary;
        Object model = extra.get("model");
        String title = options.title() != null ? options.title() : model != null ? "Training loss: " + model : "Training loss";
        Chart loss = lossChart(Map.of("", records), title, options, false);
        RunStats stats = RunStats.of(records);

        writePng(loss, options.width(), options.height(), outDir.resolve("loss.png"));

        StringBuilder html = page(title);
        html.append("<table class=\"summary\">\n");
        row(html, "model", model == null ? "\u2014" : text(model));
        row(html, "steps", stats.lastStep() < 0 ? "\u2014" : count(stats.lastStep()));
        row(html, "tokens", count(stats.tokens()));
        row(html, "train loss: first", lossText(stats.firstLoss(), stats.trainRecords()));
        row(html, "train loss: last", lossText(stats.lastLoss(), stats.trainRecords()));
        row(html, "train loss: best", lossText(stats.bestLoss(), stats.trainRecords())
                + (stats.bestLossStep() >= 0 ? " (step " + count(stats.bestLossStep()) + ")" : ""));
        row(html, "val loss: last", lossText(stats.lastValLoss(), stats.valRecords()));
        row(html, "val loss: best", lossText(stats.bestValLoss(), stats.valRecords())
                + (stats.bestValStep() >= 0 ? " (step " + count(stats.bestValStep()) + ")" : ""));
        row(html, "tokens/s", rate(stats.tokensPerSecond()));
        row(html, "wall time", duration(stats.wallSeconds()));
        if (stats.nonFiniteLosses() > 0) row(html, "non-finite train losses", count(stats.nonFiniteLosses()));
        for (var e : extra.entrySet())
            if (!e.getKey().equals("model")) row(html, SvgCanvas.escape(e.getKey()), text(e.getValue()));
        html.append("</table>\n");

        html.append("<figure>").append(svg(loss, options.width(), options.height(), "loss")).append("</figure>\n");
        html.append("<div class=\"charts\">\n");
        // secondary curves, when the log has them
        String[][] extras = {
            {"lr", "learning rate"}, {"grad_norm", "gradient norm"}, {"tokens_per_s", "throughput (tokens/s)"}, {"mask", "mask"}};
        Runs runs = Runs.of(records);
        for (String[] k : extras) {
            double[][] xy = runs.series(runs.train, k[0], options.xAxis(), "");
            if (xy[0].length == 0) continue;
            Chart c = new Chart(k[1], options.xAxis().label, k[0]);
            c.logY = k[0].equals("grad_norm") ? null : false; // gradient norms can span decades
            c.add(xy[0].length == 1 ? Chart.Series.markers(k[1], xy[0], xy[1], BLUE, BLUE, false)
                    : Chart.Series.line(k[1], xy[0], xy[1], BLUE, 1.5, 1, false));
            html.append("<figure>").append(svg(c, 490, 280, k[0])).append("</figure>\n");
        }
        html.append("</div>\n");
        html.append("<p class=\"note\">").append(SvgCanvas.escape(legendNote(options, records.size()))).append("</p>\n");
        html.append("</body>\n</html>\n");
        AtomicFiles.writeString(outDir.resolve("report.html"), html.toString());
        return stats;
    }

    // ---------------------------------------------------------------- several runs

    /** Overlays runs (label to metrics JSONL), x by step. Either output may be null. */
    public static void compare(Map<String, Path> runs, Path outPng, Path outHtml, String title) throws IOException {
        compare(runs, outPng, outHtml, title, XAxis.STEP);
    }

    public static void compare(Map<String, Path> runs, Path outPng, Path outHtml, String title, XAxis x) throws IOException {
        Map<String, List<MetricRecord>> loaded = new LinkedHashMap<>();
        for (var e : runs.entrySet()) loaded.put(e.getKey(), MetricsLog.read(e.getValue()));
        compareRecords(loaded, outPng, outHtml, Options.defaults().withTitle(title).withXAxis(x));
    }

    /**
     * Overlays runs (in the map's order, colours in that order) on one loss chart: each run's
     * smoothed train loss as a line over its faint raw values, its val loss as hollow markers
     * of the same colour. With x = TOKENS or FLOPS, records lacking the key (val records
     * usually do) get a value interpolated by step from the records that have it; a run with
     * no such key at all is an IllegalArgumentException. The HTML has the chart as SVG and one
     * table row per run.
     */
    public static Map<String, RunStats> compareRecords(Map<String, List<MetricRecord>> runs, Path outPng, Path outHtml,
            Options options) throws IOException {
        if (runs.isEmpty()) throw new IllegalArgumentException("no runs to compare");
        String title = options.title() != null ? options.title() : "Training loss: " + String.join(" vs ", runs.keySet());
        Chart chart = lossChart(runs, title, options, true);
        Map<String, RunStats> stats = new LinkedHashMap<>();
        for (var e : runs.entrySet()) stats.put(e.getKey(), RunStats.of(e.getValue()));
        if (outPng != null) writePng(chart, options.width(), options.height(), outPng);
        if (outHtml != null) {
            StringBuilder html = page(title);
            html.append("<figure>").append(svg(chart, options.width(), options.height(), "cmp")).append("</figure>\n");
            html.append("<table class=\"runs\">\n<tr><th>run</th><th>steps</th><th>tokens</th><th>train loss first</th>"
                    + "<th>last</th><th>best</th><th>val loss last</th><th>best</th><th>tokens/s</th><th>wall time</th></tr>\n");
            int i = 0;
            for (var e : stats.entrySet()) {
                RunStats s = e.getValue();
                html.append("<tr><td><span class=\"swatch\" style=\"background:").append(SvgCanvas.hex(PALETTE[i++ % PALETTE.length]))
                        .append("\"></span>").append(SvgCanvas.escape(e.getKey())).append("</td>");
                for (String v : new String[] {
                    s.lastStep() < 0 ? "\u2014" : count(s.lastStep()), count(s.tokens()),
                    lossText(s.firstLoss(), s.trainRecords()), lossText(s.lastLoss(), s.trainRecords()),
                    lossText(s.bestLoss(), s.trainRecords()), lossText(s.lastValLoss(), s.valRecords()),
                    lossText(s.bestValLoss(), s.valRecords()), rate(s.tokensPerSecond()), duration(s.wallSeconds())})
                    html.append("<td class=\"num\">").append(v).append("</td>");
                html.append("</tr>\n");
            }
            html.append("</table>\n<p class=\"note\">").append(SvgCanvas.escape(legendNote(options, -1))).append("</p>\n");
            html.append("</body>\n</html>\n");
            AtomicFiles.writeString(outHtml, html.toString());
        }
        return stats;
    }

    // ---------------------------------------------------------------- charts

    static final int BLUE = 0x1f77b4, ORANGE = 0xff7f0e;
    /** Matplotlib's tab10: distinct, colour-blind-tolerable. */
    static final int[] PALETTE = {
        0x1f77b4, 0xff7f0e, 0x2ca02c, 0xd62728, 0x9467bd, 0x8c564b, 0xe377c2, 0x7f7f7f, 0xbcbd22, 0x17becf};

    static Chart lossChart(Map<String, List<MetricRecord>> runs, String title, Options o, boolean compare) {
        Chart c = new Chart(title, o.xAxis().label, "loss");
        c.logY = switch (o.yScale()) {
            case AUTO -> null;
            case LINEAR -> false;
            case LOG -> true;
        };
        int i = 0;
        for (var e : runs.entrySet()) {
            String name = e.getKey();
            int color = compare ? PALETTE[i++ % PALETTE.length] : BLUE;
            Runs r = Runs.of(e.getValue());
            double[][] train = r.series(r.train, "loss", o.xAxis(), name);
            double[][] val = r.series(r.val, "val_loss", o.xAxis(), name);
            double w = o.smoothing() >= 0 ? o.smoothing() : autoWeight(train[1].length);
            String prefix = compare ? name + ": " : "";
            if (w > 0) {
                c.add(Chart.Series.line(prefix + "train (raw)", train[0], train[1], color, 1, compare ? 0.2 : 0.3, !compare));
                c.add(Chart.Series.line(compare ? name : "train (EMA " + fmt2(w) + ")", train[0], ema(train[1], w), color, 2, 1, true));
            } else {
                c.add(Chart.Series.line(compare ? name : "train", train[0], train[1], color, 1.5, 1, true));
            }
            if (val[0].length > 0)
                c.add(compare ? Chart.Series.markers(prefix + "val", val[0], val[1], color, 0xFFFFFF, true)
                        : Chart.Series.markers("val", val[0], val[1], 0xB35806, ORANGE, true));
        }
        return c;
    }

    /** EMA weight for n points: a memory of about n/25 points (none below 38 points), at most 200. */
    static double autoWeight(int n) {
        double window = Math.min(200, Math.max(1, Math.round(n / 25.0)));
        return 1 - 2 / (window + 1);
    }

    /**
     * Exponential moving average with bias correction (as TensorBoard does): the start is
     * not dragged towards zero or towards the first point. Non-finite inputs are skipped
     * (and give NaN, a gap).
     */
    static double[] ema(double[] y, double w) {
        double[] out = new double[y.length];
        double acc = 0, norm = 0;
        for (int i = 0; i < y.length; i++) {
            if (!Double.isFinite(y[i])) {
                out[i] = Double.NaN;
                continue;
            }
            acc = acc * w + (1 - w) * y[i];
            norm = norm * w + (1 - w);
            out[i] = acc / norm;
        }
        return out;
    }

    /** One run's records keyed by step, later duplicates winning, split into train and val. */
    private record Runs(List<MetricRecord> all, TreeMap<Long, MetricRecord> train, TreeMap<Long, MetricRecord> val) {
        static Runs of(List<MetricRecord> records) {
            TreeMap<Long, MetricRecord> t = new TreeMap<>(), v = new TreeMap<>();
            for (MetricRecord r : records) {
                if (r.has("loss")) t.put(r.step(), r);
                if (r.has("val_loss")) v.put(r.step(), r);
            }
            return new Runs(records, t, v);
        }

        /** {x, y} of key over the given records, x per the axis choice. */
        double[][] series(TreeMap<Long, MetricRecord> recs, String key, XAxis axis, String run) {
            TreeMap<Long, Double> xs = axis == XAxis.STEP ? null : xByStep(axis, run);
            List<double[]> pts = new ArrayList<>();
            for (MetricRecord r : recs.values()) {
                if (!r.has(key)) continue;
                double x = axis == XAxis.STEP ? r.step() : Double.isFinite(r.get(axis.key)) ? r.get(axis.key) : interpolate(xs, r.step());
                pts.add(new double[] {x, r.get(key)});
            }
            pts.sort((a, b) -> Double.compare(a[0], b[0]));
            double[][] out = {new double[pts.size()], new double[pts.size()]};
            for (int i = 0; i < pts.size(); i++) {
                out[0][i] = pts.get(i)[0];
                out[1][i] = pts.get(i)[1];
            }
            return out;
        }

        private TreeMap<Long, Double> xByStep(XAxis axis, String run) {
            TreeMap<Long, Double> m = new TreeMap<>();
            for (MetricRecord r : all) if (Double.isFinite(r.get(axis.key))) m.put(r.step(), r.get(axis.key));
            if (m.isEmpty())
                throw new IllegalArgumentException((run.isEmpty() ? "the run" : "run '" + run + "'") + " has no \""
                        + axis.key + "\" values to plot against; use x = step");
            return m;
        }

        /** Linear in step between known points; beyond them, the nearest segment's slope (proportional with one point). */
        private static double interpolate(TreeMap<Long, Double> m, long step) {
            var lo = m.floorEntry(step);
            var hi = m.ceilingEntry(step);
            if (lo != null && hi != null) {
                if (lo.getKey().equals(hi.getKey())) return lo.getValue();
                return lo.getValue() + (hi.getValue() - lo.getValue()) * (step - lo.getKey()) / (double) (hi.getKey() - lo.getKey());
            }
            var a = lo != null ? m.lowerEntry(lo.getKey()) : hi;
            var b = lo != null ? lo : m.higherEntry(hi.getKey());
            if (a == null || b == null) { // a single known point
                var only = lo != null ? lo : hi;
                return only.getKey() == 0 ? only.getValue() : only.getValue() * step / (double) only.getKey();
            }
            double slope = (b.getValue() - a.getValue()) / (double) (b.getKey() - a.getKey());
            var anchor = lo != null ? b : a;
            return anchor.getValue() + slope * (step - anchor.getKey());
        }
    }

    // ---------------------------------------------------------------- output

    private static void writePng(Chart chart, int w, int h, Path target) throws IOException {
        BufferedImage img = Java2dCanvas.render(chart, w, h);
        ByteArrayOutputStream buf = new ByteArrayOutputStream(64 * 1024);
        if (!ImageIO.write(img, "png", buf)) throw new IOException("no PNG writer in this JDK");
        AtomicFiles.write(target, buf.toByteArray());
    }

    private static String svg(Chart chart, int w, int h, String id) {
        SvgCanvas c = new SvgCanvas(w, h, id);
        chart.paint(c, w, h);
        return c.finish();
    }

    private static StringBuilder page(String title) {
        StringBuilder b = new StringBuilder(64 * 1024);
        b.append("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>")
                .append(SvgCanvas.escape(title)).append("</title>\n<style>\n")
                .append("body{font-family:system-ui,-apple-system,'DejaVu Sans',Arial,sans-serif;margin:24px;color:#222;max-width:1040px}\n")
                .append("h1{font-size:20px}table{border-collapse:collapse;margin:12px 0 20px}\n")
                .append("th,td{padding:4px 12px;border-bottom:1px solid #e3e3e3;text-align:left}th{background:#f6f6f6}\n")
                .append("td.num{text-align:right;font-variant-numeric:tabular-nums}\n")
                .append("figure{margin:0 0 12px}svg{max-width:100%;height:auto}\n")
                .append(".charts{display:flex;flex-wrap:wrap;gap:12px}.note{color:#666;font-size:13px}\n")
                .append(".swatch{display:inline-block;width:10px;height:10px;margin-right:6px;border-radius:2px}\n")
                .append("</style>\n</head>\n<body>\n<h1>").append(SvgCanvas.escape(title)).append("</h1>\n");
        return b;
    }

    private static void row(StringBuilder html, String key, String valueHtml) {
        html.append("<tr><th>").append(key).append("</th><td class=\"num\">").append(valueHtml).append("</td></tr>\n");
    }

    private static String legendNote(Options o, int records) {
        String smooth = o.smoothing() < 0 ? "an exponential moving average (weight chosen from the number of points)"
                : o.smoothing() == 0 ? "no smoothing" : "an exponential moving average (weight " + fmt2(o.smoothing()) + ")";
        return "Train loss: faint line = logged values, solid line = " + smooth + ". Val loss: markers. x axis: "
                + o.xAxis().label + ". Non-finite values (stored as \"NaN\"/\"Infinity\" strings in the log) are not plotted."
                + (records >= 0 ? " " + records + " records." : "");
    }

    // ---------------------------------------------------------------- formatting

    static String lossText(double v, int n) {
        if (n == 0) return "\u2014";
        return Double.isFinite(v) ? String.format(Locale.ROOT, "%.4f", v) : String.valueOf(v);
    }

    static String count(double v) {
        if (Double.isNaN(v)) return "\u2014";
        return String.format(Locale.ROOT, "%,.0f", v);
    }

    static String rate(double v) {
        return Double.isFinite(v) ? String.format(Locale.ROOT, "%,.1f", v) : "\u2014";
    }

    /** "42.0 s", "3m 05s", "2h 03m 05s". */
    static String duration(double s) {
        if (!Double.isFinite(s)) return "\u2014";
        if (s < 60) return String.format(Locale.ROOT, "%.1f s", s);
        long t = Math.round(s);
        if (t < 3600) return String.format(Locale.ROOT, "%dm %02ds", t / 60, t % 60);
        return String.format(Locale.ROOT, "%dh %02dm %02ds", t / 3600, t / 60 % 60, t % 60);
    }

    /** A summary value as HTML: numbers formatted, everything else escaped text. */
    static String text(Object v) {
        if (v == null) return "\u2014";
        if (v instanceof Integer || v instanceof Long) return String.format(Locale.ROOT, "%,d", ((Number) v).longValue());
        if (v instanceof Double || v instanceof Float) {
            double d = ((Number) v).doubleValue();
            if (!Double.isFinite(d)) return String.valueOf(d);
            if (d == Math.rint(d) && Math.abs(d) < 1e15) return String.format(Locale.ROOT, "%,.0f", d);
            double a = Math.abs(d);
            if (a >= 1e-3 && a < 1e7) return new BigDecimal(d).round(new MathContext(6)).stripTrailingZeros().toPlainString();
            return String.format(Locale.ROOT, "%.4g", d);
        }
        return SvgCanvas.escape(v.toString());
    }

    private static String fmt2(double v) {
        return String.format(Locale.ROOT, "%.2f", v);
    }
}
