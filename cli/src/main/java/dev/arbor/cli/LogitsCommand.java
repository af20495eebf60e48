package dev.arbor.cli;

import dev.arbor.format.DType;
import dev.arbor.format.ModelSource;
import dev.arbor.format.SafetensorsWriter;
import dev.arbor.format.TensorEntry;
import dev.arbor.model.LlamaModel;
import dev.arbor.model.tokenizer.Tokenizer;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;

@Command(name = "logits", description = "Run the forward pass over a prompt and write the logits [T, vocab] (F32) to a safetensors file.")
final class LogitsCommand implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "MODEL", description = "checkpoint directory or store reference") String model;
    @picocli.CommandLine.Mixin StoreOption store;
    @ArgGroup(multiplicity = "1") Input input;
    @Option(names = "--out", required = true, paramLabel = "F.safetensors", description = "output file") Path out;
    @Option(names = "--threads", description = "compute threads (default: all cores)") Integer threads;
    @Option(names = "--json", description = "print a JSON summary") boolean json;

    static final class Input {
        @Option(names = "--tokens", paramLabel = "IDS", description = "token ids, e.g. 1,2,3") String tokens;
        @Option(names = "--text", paramLabel = "S", description = "text, encoded with the model's tokenizer (special tokens added)") String text;
    }

    @Override public Integer call() throws Exception {
        try (ModelSource src = ModelRefs.open(model, store.location());
             LlamaModel m = LlamaModel.loadForOneShot(src, EngineArgs.threads(threads))) {
            int[] ids;
            if (input.tokens != null) {
                ids = EngineArgs.parseTokens(input.tokens);
            } else {
                try (Tokenizer tok = EngineArgs.tokenizer(src)) {
                    ids = tok.encode(input.text, true);
                }
            }
            long t0 = System.nanoTime();
            float[] logits = m.logits(ids);
            double secs = (System.nanoTime() - t0) / 1e9;
            Map<String, String> meta = new LinkedHashMap<>();
            meta.put("tokens", Arrays.toString(ids));
            meta.put("model", src.describe());
            SafetensorsWriter.write(out, List.of(TensorEntry.ofFloats("logits", DType.F32,
                    new long[]{ids.length, m.vocabSize()}, logits)), meta);
            var w = new java.io.PrintWriter(System.out, true);
            if (json) {
                var o = Output.object().put("out", out.toString()).put("tokens", ids.length).put("vocab", m.vocabSize()).put("seconds", secs);
                Output.printJson(w, o);
            } else {
                w.printf("wrote logits [%d, %d] to %s (%.2f s)%n", ids.length, m.vocabSize(), out, secs);
            }
        }
        return 0;
    }
}
