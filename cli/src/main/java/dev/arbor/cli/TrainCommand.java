package dev.arbor.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.arbor.format.ArborException;
import dev.arbor.format.Checkpoint;
import dev.arbor.format.ModelSource;
import dev.arbor.grow.Grower;
import dev.arbor.train.Trainer;
import dev.arbor.train.data.TokenCorpus;
import dev.arbor.train.report.TrainingReport;
import dev.arbor.versioning.Store;
import dev.arbor.versioning.StoredModel;
import dev.arbor.versioning.Version;
import dev.arbor.versioning.VersionDraft;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Callable;

@Command(name = "train", description = "Continued pre-training on the CPU: checkpoints are store versions; masks of a grown model ramp 0 → 1, then fold.")
final class TrainCommand implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "MODEL", description = "checkpoint directory or model reference (with --resume: a checkpoint of the run to continue)") String model;
    @Option(names = "--data", required = true, description = "text file, JSONL (text field), directory of them, or an Arbor token file") Path data;
    @Option(names = "--steps", description = "optimizer steps") Long steps;
    @Option(names = "--tokens", description = "train for about this many tokens instead of --steps") Long tokens;
    @Option(names = "--batch", defaultValue = "8", description = "sequences per micro-batch (default ${DEFAULT-VALUE})") int batch;
    @Option(names = "--seq", defaultValue = "256", description = "tokens per sequence (default ${DEFAULT-VALUE})") int seq;
    @Option(names = "--accum", defaultValue = "1", description = "micro-batches per optimizer step (default ${DEFAULT-VALUE})") int accum;
    @Option(names = "--lr", defaultValue = "3e-4", description = "peak learning rate of matrices (default ${DEFAULT-VALUE})") double lr;
    @Option(names = "--lr-vector", description = "peak learning rate of vector-like parameters, the norm gains (default: --lr)") Double lrVector;
    @Option(names = "--min-lr", description = "final learning rate (default: --lr / 10)") Double minLr;
    @Option(names = "--schedule", defaultValue = "cosine", description = "cosine, linear, constant or wsd (default ${DEFAULT-VALUE})") String schedule;
    @Option(names = "--warmup", description = "warmup steps (default: 10% of the steps, at most 100)") Long warmup;
    @Option(names = "--decay-fraction", defaultValue = "0.2", description = "wsd: share of the steps spent decaying (default ${DEFAULT-VALUE})") double decayFraction;
    @Option(names = "--weight-decay", defaultValue = "0.1", description = "AdamW decoupled weight decay (default ${DEFAULT-VALUE})") double weightDecay;
    @Option(names = "--decay-norms", description = "also decay vector-like parameters (torch's default); by default only matrices decay") boolean decayNorms;
    @Option(names = "--beta1", defaultValue = "0.9") double beta1;
    @Option(names = "--beta2", defaultValue = "0.95") double beta2;
    @Option(names = "--adam-eps", defaultValue = "1e-8") double adamEps;
    @Option(names = "--clip", defaultValue = "1.0", description = "global gradient-norm clip, 0 = off (default ${DEFAULT-VALUE})") double clip;
    @Option(names = "--ramp-steps", description = "mask ramp length after a growth (default: the growth's ramp_steps, else 100)") Integer rampSteps;
    @Option(names = "--eval-every", defaultValue = "0", description = "validation loss every N steps and at the end (0: only at the end)") int evalEvery;
    @Option(names = "--eval-batches", defaultValue = "0", description = "validation batches per evaluation (0: all)") int evalBatches;
    @Option(names = "--save-every", defaultValue = "0", description = "checkpoint every N steps (always at the end)") int saveEvery;
    @Option(names = "--val-fraction", defaultValue = "0.01", description = "share of the data held out (default ${DEFAULT-VALUE})") double valFraction;
    @Option(names = "--seed", defaultValue = "0", description = "data shuffling seed") long seed;
    @Option(names = "--threads", description = "compute threads (default: all processors)") Integer threads;
    @Option(names = "--save-dtype", defaultValue = "f32", description = "dtype of saved weights; f32 keeps resume exact (default ${DEFAULT-VALUE})") String saveDtype;
    @Option(names = "--tokenizer", description = "directory with tokenizer.json (default: the model's)") Path tokenizer;
    @Option(names = "--text-field", defaultValue = "text", description = "JSONL field holding the text") String textField;
    @Option(names = "--name", description = "model name of the checkpoints in the store (default: the model's own name)") String name;
    @Option(names = "--tag", description = "move this tag to the final checkpoint") String tag;
    @Option(names = "--resume", description = "continue the run that saved MODEL, with its settings (--steps may extend it)") boolean resume;
    @Option(names = "--run-dir", description = "where metrics.jsonl and the report go (default: STORE/runs/NAME-TIME)") Path runDir;
    @Option(names = "--json", description = "print the result as JSON") boolean json;
    @CommandLine.Mixin StoreOption store;
    @CommandLine.Spec CommandLine.Model.CommandSpec spec;

    /** Side files of the start model that a checkpoint must not inherit. */
    private static final Set<String> OWN_FILES = Set.of(Trainer.STATE_FILE, Trainer.OPTIMIZER_FILE, Trainer.METRICS_FILE);

    @Override public Integer call() throws Exception {
        if (!Files.exists(data)) throw new ArborException("The data path " + data + " does not exist.");
        if (steps != null && tokens != null) throw new ArborException("Give --steps or --tokens, not both.");
        try (ModelSource src = ModelRefs.open(model, store.location())) {
            String modelName = name != null ? name : src instanceof StoredModel sm ? sm.version().model() : null;
            if (modelName == null) throw new ArborException("Checkpoints are store versions: give --name for a model read from a directory.");
            Store st = store.openOrInit();
            Path tokDir = tokenizer != null ? tokenizer
                    : src.sideFile("tokenizer.json").map(Path::getParent).orElse(null);
            if (tokDir == null && !data.getFileName().toString().endsWith(".tokens")) {
                throw new ArborException(src.describe() + " has no tokenizer.json; give --tokenizer DIR or a pre-tokenized --data file.");
            }
            TokenCorpus.Options opts = TokenCorpus.Options.defaults().withTextField(textField)
                    .withCacheDir(st.root().resolve("cache").resolve("tokens"));
            Path dir = runDir != null ? runDir
                    : st.root().resolve("runs").resolve(modelName + "-" + LocalDateTime.now().format(DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss")));
            Files.createDirectories(dir);
            Path metricsFile = dir.resolve("metrics.jsonl");
            try (TokenCorpus corpus = TokenCorpus.prepare(data, tokDir, opts);
                 Trainer trainer = resume ? Trainer.resume(src, corpus, metricsFile, steps)
                         : Trainer.start(src, settings(src, corpus), corpus, metricsFile)) {
                Trainer.Settings s = trainer.settings();
                if (!json) {
                    System.out.printf("Training %s on %s (%s tokens%s): %d steps × %d tokens, %s parameters, %.2f MFLOP per token.%n",
                            src.describe(), data, Output.count(corpus.size()), corpus.reused() ? ", cached" : "",
                            s.steps(), s.batch() * s.accum() * s.seq(), Output.count(trainer.parameterCount()),
                            trainer.flopsPerToken() / 1e6);
                    System.out.flush();
                }
                Sink sink = new Sink(st, src, modelName, tag, StoreOption.commandLine(spec));
                Trainer.Result r;
                try (Progress bar = Progress.start("train", s.steps(), " steps", 1)) {
                    bar.stepTo(trainer.step());
                    long every = Math.max(1, s.steps() / 20);
                    r = trainer.run(sink, new Trainer.Listener() {
                        @Override public void step(Trainer.StepStats x) {
                            bar.stepTo(x.step());
                            bar.extra(String.format("loss %.4f · %.0f tok/s · lr %.2e%s", x.loss(), x.tokensPerSecond(), x.lr(),
                                    x.mask() < 1f ? String.format(" · mask %.3f", x.mask()) : ""));
                            if (!json && !bar.visible() && (x.step() % every == 0 || x.step() == x.steps())) {
                                System.out.printf("step %d/%d  loss %.4f  lr %.2e  grad-norm %.3f  %.0f tok/s%s%n", x.step(), x.steps(),
                                        x.loss(), x.lr(), x.gradNorm(), x.tokensPerSecond(),
                                        x.mask() < 1f ? String.format("  mask %.3f", x.mask()) : "");
                                System.out.flush();
                            }
                        }

                        @Override public void evaluated(long step, double valLoss) {
                            if (!json) System.out.printf("step %d  validation loss %.4f%n", step, valLoss);
                        }

                        @Override public void saved(long step, String label) {
                            if (!json) System.out.printf("step %d  saved %s%n", step, label);
                        }
                    });
                }
                double mfu = r.tokensPerSecond() * trainer.flopsPerToken() / 1e9;
                Map<String, Object> summary = new LinkedHashMap<>();
                summary.put("model", src.describe());
                summary.put("final checkpoint", r.lastCheckpoint());
                summary.put("data", data.toString());
                summary.put("GFLOP/s (model FLOPs)", String.format("%.1f", mfu));
                TrainingReport.write(metricsFile, dir, summary);
                Path report = dir.resolve("report.html");
                if (json) {
                    ObjectNode o = Output.object();
                    o.put("checkpoint", r.lastCheckpoint());
                    o.put("steps", r.steps());
                    o.put("tokens", r.tokens());
                    o.put("loss", r.lastLoss());
                    if (!Double.isNaN(r.lastValLoss())) o.put("val_loss", r.lastValLoss());
                    o.put("tokens_per_s", r.tokensPerSecond());
                    o.put("model_gflops", mfu);
                    o.put("seconds", r.seconds());
                    o.put("metrics", metricsFile.toString());
                    o.put("report", report.toString());
                    Output.printJson(new PrintWriter(System.out), o);
                } else {
                    System.out.printf("Trained %d steps (%s tokens) in %.1f s: loss %.4f%s, %.0f tokens/s (%.1f model GFLOP/s). Saved %s.%n",
                            r.steps(), Output.count(r.tokens()), r.seconds(), r.lastLoss(),
                            Double.isNaN(r.lastValLoss()) ? "" : String.format(", validation %.4f", r.lastValLoss()),
                            r.tokensPerSecond(), mfu, r.lastCheckpoint());
                    System.out.println("Report: " + report);
                }
            }
        }
        return 0;
    }

    private Trainer.Settings settings(ModelSource src, TokenCorpus corpus) {
        long perStep = (long) batch * accum * seq;
        long n = steps != null ? steps : tokens != null ? Math.max(1, Math.ceilDiv(tokens, perStep)) : -1;
        if (n < 1) throw new ArborException("Give the run length with --steps N or --tokens N.");
        int ramp = rampSteps != null ? rampSteps : growthRampSteps(src);
        return new Trainer.Settings(n, batch, seq, accum, lr, lrVector != null ? lrVector : lr, minLr != null ? minLr : lr / 10,
                schedule, warmup != null ? warmup : Math.min(100, n / 10), decayFraction, weightDecay, decayNorms,
                beta1, beta2, adamEps, clip, ramp, evalEvery > 0 ? evalEvery : (int) n, evalBatches, saveEvery, seed, valFraction,
                EngineArgs.threads(threads), saveDtype);
    }

    /** The ramp length recorded by the last growth in growth.json, else 100. */
    private static int growthRampSteps(ModelSource src) {
        try {
            List<JsonNode> events = Grower.previousEvents(src);
            return events.isEmpty() ? 100 : events.getLast().path("ramp_steps").asInt(100);
        } catch (ArborException e) {
            return 100;   // an unreadable growth.json only loses the default; --ramp-steps still works
        }
    }

    /** Commits each checkpoint as a store version whose parent is the previous one. */
    private static final class Sink implements Trainer.Sink {
        private final Store store;
        private final ModelSource start;
        private final String name, tag, command;
        private Version previous;

        Sink(Store store, ModelSource start, String name, String tag, String command) {
            this.store = store;
            this.start = start;
            this.name = name;
            this.tag = tag;
            this.command = command;
            if (start instanceof StoredModel sm) previous = sm.version();
        }

        @Override public String save(Trainer.Checkpoint c) {
            VersionDraft d = new VersionDraft(name).command(command).config(c.config()).operation("train", c.operation());
            if (previous != null) d.parent(previous);
            if (start instanceof StoredModel sm) {
                for (var e : sm.version().files().entrySet()) {
                    if (!OWN_FILES.contains(e.getKey())) d.sideFile(e.getKey(), sm.sideFile(e.getKey()).orElseThrow());
                }
            } else if (start instanceof Checkpoint ck) {
                for (Path f : ck.sidecars()) d.sideFile(f.getFileName().toString(), f);
                start.sideFile("growth.json").ifPresent(f -> d.sideFile("growth.json", f));
            }
            for (Map.Entry<String, Path> e : c.sideFiles().entrySet()) d.sideFile(e.getKey(), e.getValue());
            c.tensors().forEach(d::tensor);
            if (c.last() && tag != null) d.tag(tag);
            previous = store.commit(d);
            return previous.label();
        }
    }
}
