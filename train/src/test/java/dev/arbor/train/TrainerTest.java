package dev.arbor.train;

import dev.arbor.format.Checkpoint;
import dev.arbor.format.CheckpointWriter;
import dev.arbor.format.DType;
import dev.arbor.format.LlamaConfig;
import dev.arbor.format.LlamaTensors;
import dev.arbor.format.RandomInit;
import dev.arbor.format.TensorEntry;
import dev.arbor.train.data.ByteTokenizer;
import dev.arbor.train.data.TokenCorpus;
import dev.arbor.train.report.MetricRecord;
import dev.arbor.train.report.MetricsLog;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** The training loop: learning, exact resume, the mask ramp and fold, bad input. */
class TrainerTest {
    @TempDir static Path dir;
    static Path model, tokenizer, text;
    static TokenCorpus corpus;

    @BeforeAll
    static void setUp() throws IOException {
        tokenizer = dir.resolve("tok");
        ByteTokenizer.writeTo(tokenizer);
        model = dir.resolve("model");
        LlamaConfig cfg = LlamaConfig.create(32, 2, 4, 2, 64, ByteTokenizer.VOCAB_SIZE).with("max_position_embeddings", 64);
        RandomInit.write(cfg, 7, 0.02, DType.F32, model, List.of(), 0, (done, total) -> { });
        StringBuilder sb = new StringBuilder();
        String[] verses = {"In the beginning God created the heaven and the earth.",
                "And the earth was without form, and void; and darkness was upon the face of the deep.",
                "And God said, Let there be light: and there was light."};
        for (int i = 0; i < 40; i++) sb.append(verses[i % 3]).append("\n\n");
        text = dir.resolve("text.txt");
        Files.writeString(text, sb.toString());
        corpus = TokenCorpus.prepare(text, tokenizer, TokenCorpus.Options.defaults().withCacheDir(dir.resolve("cache")));
    }

    static Trainer.Settings settings(long steps) {
        return new Trainer.Settings(steps, 4, 32, 2, 3e-3, 1e-3, 3e-4, "cosine", 2, 0.2, 0.1, false, 0.9, 0.95, 1e-8, 1.0,
                4, 3, 0, 2, 5, 0.05, 2, "f32");
    }

    /** Writes each checkpoint as a directory; the sink's label is the directory. */
    static final class DirSink implements Trainer.Sink {
        final Path root;
        final List<Path> saved = new ArrayList<>();
        DirSink(Path root) { this.root = root; }

        @Override public String save(Trainer.Checkpoint c) {
            Path out = root.resolve("step-" + c.step());
            try {
                CheckpointWriter w = new CheckpointWriter().config(c.config()).addAll(c.tensors());
                for (Map.Entry<String, Path> e : c.sideFiles().entrySet()) w.file(e.getKey(), Files.readAllBytes(e.getValue()));
                w.write(out);
            } catch (IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
            saved.add(out);
            return out.toString();
        }
    }

    static List<Double> losses(Path metrics) throws IOException {
        List<Double> out = new ArrayList<>();
        for (MetricRecord r : MetricsLog.read(metrics)) if (r.has("loss")) out.add(r.get("loss"));
        return out;
    }

    @Test
    void learnsAndResumesBitForBit() throws IOException {
        DirSink full = new DirSink(dir.resolve("full"));
        Path fullLog = dir.resolve("full.jsonl");
        Trainer.Result r;
        try (Checkpoint src = Checkpoint.open(model); Trainer t = Trainer.start(src, settings(8), corpus, fullLog)) {
            r = t.run(full, new Trainer.Listener() {});
        }
        List<Double> a = losses(fullLog);
        assertThat(a).hasSize(8);
        assertThat(r.steps()).isEqualTo(8);
        assertThat(a.get(7)).isLessThan(a.get(0) - 0.5);   // from ln(260) ≈ 5.56 on repetitive text
        assertThat(full.saved).hasSize(4);                    // every 2 steps, the last one included

        // "Crash" after the step-4 checkpoint: resume from it and finish.
        Path resumedLog = dir.resolve("resumed.jsonl");
        Files.copy(fullLog, resumedLog);   // the log on disk has records past step 4, as after a kill
        DirSink rest = new DirSink(dir.resolve("rest"));
        try (Checkpoint ck = Checkpoint.open(full.saved.get(1)); Trainer t = Trainer.resume(ck, corpus, resumedLog, null)) {
            assertThat(t.step()).isEqualTo(4);
            t.run(rest, new Trainer.Listener() {});
        }
        List<Double> b = losses(resumedLog);
        assertThat(b).containsExactlyElementsOf(a);          // bit for bit (Double equality)
        // the last checkpoint is the end of its run: resuming it needs a larger step count
        try (Checkpoint end = Checkpoint.open(full.saved.get(3))) {
            assertThatThrownBy(() -> Trainer.resume(end, corpus, dir.resolve("end.jsonl"), null))
                    .hasMessageContaining("is the end of its run (step 8 of 8)");
            try (Trainer more = Trainer.resume(end, corpus, dir.resolve("more.jsonl"), 10L)) {
                assertThat(more.step()).isEqualTo(8);
            }
        }
        // and the final weights are identical too
        try (Checkpoint x = Checkpoint.open(full.saved.get(3)); Checkpoint y = Checkpoint.open(rest.saved.get(1))) {
            for (String name : LlamaTensors.expectedShapes(x.requireConfig()).keySet()) {
                assertThat(y.tensor(name).toFloatArray()).as(name).containsExactly(x.tensor(name).toFloatArray());
            }
        }
    }

