package dev.arbor.cli;

import dev.arbor.format.ArborException;
import dev.arbor.format.ModelSource;
import dev.arbor.train.data.TokenCorpus;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;

@Command(name = "prepare-data", description = "Tokenize text/JSONL data once into a memory-mapped token file for `arbor train --data F.tokens`.")
final class PrepareDataCommand implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "DATA", description = "text file, JSONL file, or a directory of them") Path data;
    @Option(names = "--out", required = true, description = "the token file to write (uint16 when the vocabulary fits, else uint32)") Path out;
    @Option(names = "--tokenizer", description = "directory with tokenizer.json") Path tokenizer;
    @Option(names = "--model", description = "take the tokenizer of this checkpoint or store reference") String model;
    @Option(names = "--text-field", defaultValue = "text", description = "JSONL field holding the text") String textField;
    @Option(names = "--bos", description = "start every document with the BOS token") boolean bos;
    @CommandLine.Mixin StoreOption store;

    @Override public Integer call() throws Exception {
        if (!Files.exists(data)) throw new ArborException("The data path " + data + " does not exist.");
        if ((tokenizer == null) == (model == null)) throw new ArborException("Give the tokenizer with --tokenizer DIR or --model MODEL.");
        Path tokDir = tokenizer;
        ModelSource src = null;
        try {
            if (model != null) {
                src = ModelRefs.open(model, store.location());
                tokDir = src.sideFile("tokenizer.json").map(Path::getParent)
                        .orElseThrow(() -> new ArborException(model + " has no tokenizer.json."));
            }
            long t0 = System.nanoTime();
            TokenCorpus.Options opts = TokenCorpus.Options.defaults().withTextField(textField).withAddBos(bos);
            try (TokenCorpus c = TokenCorpus.tokenize(data, tokDir, opts, out)) {
                System.out.printf("Wrote %s: %s tokens (%s, %d documents) in %.1f s.%n", out, Output.count(c.size()), c.dtype(),
                        c.documents(), (System.nanoTime() - t0) / 1e9);
            }
        } finally {
            if (src != null) src.close();
        }
        return 0;
    }
}
