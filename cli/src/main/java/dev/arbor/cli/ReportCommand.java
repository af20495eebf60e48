package dev.arbor.cli;

import dev.arbor.format.ArborException;
import dev.arbor.train.report.TrainingReport;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;

@Command(name = "report", description = "Loss curves of one or more training runs (metrics.jsonl) as PNG and self-contained HTML.")
final class ReportCommand implements Callable<Integer> {
    @Parameters(arity = "1..*", paramLabel = "RUN", description = "LABEL=metrics.jsonl, or a run directory / metrics file (labelled by its folder)") List<String> runs;
    @Option(names = "--out", required = true, description = "directory for loss.png and report.html") Path out;
    @Option(names = "--x", defaultValue = "step", description = "x axis: step, tokens or flops (default ${DEFAULT-VALUE})") String x;
    @Option(names = "--title", description = "chart title") String title;

    @Override public Integer call() throws Exception {
        TrainingReport.XAxis axis = switch (x.toLowerCase(Locale.ROOT)) {
            case "step", "steps" -> TrainingReport.XAxis.STEP;
            case "tokens" -> TrainingReport.XAxis.TOKENS;
            case "flops" -> TrainingReport.XAxis.FLOPS;
            default -> throw new ArborException("Unknown x axis '" + x + "'; use step, tokens or flops.");
        };
        Map<String, Path> files = new LinkedHashMap<>();
        for (String r : runs) {
            int eq = r.indexOf('=');
            String label = eq > 0 ? r.substring(0, eq) : null;
            Path p = Path.of(eq > 0 ? r.substring(eq + 1) : r);
            if (Files.isDirectory(p)) p = p.resolve("metrics.jsonl");
            if (!Files.isRegularFile(p)) throw new ArborException(p + " is not a metrics file (metrics.jsonl of an arbor train run).");
            if (label == null) label = p.toAbsolutePath().getParent().getFileName().toString();
            if (files.put(label, p) != null) throw new ArborException("Two runs are labelled '" + label + "'; give LABEL=FILE.");
        }
        Files.createDirectories(out);
        Path png = out.resolve("loss.png"), html = out.resolve("report.html");
        TrainingReport.compare(files, png, html, title != null ? title : "Training loss: " + String.join(" vs ", files.keySet()), axis);
        System.out.println("Wrote " + png + " and " + html + ".");
        return 0;
    }
}
