package dev.arbor.train;

import dev.arbor.model.Gemm;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.arbor.format.ArborException;
import dev.arbor.format.DType;
import dev.arbor.format.LlamaConfig;
import dev.arbor.format.ModelSource;
import dev.arbor.format.SafetensorsFile;
import dev.arbor.format.SafetensorsWriter;
import dev.arbor.format.TensorEntry;
import dev.arbor.train.data.Batcher;
import dev.arbor.train.data.TokenCorpus;
import dev.arbor.train.report.MetricsLog;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Continued pre-training on the CPU: batches from a {@link TokenCorpus}, forward and backward
 * ({@link Transformer}), global-norm clipping, AdamW with a learning-rate schedule, the MSG mask
 * ramp after a growth, periodic validation and checkpoints.
 *
 * <p>A checkpoint holds everything needed to continue exactly: F32 master weights, the pending
 * masks, the optimizer moments ({@value #OPTIMIZER_FILE}, in the reference's layout), and
 * {@value #STATE_FILE} (step, data position, ramp, every setting, the data hash). Because every
 * kernel has a fixed reduction order, a run resumed from a checkpoint produces the same losses,
 * bit for bit, as one that was never interrupted (given the same thread count... and in fact
 * any thread count: no reduction depends on it).
 *
 * <pre>{@code
 * try (Trainer t = Trainer.start(model, settings, corpus, metricsFile)) {
 *     Trainer.Result r = t.run(sink, listener);
 * }
 * }</pre>
 */
public final class Trainer implements AutoCloseable {
    /** Side file with the trainer's position and settings. */
    public static final String STATE_FILE = "arbor-train-state.json";
    /** Side file with the AdamW moments. */
    public static final String OPTIMIZER_FILE = "arbor-optimizer.safetensors";
    /** Side file with the metrics of the run up to the checkpoint. */
    public static final String METRICS_FILE = "arbor-train-metrics.jsonl";

    private static final ObjectMapper JSON = new ObjectMapper();

    /**
     * Every setting of a run. Batch is sequences per micro-batch; accum micro-batches make one
     * optimizer step, so a step sees batch·accum·seq tokens.
     */
    public record Settings(long steps, int batch, int seq, int accum,
                           double lr, double lrVector, double minLr, String schedule, long warmup, double decayFraction,
                           double weightDecay, boolean decayVectors, double beta1, double beta2, double eps, double clip,
                           int rampSteps, int evalEvery, int evalBatches, int saveEvery,
                           long seed, double valFraction, int threads, String saveDtype) {
        public Settings {
            if (steps < 1) throw new ArborException("The number of steps must be at least 1.");
            if (batch < 1) throw new ArborException("The batch size must be at least 1.");
            if (seq < 1) throw new ArborException("The sequence length must be at least 1.");
            if (accum < 1) throw new ArborException("Gradient accumulation needs at least 1 micro-batch.");
            if (!(clip >= 0)) throw new ArborException("The clipping norm must be zero (off) or positive.");
            if (rampSteps < 1) throw new ArborException("The mask ramp needs at least 1 step.");
            if (evalEvery < 0 || saveEvery < 0 || evalBatches < 0) throw new ArborException("Intervals cannot be negative.");
            if (threads < 1) throw new ArborException("The number of threads must be at least 1.");
            DType.parseUserDtype(saveDtype);
            new LrSchedule(LrSchedule.kind(schedule), lr, minLr, warmup, steps, decayFraction);
            new AdamW.Settings(beta1, beta2, eps, weightDecay, decayVectors);
            if (!(lrVector > 0)) throw new ArborException("The vector learning rate must be positive.");
        }

        /** Sensible defaults for everything but the run length, batch shape and learning rate. */
        public static Settings defaults(long steps, int batch, int seq, double lr) {
            return new Settings(steps, batch, seq, 1, lr, lr, lr / 10, "cosine", Math.min(100, steps / 10), 0.2,
                    0.1, false, 0.9, 0.95, 1e-8, 1.0, 100, 0, 0, 0, 0, 0.01,
                    Runtime.getRuntime().availableProcessors(), "f32");
        }

        long tokensPerStep() { return (long) batch * accum * seq; }

        Map<String, Object> asMap() {
            return JSON.convertValue(this, JSON.getTypeFactory().constructMapType(LinkedHashMap.class, String.class, Object.class));
        }
    }

    /** One optimizer step's numbers. */
    public record StepStats(long step, long steps, double loss, double lr, double gradNorm, double tokensPerSecond,
                            long tokens, double elapsedSeconds, float mask) {}

    /** A checkpoint to persist; files are temporary and belong to the trainer (copy them). */
    public record Checkpoint(long step, boolean last, LlamaConfig config, List<TensorEntry> tensors,
                             Map<String, Path> sideFiles, Map<String, Object> operation) {}

    /** Where checkpoints go (the CLI commits them as store versions); returns a label such as {@code kjv@7}. */
    public interface Sink { String save(Checkpoint checkpoint); }

    /** Progress callbacks, all on the training thread. */
    public interface Listener {
        default void step(StepStats s) {}
        default void evaluated(long step, double valLoss) {}
        default void saved(long step, String label) {}
    }

    /** The end of a run. */
    public record Result(long steps, long tokens, double lastLoss, double lastValLoss, String lastCheckpoint,
                         double seconds, double tokensPerSecond) {}

    private final Settings s;
    private final Params params;
    private final Gemm gemm;
    private final Transformer model;
    private final AdamW optimizer;
    private final LrSchedule schedule;
    private final MaskRamp ramp;
    private final TokenCorpus data;
    private final Batcher batcher;
    private final MetricsLog metrics;
    private final Path tmpDir;
    /** Deletes tmpDir if the process is stopped (Ctrl-C, SIGTERM) before {@link #close}. */
    private final Thread tmpCleanup;
    /**
     * Held while a checkpoint is staged in tmpDir and saved, and by the stop hook while it deletes
     * tmpDir: the hook lets a save under way finish, and no save starts after it (a file staged in
     * between would otherwise keep the directory alive).
     */
    private final Object tmpLock = new Object();
    private boolean stopped;
    private final Map<String, Object> startInfo;
    private long step;
    private long tokens;
    private double elapsed;

    private Trainer(ModelSource src, Settings s, TokenCorpus data, Path metricsFile, JsonNode resume) {
        this.s = s;
        this.data = data;
        params = Params.load(src);
        if (s.seq > params.config.maxPositionEmbeddings()) {
            throw new ArborException("The sequence length " + s.seq + " is above the model's max_position_embeddings ("
                    + params.config.maxPositionEmbeddings() + ").");
        }
        data.checkVocab(params.vocab);
        gemm = new Gemm(s.threads);
        model = new Transformer(params, gemm);
        optimizer = new AdamW(params, new AdamW.Settings(s.beta1, s.beta2, s.eps, s.weightDecay, s.decayVectors));
        schedule = new LrSchedule(LrSchedule.kind(s.schedule), s.lr, s.minLr, s.warmup, s.steps, s.decayFraction);
        Batcher.State position = null;
        Long rampK = null;
        if (resume != null) {
            step = resume.get("step").asLong();
            tokens = resume.get("tokens").asLong();
            elapsed = resume.path("elapsed_s").asDouble();
            position = new Batcher.State(resume.get("data_position").get("epoch").asLong(), resume.get("data_position").get("index").asLong());
            if (resume.hasNonNull("ramp_k")) rampK = resume.get("ramp_k").asLong();
            Path opt = src.sideFile(OPTIMIZER_FILE).orElseThrow(() ->
                    new ArborException(src.describe() + " has a training state but no " + OPTIMIZER_FILE + "."));
            try (SafetensorsFile f = SafetensorsFile.open(opt)) {
                optimizer.restore(f);
            }
            startInfo = JSON.convertValue(resume.get("start"), JSON.getTypeFactory().constructMapType(LinkedHashMap.class, String.class, Object.class));
        } else {
            startInfo = new LinkedHashMap<>();
            startInfo.put("model", src.describe());
        }
        ramp = new MaskRamp(params, s.rampSteps, rampK);
        batcher = new Batcher(data, new Batcher.Config(s.seq, s.batch, s.valFraction, s.seed), position);
        try {
            tmpDir = Files.createTempDirectory("arbor-train");
            tmpCleanup = new Thread(this::stopAndDeleteTemporaryFiles, "arbor-train-cleanup");
            Runtime.getRuntime().addShutdownHook(tmpCleanup);
            if (resume != null) {
                Optional<Path> log = src.sideFile(METRICS_FILE);
                if (log.isPresent()) Files.copy(log.get(), metricsFile, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
                metrics = Files.exists(metricsFile) ? MetricsLog.resume(metricsFile, step) : MetricsLog.create(metricsFile);
            } else {
                metrics = MetricsLog.create(metricsFile);
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** A new run from a model's weights (fresh optimizer); its masks, if any, start their ramp. */
    public static Trainer start(ModelSource model, Settings settings, TokenCorpus data, Path metricsFile) {
        return new Trainer(model, settings, data, metricsFile, null);
    }

    /** Whether a checkpoint was written by a run that can be resumed. */
    public static boolean canResume(ModelSource checkpoint) { return checkpoint.sideFile(STATE_FILE).isPresent(); }

    /**
     * Continues the run that wrote this checkpoint, with its settings, on the same data (checked by
     * hash). A larger step count may be given to extend it (null keeps the saved one).
     */
    public static Trainer resume(ModelSource checkpoint, TokenCorpus data, Path metricsFile, Long steps) {
        JsonNode state = readState(checkpoint);
        Settings saved = JSON.convertValue(state.get("settings"), Settings.class);
        if (steps != null) {
            saved = new Settings(steps, saved.batch, saved.seq, saved.accum, saved.lr, saved.lrVector, saved.minLr, saved.schedule,
                    saved.warmup, saved.decayFraction, saved.weightDecay, saved.decayVectors, saved.beta1, saved.beta2, saved.eps,
                    saved.clip, saved.rampSteps, saved.evalEvery, saved.evalBatches, saved.saveEvery, saved.seed,
                    saved.valFraction, saved.threads, saved.saveDtype);
        }
        long done = state.path("step").asLong();
        if (done >= saved.steps) {
            throw new ArborException(checkpoint.describe() + " is the end of its run (step " + done + " of " + saved.steps
                    + "); give a larger --steps to train it further.");
        }
        String hash = state.path("data").path("source_sha256").asText();
        if (!hash.equals(data.sourceSha256())) {
            throw new ArborException("The data differs from the data this run was trained on (sha256 " + abbrev(hash)
                    + " versus " + abbrev(data.sourceSha256()) + "); resume needs the same data.");
        }
        return new Trainer(checkpoint, saved, data, metricsFile, state);
    }

    private static String abbrev(String h) { return h.length() > 12 ? h.substring(0, 12) + "…" : h; }

    private static JsonNode readState(ModelSource src) {
        Path f = src.sideFile(STATE_FILE).orElseThrow(() ->
                new ArborException(src.describe() + " has no training state to resume from (it was not saved by arbor train)."));
        try {
            return JSON.readTree(Files.readString(f));
        } catch (IOException e) {
            throw new ArborException(f + " cannot be read as JSON.");
        }
    }

    public Settings settings() { return s; }

    public long step() { return step; }

    /** Parameters of the model being trained (weights only, masks not counted). */
    public long parameterCount() { return params.count(); }

    /**
     * Model FLOPs per trained token (forward + backward), the PaLM convention:
     * 6·N + 12·L·H·hd·T, N the matrix parameters excluding the input embedding (the LM head
     * counts), T the sequence length.
     */
    public double flopsPerToken() { return flopsPerToken(params, s.seq); }

    static double flopsPerToken(Params p, int seq) {
        long n = 0;
        for (Params.Param q : p.all) if (q.isMatrix() && q != p.embed) n += q.data.length;
        if (p.lmHead == p.embed) n += p.embed.data.length;
        return 6.0 * n + 12.0 * p.numLayers * p.heads * p.headDim * seq;
    }

    /** Timings of training steps on random tokens, from {@link #benchmark}. */
    public record Benchmark(long parameters, double flopsPerToken, int tokensPerStep, double[] stepSeconds) {}

    /**
     * Times full training steps (forward, backward, clipping, AdamW) on seeded random tokens,
     * nothing saved: the throughput of the engine alone, comparable with other trainers.
     */
    public static Benchmark benchmark(ModelSource model, int batch, int seq, int warmup, int steps, int threads) {
        Settings s = Settings.defaults(warmup + steps, batch, seq, 1e-4);
        Params p = Params.load(model);
        try (Gemm gemm = new Gemm(threads)) {
            Transformer tf = new Transformer(p, gemm);
            AdamW opt = new AdamW(p, new AdamW.Settings(s.beta1, s.beta2, s.eps, s.weightDecay, s.decayVectors));
            java.util.SplittableRandom rnd = new java.util.SplittableRandom(1);
            double[] times = new double[steps];
            for (int i = 0; i < warmup + steps; i++) {
                int[][] in = new int[batch][seq], tg = new int[batch][seq];
                for (int b = 0; b < batch; b++) {
                    for (int t = 0; t < seq; t++) {
                        in[b][t] = rnd.nextInt(p.vocab);
                        tg[b][t] = rnd.nextInt(p.vocab);
                    }
                }
                long t0 = System.nanoTime();
                p.zeroGrads();
                tf.forwardBackward(in, tg, (double) batch * seq);
                AdamW.clipGradients(p, s.clip);
                opt.update(gemm, 1e-4, 1e-4);
                if (i >= warmup) times[i - warmup] = (System.nanoTime() - t0) / 1e9;
            }
            return new Benchmark(p.count(), flopsPerToken(p, seq), batch * seq, times);
        }
    }

    /** Runs until the configured number of steps, checkpointing as configured and at the end. */
    public Result run(Sink sink, Listener listener) {
        String lastLabel = null;
        long lastSavedStep = -1;
        double lastLoss = Double.NaN, lastVal = Double.NaN;
        long runTokens = 0;
        double runSeconds = 0;
        try {
            while (step < s.steps) {
                long t0 = System.nanoTime();
                float mask = ramp.active() ? ramp.current() : 1f;
                double lr = schedule.at(step);
                double lrVec = lr * (s.lrVector / s.lr);
                params.zeroGrads();
                Batcher.Batch[] micro = new Batcher.Batch[s.accum];
                long count = 0;
                for (int a = 0; a < s.accum; a++) {
                    micro[a] = batcher.next();
                    for (int x : micro[a].targets()) if (x >= 0) count++;
                }
                double lossSum = 0;
                for (Batcher.Batch b : micro) lossSum += model.forwardBackward(rows(b.inputs(), b), rows(b.targets(), b), count).sum();
                double loss = lossSum / count;
                double norm = AdamW.clipGradients(params, s.clip);
                if (!Double.isFinite(loss) || !Double.isFinite(norm)) {
                    throw new ArborException((Double.isFinite(loss) ? "The gradient norm became " + norm : "The loss became " + loss)
                            + " at step " + (step + 1) + "; training stopped"
                            + (lastLabel == null ? " before any checkpoint was saved." : " and the last good checkpoint is " + lastLabel + ".")
                            + " Try a lower learning rate or stronger clipping.");
                }
                optimizer.update(gemm, lr, lrVec);
                ramp.advance();
                step++;
                tokens += count;
                double secs = (System.nanoTime() - t0) / 1e9;
                elapsed += secs;
                runTokens += count;
                runSeconds += secs;
                lastLoss = loss;
                StepStats st = new StepStats(step, s.steps, loss, lr, norm, count / secs, tokens, elapsed, mask);
                Map<String, Object> rec = new LinkedHashMap<>();
                rec.put("tokens", tokens);
                rec.put("flops", tokens * flopsPerToken());
                rec.put("loss", loss);
                rec.put("lr", lr);
                rec.put("grad_norm", norm);
                rec.put("tokens_per_s", count / secs);
                rec.put("elapsed_s", elapsed);
                if (mask != 1f || ramp.active()) rec.put("mask", (double) mask);
                metrics.log(step, rec);
                listener.step(st);
                if (s.evalEvery > 0 && (step % s.evalEvery == 0 || step == s.steps) && batcher.valWindows() > 0) {
                    lastVal = validationLoss();
                    metrics.log(step, Map.of("val_loss", lastVal, "tokens", tokens, "flops", tokens * flopsPerToken()));
                    listener.evaluated(step, lastVal);
                }
                if (step == s.steps || (s.saveEvery > 0 && step % s.saveEvery == 0)) {
                    metrics.sync();
                    lastLabel = save(sink, step == s.steps);
                    lastSavedStep = step;
                    listener.saved(step, lastLabel);
                }
            }
            if (lastSavedStep != step) {
                lastLabel = save(sink, true);
                listener.saved(step, lastLabel);
            }
            metrics.sync();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return new Result(step, tokens, lastLoss, lastVal, lastLabel, runSeconds, runSeconds > 0 ? runTokens / runSeconds : 0);
    }

    /** The mean loss over the held-out windows (at most evalBatches batches; 0 = all). */
    public double validationLoss() {
        double sum = 0;
        long count = 0;
        int used = 0;
        for (Batcher.Batch b : batcher.validationBatches(s.batch)) {
            if (s.evalBatches > 0 && used++ >= s.evalBatches) break;
            Transformer.LossSum l = model.loss(rows(b.inputs(), b), rows(b.targets(), b));
            sum += l.sum();
            count += l.count();
        }
        return count == 0 ? Double.NaN : sum / count;
    }

    private static int[][] rows(int[] flat, Batcher.Batch b) {
        int[][] out = new int[b.size()][];
        for (int i = 0; i < b.size(); i++) out[i] = java.util.Arrays.copyOfRange(flat, i * b.seqLen(), (i + 1) * b.seqLen());
        return out;
    }

    private String save(Sink sink, boolean last) throws IOException {
        synchronized (tmpLock) {
            if (stopped) throw new ArborException("The training run was stopped.");
            return sink.save(checkpoint(last));
        }
    }

    private void stopAndDeleteTemporaryFiles() {
        synchronized (tmpLock) {
            stopped = true;
            deleteQuietly(tmpDir);
        }
    }

    private Checkpoint checkpoint(boolean last) throws IOException {
        Path opt = tmpDir.resolve(OPTIMIZER_FILE);
        SafetensorsWriter.write(opt, optimizer.stateTensors(), optimizer.stateMetadata());
        ObjectNode state = JSON.createObjectNode();
        state.put("format", 1);
        state.put("step", step);
        state.put("tokens", tokens);
        state.put("elapsed_s", elapsed);
        ObjectNode pos = state.putObject("data_position");
        pos.put("epoch", batcher.state().epoch());
        pos.put("index", batcher.state().index());
        if (ramp.active()) state.put("ramp_k", ramp.state().k());
        state.set("settings", JSON.valueToTree(s));
        ObjectNode data = dataInfo();
        state.set("data", data);
        state.set("start", JSON.valueToTree(startInfo));
        Path stateFile = tmpDir.resolve(STATE_FILE);
        Files.writeString(stateFile, JSON.writerWithDefaultPrettyPrinter().writeValueAsString(state));
        Map<String, Path> files = new LinkedHashMap<>();
        files.put(STATE_FILE, stateFile);
        files.put(OPTIMIZER_FILE, opt);
        files.put(METRICS_FILE, metrics.file());
        Map<String, Object> op = new LinkedHashMap<>();
        op.put("step", step);
        op.put("tokens", tokens);
        op.put("settings", s.asMap());
        op.put("data", JSON.convertValue(data, Map.class));
        op.put("start", startInfo);
        if (ramp.ramping()) {
            op.put("ramp", Map.of("k", ramp.state().k(), "steps", ramp.state().steps(), "mask", (double) ramp.current(),
                    "folded", !ramp.active()));
        }
        return new Checkpoint(step, last, params.config, params.tensors(DType.parseUserDtype(s.saveDtype)), files, op);
    }

    private ObjectNode dataInfo() {
        ObjectNode d = JSON.createObjectNode();
        d.put("source_sha256", data.sourceSha256());
        d.put("tokenizer_sha256", data.tokenizerSha256());
        d.put("tokens", data.size());
        d.put("file", data.file().toString());
        return d;
    }

    @Override public void close() {
        gemm.close();
        try {
            metrics.close();
        } catch (IOException ignored) {
            // each line was written whole when it was appended
        }
        if (tmpDir == null) return;
        stopAndDeleteTemporaryFiles();
        try {
            Runtime.getRuntime().removeShutdownHook(tmpCleanup);
        } catch (IllegalStateException shuttingDown) {
            // the hook runs (or ran) anyway
        }
    }

    private static void deleteQuietly(Path dir) {
        try {
            dev.arbor.format.AtomicFiles.deleteTree(dir);
        } catch (IOException ignored) {
            // temporary files only
        }
    }
}
