package dev.arbor.train.report;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.awt.GraphicsEnvironment;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.stream.Stream;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TrainingReportTest {
    @TempDir Path dir;

    /** A plausible run: loss from ~10 towards `floor`, noisy; val every 50 steps (no tokens key, as a trainer logs it). */
    static List<MetricRecord> run(int steps, double floor, int tokensPerStep, long seed) {
        Random rnd = new Random(seed);
        List<MetricRecord> out = new ArrayList<>();
        for (int s = 1; s <= steps; s++) {
            double loss = floor + (10.4 - floor) * Math.exp(-s / 60.0) + rnd.nextGaussian() * 0.08;
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("tokens", (long) s * tokensPerStep);
            m.put("loss", loss);
            m.put("lr", 3e-4 * Math.min(1, s / 20.0));
            m.put("grad_norm", 1 + 5 * Math.exp(-s / 30.0));
            m.put("tokens_per_s", 400.0 + (s % 7));
            m.put("elapsed_s", s * tokensPerStep / 403.0);
            out.add(new MetricRecord(s, m));
            if (s % 50 == 0) out.add(MetricRecord.of(s, "val_loss", floor + 0.1 + (10.4 - floor) * Math.exp(-s / 60.0)));
        }
        return out;
    }

    /** Pixels within a small colour distance of rgb, inside the rectangle. */
    static int countNear(BufferedImage img, int rgb, int x0, int y0, int x1, int y1, int tolerance) {
        int n = 0;
        for (int y = y0; y < y1; y++)
            for (int x = x0; x < x1; x++) {
                int p = img.getRGB(x, y);
                int dr = ((p >> 16) & 0xFF) - ((rgb >> 16) & 0xFF), dg = ((p >> 8) & 0xFF) - ((rgb >> 8) & 0xFF), db = (p & 0xFF) - (rgb & 0xFF);
                if (dr * dr + dg * dg + db * db <= tolerance * tolerance) n++;
            }
        return n;
    }

    static int countDark(BufferedImage img, int x0, int y0, int x1, int y1) {
        int n = 0;
        for (int y = y0; y < y1; y++)
            for (int x = x0; x < x1; x++) {
                int p = img.getRGB(x, y);
                if (((p >> 16) & 0xFF) + ((p >> 8) & 0xFF) + (p & 0xFF) < 3 * 110) n++;
            }
        return n;
    }

    @Test
    void writesLossPngAndSelfContainedHtml() throws IOException {
        List<MetricRecord> recs = run(300, 3.0, 2048, 1);
        Path log = dir.resolve("metrics.jsonl");
        try (MetricsLog m = MetricsLog.create(log)) {
            for (MetricRecord r : recs) m.log(r);
        }
        Map<String, Object> summary = new LinkedHashMap<>();
        summary.put("model", "tiny <llama>");
        summary.put("params", 19_597_568L);
        summary.put("dtype", "f32");
        TrainingReport.RunStats st = TrainingReport.write(log, dir.resolve("out"), summary);

        assertThat(GraphicsEnvironment.isHeadless()).isTrue();
        BufferedImage img = ImageIO.read(dir.resolve("out/loss.png").toFile());
        assertThat(img).isNotNull();
        assertThat(img.getWidth()).isEqualTo(1000);
        assertThat(img.getHeight()).isEqualTo(600);
        // the plot area (well inside the margins) has the smoothed line's colour and val markers
        assertThat(countNear(img, TrainingReport.BLUE, 100, 50, 960, 540, 30)).isGreaterThan(300);
        assertThat(countNear(img, TrainingReport.ORANGE, 100, 50, 960, 540, 40)).isGreaterThan(20);
        assertThat(countNear(img, 0xFFFFFF, 0, 0, 1000, 600, 0)).isGreaterThan(100_000).isLessThan(590_000);
        assertThat(countDark(img, 0, 0, 1000, 40)).as("title text").isGreaterThan(50);
        assertThat(countDark(img, 0, 60, 100, 540)).as("y tick labels").isGreaterThan(50);

        assertThat(st.lastStep()).isEqualTo(300);
        assertThat(st.tokens()).isEqualTo(300 * 2048.0);
        assertThat(st.valRecords()).isEqualTo(6);
        assertThat(st.bestLoss()).isLessThan(st.firstLoss());
        String html = Files.readString(dir.resolve("out/report.html"));
        assertThat(html).startsWith("<!DOCTYPE html>").endsWith("</html>\n")
                .contains("<svg xmlns=\"http://www.w3.org/2000/svg\"", "<path d=\"M", "<circle ")
                .contains("tiny &lt;llama&gt;") // escaped
                .contains("19,597,568", "614,400", "f32")
                .contains(String.format(java.util.Locale.ROOT, "%.4f", recs.getFirst().get("loss")))
                .contains(String.format(java.util.Locale.ROOT, "%.4f", st.bestLoss()))
                .contains(String.format(java.util.Locale.ROOT, "%.4f", st.lastValLoss()))
                .contains("403.0") // median tokens/s
                .contains("learning rate", "gradient norm", "throughput")
                .doesNotContain("<img", "src=\"http", "<script"); // nothing external
        // every inline SVG is well-formed XML
        var svgs = java.util.regex.Pattern.compile("<svg .*?</svg>", java.util.regex.Pattern.DOTALL).matcher(html).results().toList();
        assertThat(svgs).hasSize(4); // loss, lr, grad_norm, tokens_per_s (the log has no mask key)
        for (var m : svgs) {
            try {
                var doc = javax.xml.parsers.DocumentBuilderFactory.newInstance().newDocumentBuilder()
                        .parse(new java.io.ByteArrayInputStream(m.group().getBytes(StandardCharsets.UTF_8)));
                assertThat(doc.getDocumentElement().getTagName()).isEqualTo("svg");
            } catch (javax.xml.parsers.ParserConfigurationException | org.xml.sax.SAXException e) {
                throw new AssertionError("bad SVG: " + e, e);
            }
        }
        // one clip path per chart, ids unique on the page
        assertThat(html).contains("id=\"loss-clip0\"", "id=\"lr-clip0\"");
        try (Stream<Path> s = Files.list(dir.resolve("out"))) {
            assertThat(s.map(p -> p.getFileName().toString()).sorted().toList()).containsExactly("loss.png", "report.html");
        }
    }

    @Test
    void bitmapFontFallbackStillLabelsTheChart() throws IOException {
        boolean was = Java2dCanvas.forceBitmapFont;
        Java2dCanvas.forceBitmapFont = true;
        try {
            TrainingReport.write(run(120, 3.5, 1024, 2), dir, Map.of("model", "m"),
                    TrainingReport.Options.defaults().withSize(640, 400).withTitle("Bitmap 0123456789"));
        } finally {
            Java2dCanvas.forceBitmapFont = was;
        }
        BufferedImage img = ImageIO.read(dir.resolve("loss.png").toFile());
        assertThat(img.getWidth()).isEqualTo(640);
        assertThat(img.getHeight()).isEqualTo(400);
        assertThat(countDark(img, 0, 0, 640, 36)).as("title").isGreaterThan(50);
        assertThat(countDark(img, 0, 40, 70, 360)).as("y tick labels").isGreaterThan(30);
        assertThat(countNear(img, TrainingReport.BLUE, 80, 40, 620, 360, 30)).isGreaterThan(100);
    }

    /**
     * A server without fonts: in a child JVM, fontconfig is given an empty configuration and
     * the JDK no font path, so Java2D text fails ("Fontconfig head is null"); the report must
     * still be written, its text drawn with the bitmap font.
     */
    @Test
    void rendersWithNoUsableFontsInAChildJvm() throws Exception {
        Path conf = Files.writeString(dir.resolve("empty-fonts.conf"), "<?xml version=\"1.0\"?>\n<fontconfig></fontconfig>\n");
        Path none = Files.createDirectories(dir.resolve("no-fonts"));
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        ProcessBuilder pb = new ProcessBuilder(java, "-Dsun.java2d.fontpath=" + none, "-Dsun.awt.fontconfig=" + none.resolve("none.properties"),
                "-cp", System.getProperty("java.class.path"), NoFonts.class.getName(), dir.resolve("nf").toString())
                .redirectErrorStream(true);
        pb.environment().put("FONTCONFIG_FILE", conf.toString());
        Process p = pb.start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor()).as(out).isZero();
        assertThat(out).contains("vector text: false"); // the JDK really had no fonts
        BufferedImage img = ImageIO.read(dir.resolve("nf/loss.png").toFile());
        assertThat(countDark(img, 0, 0, 1000, 36)).as("title").isGreaterThan(50);
        assertThat(countNear(img, TrainingReport.BLUE, 100, 50, 960, 540, 30)).isGreaterThan(300);
        assertThat(Files.readString(dir.resolve("nf/report.html"))).contains("<svg");
    }

    /** The child process of {@link #rendersWithNoUsableFontsInAChildJvm}. */
    public static final class NoFonts {
        public static void main(String[] args) throws IOException {
            TrainingReport.write(run(200, 3.0, 2048, 9), Path.of(args[0]), Map.of("model", "no-fonts"));
            System.out.println("vector text: " + Java2dCanvas.fontsWork() + ", headless: " + GraphicsEnvironment.isHeadless());
        }
    }

    @Test
    void comparesTwoRunsByTokensFromFiles() throws IOException {
        Map<String, Path> runs = new LinkedHashMap<>();
        int i = 0;
        for (var e : Map.of("not grown", run(200, 3.4, 2048, 3), "grown", run(200, 3.0, 2048, 4)).entrySet()) {
            Path p = dir.resolve("run" + i++ + ".jsonl");
            try (MetricsLog m = MetricsLog.create(p)) {
                for (MetricRecord r : e.getValue()) m.log(r);
            }
            runs.put(e.getKey(), p);
        }
        Path png = dir.resolve("cmp/compare.png"), html = dir.resolve("cmp/compare.html");
        TrainingReport.compare(runs, png, html, "grown vs not grown", TrainingReport.XAxis.TOKENS);

        BufferedImage img = ImageIO.read(png.toFile());
        assertThat(img.getWidth()).isEqualTo(1000);
        assertThat(countNear(img, TrainingReport.PALETTE[0], 100, 50, 960, 540, 30)).isGreaterThan(200);
        assertThat(countNear(img, TrainingReport.PALETTE[1], 100, 50, 960, 540, 30)).isGreaterThan(200);
        String h = Files.readString(html);
        assertThat(h).contains("grown vs not grown", "<td><span class=\"swatch\"", "not grown</td>", ">grown</td>", "tokens")
                .contains("409,600"); // 200 steps x 2048 tokens
        assertThat(h.split("<tr><td>", -1)).hasSize(3); // one row per run
        // per run: raw + smoothed train paths, val markers (val records have no tokens key: interpolated by step)
        assertThat(h.split("<path d=\"M", -1).length - 1).isGreaterThanOrEqualTo(4);
        assertThat(h.split("<circle ", -1).length - 1).isGreaterThanOrEqualTo(8);
    }

    @Test
    void compareByFlopsNeedsTheKey() {
        Map<String, List<MetricRecord>> runs = Map.of("a", run(10, 3, 10, 5));
        assertThatThrownBy(() -> TrainingReport.compareRecords(runs, dir.resolve("x.png"), null,
                        TrainingReport.Options.defaults().withXAxis(TrainingReport.XAxis.FLOPS)))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("flops");
        assertThat(dir.resolve("x.png")).doesNotExist();
    }

    @Test
    void valPointsGetInterpolatedTokens() throws IOException {
        List<MetricRecord> recs = List.of(
                MetricRecord.of(10, "tokens", 1000L, "loss", 5.0), MetricRecord.of(20, "tokens", 3000L, "loss", 4.0),
                MetricRecord.of(15, "val_loss", 4.5), MetricRecord.of(30, "val_loss", 3.9));
        Chart c = TrainingReport.lossChart(Map.of("r", recs), "t", TrainingReport.Options.defaults()
                .withXAxis(TrainingReport.XAxis.TOKENS).withSmoothing(0), true);
        Chart.Series val = c.series.stream().filter(s -> s.style() == Chart.Style.MARKERS).findFirst().orElseThrow();
        assertThat(val.x()).containsExactly(2000.0, 5000.0); // between known points, and extrapolated past the last
    }

    @Test
    void nonFiniteDuplicateAndEmptyLogsStillRender() throws IOException {
        List<MetricRecord> recs = new ArrayList<>(run(60, 3, 100, 6));
        recs.add(MetricRecord.of(61, "loss", Double.NaN));
        recs.add(MetricRecord.of(62, "loss", Double.POSITIVE_INFINITY));
        recs.add(MetricRecord.of(30, "loss", 1.0)); // a restart rewrote step 30: the later record wins
        TrainingReport.RunStats st = TrainingReport.write(recs, dir.resolve("a"), null);
        assertThat(st.nonFiniteLosses()).isEqualTo(2);
        assertThat(st.lastLoss()).isInfinite();
        assertThat(st.bestLoss()).isEqualTo(1.0);
        assertThat(st.bestLossStep()).isEqualTo(30);
        assertThat(Files.readString(dir.resolve("a/report.html"))).contains("non-finite train losses", "Infinity");

        TrainingReport.write(List.of(), dir.resolve("b"), Map.of());
        assertThat(ImageIO.read(dir.resolve("b/loss.png").toFile()).getWidth()).isEqualTo(1000);
        assertThat(Files.readString(dir.resolve("b/report.html"))).contains("no data");

        TrainingReport.write(List.of(MetricRecord.of(1, "loss", 7.0)), dir.resolve("c"), Map.of()); // a single point
        assertThat(Files.readString(dir.resolve("c/report.html"))).contains("7.0000");
    }

    @Test
    void yScaleIsLogOnlyForWideRanges() {
        Chart wide = new Chart("t", "x", "y").add(Chart.Series.line("a", new double[] {1, 2, 3}, new double[] {10.4, 5, 3}, 0, 1, 1, true));
        Chart narrow = new Chart("t", "x", "y").add(Chart.Series.line("a", new double[] {1, 2, 3}, new double[] {3.6, 3.3, 3.1}, 0, 1, 1, true));
        Chart negative = new Chart("t", "x", "y").add(Chart.Series.line("a", new double[] {1, 2}, new double[] {-1, 50}, 0, 1, 1, true));
        assertThat(wide.usesLogY()).isTrue();
        assertThat(narrow.usesLogY()).isFalse();
        assertThat(negative.usesLogY()).isFalse();
        Chart.Axis log = Chart.Axis.log(3, 10.4, 0.05, 10);
        assertThat(log.ticks()).contains(3.0, 4.0, 5.0, 10.0);
        assertThat(Chart.Axis.labels(log.ticks(), true)).contains("3", "10");
    }

    @Test
    void tickLabelsAreShortAndDistinct() {
        assertThat(Chart.Axis.labels(new double[] {0, 5e6, 1e7, 1.5e7}, false)).containsExactly("0", "5M", "10M", "15M");
        assertThat(Chart.Axis.labels(new double[] {0, 2.5e5, 5e5}, false)).containsExactly("0", "250k", "500k");
        assertThat(Chart.Axis.labels(new double[] {1e-4, 2e-4, 3e-4}, false)).containsExactly("1e-4", "2e-4", "3e-4");
        assertThat(Chart.Axis.labels(new double[] {3.2, 3.4, 3.6}, false)).containsExactly("3.2", "3.4", "3.6");
        assertThat(Chart.Axis.labels(new double[] {0, 100, 200}, false)).containsExactly("0", "100", "200");
        assertThat(Chart.Axis.niceTicks(0, 1000, 5)).containsExactly(0, 200, 400, 600, 800, 1000);
    }

    @Test
    void emaIsDebiasedAndSkipsGaps() {
        assertThat(TrainingReport.ema(new double[] {5, 5, 5}, 0.9)).containsExactly(5, 5, 5);
        double[] e = TrainingReport.ema(new double[] {4, Double.NaN, 2}, 0.5);
        assertThat(e[0]).isEqualTo(4);
        assertThat(e[1]).isNaN();
        assertThat(e[2]).isBetween(2.0, 4.0);
        assertThat(TrainingReport.autoWeight(20)).isZero();
        assertThat(TrainingReport.autoWeight(1000)).isBetween(0.9, 0.99);
    }

    @Test
    void manyPointsAreDecimatedPerPixelColumn() {
        int n = 100_000;
        double[] x = new double[n], y = new double[n];
        for (int i = 0; i < n; i++) {
            x[i] = i * 500.0 / n;
            y[i] = i == 50_000 ? 999 : Math.sin(i);
        }
        double[][] d = Chart.decimate(x, y, n, 500);
        assertThat(d[0].length).isLessThanOrEqualTo(4 * 500).isGreaterThan(500);
        assertThat(d[1]).contains(999.0); // a spike survives
    }
}