    @Test
    void validationLossIsLoggedAtTheEvalInterval() throws IOException {
        Path log = dir.resolve("val.jsonl");
        try (Checkpoint src = Checkpoint.open(model); Trainer t = Trainer.start(src, settings(3), corpus, log)) {
            t.run(new DirSink(dir.resolve("val")), new Trainer.Listener() {});
        }
        List<MetricRecord> recs = MetricsLog.read(log);
        assertThat(recs.stream().filter(x -> x.has("val_loss")).map(MetricRecord::step)).containsExactly(3L);
    }

    /** GROWTH.md T9: with N = 4 the masks run 0, .25, .5, .75, then 1 and are folded away. */
    @Test
    void maskRampRisesLinearlyThenFolds() throws IOException {
        Path grown = dir.resolve("grown");
        try (Checkpoint src = Checkpoint.open(model)) {
            LlamaConfig cfg = src.requireConfig();
            CheckpointWriter w = new CheckpointWriter().config(cfg);
            for (String n : src.tensorNames()) w.add(TensorEntry.ofFloats(n, DType.F32, src.info(n).shape(), src.tensor(n).toFloatArray()));
            float[] ffn = new float[64];
            java.util.Arrays.fill(ffn, 0, 48, 1f);   // the last 16 neurons are "new"
            w.add(TensorEntry.ofFloats(LlamaTensors.layer(1, "mlp.grow_mask"), DType.F32, new long[]{64}, ffn));
            w.write(grown);
        }
        Path log = dir.resolve("ramp.jsonl");
        DirSink sink = new DirSink(dir.resolve("ramp"));
        List<Float> masks = new ArrayList<>();
        try (Checkpoint src = Checkpoint.open(grown); Trainer t = Trainer.start(src, settings(6), corpus, log)) {
            t.run(sink, new Trainer.Listener() {
                @Override public void step(Trainer.StepStats s) { masks.add(s.mask()); }
            });
        }
        assertThat(masks).containsExactly(0f, 0.25f, 0.5f, 0.75f, 1f, 1f);
        // the step-2 checkpoint keeps the mask at 0.5 on the new neurons only; the last has none
        try (Checkpoint c2 = Checkpoint.open(sink.saved.get(0)); Checkpoint c6 = Checkpoint.open(sink.saved.get(2))) {
            float[] m = c2.tensor(LlamaTensors.layer(1, "mlp.grow_mask")).toFloatArray();
            assertThat(m[0]).isEqualTo(1f);
            assertThat(m[63]).isEqualTo(0.5f);
            assertThat(c6.contains(LlamaTensors.layer(1, "mlp.grow_mask"))).isFalse();
        }
        // resumed mid-ramp at k = 2: the same masks and losses follow
        Path log2 = dir.resolve("ramp2.jsonl");
        List<Float> masks2 = new ArrayList<>();
        try (Checkpoint ck = Checkpoint.open(sink.saved.get(0)); Trainer t = Trainer.resume(ck, corpus, log2, null)) {
            t.run(new DirSink(dir.resolve("ramp2")), new Trainer.Listener() {
                @Override public void step(Trainer.StepStats s) { masks2.add(s.mask()); }
            });
        }
        assertThat(masks2).containsExactly(0.5f, 0.75f, 1f, 1f);
        assertThat(losses(log2)).containsExactlyElementsOf(losses(log));
    }

    @Test
    void badInputIsRefusedWithOneSentence() {
        try (Checkpoint src = Checkpoint.open(model)) {
            Trainer.Settings tooLong = new Trainer.Settings(2, 2, 65, 1, 1e-3, 1e-3, 0, "cosine", 0, 0.2, 0, false, 0.9, 0.95, 1e-8, 1,
                    4, 0, 0, 0, 0, 0, 1, "f32");
            assertThatThrownBy(() -> Trainer.start(src, tooLong, corpus, dir.resolve("x.jsonl")))
                    .hasMessageContaining("above the model's max_position_embeddings (64)");
            assertThatThrownBy(() -> Trainer.resume(src, corpus, dir.resolve("y.jsonl"), null))
                    .hasMessageContaining("no training state");
        }
        assertThatThrownBy(() -> settings(0)).hasMessageContaining("at least 1");
        assertThatThrownBy(() -> new Trainer.Settings(2, 2, 8, 1, 1e-3, 1e-3, 0, "triangle", 0, 0.2, 0, false, 0.9, 0.95, 1e-8, 1,
                4, 0, 0, 0, 0, 0, 1, "f32")).hasMessageContaining("Unknown schedule 'triangle'");
    }

    @Test
    void divergenceStopsWithTheLastGoodCheckpoint() {
        Trainer.Settings wild = new Trainer.Settings(40, 4, 32, 1, 1e12, 1e12, 0, "constant", 0, 0.2, 0, false, 0.9, 0.95, 1e-8, 0,
                4, 0, 0, 1, 5, 0.05, 2, "f32");
        try (Checkpoint src = Checkpoint.open(model); Trainer t = Trainer.start(src, wild, corpus, dir.resolve("nan.jsonl"))) {
            assertThatThrownBy(() -> t.run(new DirSink(dir.resolve("nan")), new Trainer.Listener() {}))
                    .hasMessageContaining("training stopped").hasMessageContaining("last good checkpoint is");
        }
    }
}
