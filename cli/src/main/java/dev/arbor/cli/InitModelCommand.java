package dev.arbor.cli;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.arbor.format.Checkpoint;
import dev.arbor.format.CheckpointWriter;
import dev.arbor.format.DType;
import dev.arbor.format.FormatException;
import dev.arbor.format.LlamaConfig;
import dev.arbor.format.RandomInit;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;

@Command(name = "init-model", description = "Make a fresh, randomly initialised LLaMA checkpoint (weights N(0, std²), norms 1).")
final class InitModelCommand implements Callable<Integer> {
    @Option(names = "--hidden", required = true, description = "hidden_size") int hidden;
    @Option(names = "--layers", required = true, description = "num_hidden_layers") int layers;
    @Option(names = "--heads", required = true, description = "num_attention_heads") int heads;
    @Option(names = "--kv-heads", description = "num_key_value_heads (default: heads)") Integer kvHeads;
    @Option(names = "--ffn", required = true, description = "intermediate_size") int ffn;
    @Option(names = "--vocab", description = "vocab_size (default: the tokenizer's, else 32000)") Integer vocab;
    @Option(names = "--head-dim", description = "explicit head_dim (default hidden/heads)") Integer headDim;
    @Option(names = "--max-pos", defaultValue = "2048", description = "max_position_embeddings (default ${DEFAULT-VALUE})") int maxPos;
    @Option(names = "--rope-theta", defaultValue = "10000", description = "rope_theta") double ropeTheta;
    @Option(names = "--eps", defaultValue = "1e-6", description = "rms_norm_eps") double eps;
    @Option(names = "--tie", description = "tie the LM head to the embedding") boolean tie;
    @Option(names = "--tokenizer", description = "directory with tokenizer.json (and tokenizer_config.json) to carry along, or 'bytes' for Arbor's byte-level tokenizer (260 ids)") Path tokenizer;
    @Option(names = "--seed", defaultValue = "0") long seed;
    @Option(names = "--std", defaultValue = "0.02", description = "initializer_range (default ${DEFAULT-VALUE})") double std;
    @Option(names = "--dtype", defaultValue = "bf16", description = "bf16, f16 or f32 (default ${DEFAULT-VALUE})") String dtype;
    @Option(names = "--shard-size", description = "maximum shard size, e.g. 2GB") String shardSize;
    @Option(names = "--json", description = "print JSON") boolean json;
    @Parameters(index = "0", paramLabel = "OUT", description = "new checkpoint directory") Path out;

    @Override public Integer call() throws Exception {
        DType dt = DType.parseUserDtype(dtype);
        if (dt == DType.F64) throw new FormatException("init-model writes bf16, f16 or f32 weights, not f64.");
        List<Path> sidecars = new ArrayList<>();
        Integer bos = null, eos = null;
        int v = vocab == null ? 32000 : vocab;
        Path bytesDir = null;
        if (tokenizer != null && tokenizer.toString().equals("bytes") && !Files.exists(tokenizer)) {
            bytesDir = Files.createTempDirectory("arbor-bytes-tokenizer");
            dev.arbor.train.data.ByteTokenizer.writeTo(bytesDir);
            tokenizer = bytesDir;
        }
        if (tokenizer != null) {
            Path tj = tokenizer.resolve("tokenizer.json");
            if (!Files.isRegularFile(tj)) throw new FormatException(tokenizer + " has no tokenizer.json.");
            for (String n : Checkpoint.SIDECAR_FILES) {
                Path p = tokenizer.resolve(n);
                if (Files.isRegularFile(p) && !n.equals("generation_config.json")) sidecars.add(p);
            }
            TokenizerFacts facts = TokenizerFacts.read(tokenizer);
            if (vocab == null) v = facts.vocabSize();
            else if (vocab < facts.vocabSize()) {
                throw new FormatException("--vocab " + vocab + " is smaller than the tokenizer's " + facts.vocabSize() + " ids.");
            }
            bos = facts.bosId();
            eos = facts.eosId();
        }
        if (hidden <= 0 || layers <= 0 || heads <= 0 || ffn <= 0 || v <= 0 || maxPos <= 0) {
            throw new FormatException("Sizes must be positive.");
        }
        int kv = kvHeads == null ? heads : kvHeads;
        if (kv <= 0 || heads % kv != 0) throw new FormatException("--kv-heads (" + kv + ") must divide --heads (" + heads + ").");
        if (headDim == null && hidden % heads != 0) {
            throw new FormatException("--heads (" + heads + ") must divide --hidden (" + hidden + ") unless --head-dim is given.");
        }
        if (!(std > 0)) throw new FormatException("--std must be positive.");
        if (Files.exists(out)) throw new FormatException(out + " already exists; choose a new directory.");
        LlamaConfig cfg = LlamaConfig.create(hidden, layers, heads, kv, ffn, v)
                .with("max_position_embeddings", maxPos).with("rope_theta", ropeTheta)
                .with("rms_norm_eps", eps).with("tie_word_embeddings", tie);
        if (headDim != null) cfg = cfg.with("head_dim", headDim);
        if (bos != null) cfg = cfg.with("bos_token_id", bos);
        else if (tokenizer != null) cfg = cfg.with("bos_token_id", null);
        if (eos != null) cfg = cfg.with("eos_token_id", eos);
        long bytes = cfg.parameterCount() * dt.size();
        try (Progress p = Progress.bytes("init-model", bytes)) {
            RandomInit.write(cfg, seed, std, dt, out, sidecars,
                    shardSize == null ? 0 : CheckpointWriter.parseSize(shardSize), (done, total) -> p.stepTo(done));
        } finally {
            if (bytesDir != null) dev.arbor.format.AtomicFiles.deleteTree(bytesDir);
        }
        if (json) {
            ObjectNode o = Output.object();
            o.put("path", out.toString());
            o.put("parameters", cfg.parameterCount());
            o.put("dtype", dt.code());
            o.put("bytes", bytes);
            o.set("config", cfg.toJsonNode());
            Output.printJson(new java.io.PrintWriter(System.out), o);
        } else {
            System.out.printf("Wrote %s: %s parameters, %s, %s (hidden %d, layers %d, heads %d/%d, ffn %d, vocab %d).%n",
                    out, Output.count(cfg.parameterCount()), dt.code(), Output.bytes(bytes),
                    hidden, layers, heads, kv, ffn, v);
        }
        return 0;
    }
}
