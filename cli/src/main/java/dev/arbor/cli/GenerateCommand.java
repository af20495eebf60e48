package dev.arbor.cli;

import dev.arbor.format.ArborException;
import dev.arbor.format.ModelSource;
import dev.arbor.model.LlamaModel;
import dev.arbor.model.sample.Generation;
import dev.arbor.model.sample.Generator;
import dev.arbor.model.sample.SamplingParams;
import dev.arbor.model.tokenizer.ChatMessage;
import dev.arbor.model.tokenizer.ChatTemplate;
import dev.arbor.model.tokenizer.Tokenizer;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;

@Command(name = "generate", description = "Generate text from a prompt, streaming it to stdout.")
final class GenerateCommand implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "MODEL", description = "checkpoint directory or store reference") String model;
    @picocli.CommandLine.Mixin StoreOption store;
    @ArgGroup(multiplicity = "1") Input input;
    @Option(names = "--chat", description = "wrap the prompt as a user message in the model's chat template") boolean chat;
    @Option(names = "--system", description = "system message for --chat") String system;
    @Option(names = "--max-tokens", defaultValue = "128", description = "most tokens to generate (default ${DEFAULT-VALUE})") int maxTokens;
    @Option(names = "--temperature", defaultValue = "0", description = "0 = greedy (default)") double temperature;
    @Option(names = "--top-p", defaultValue = "1", description = "nucleus sampling mass (default 1 = off)") double topP;
    @Option(names = "--top-k", defaultValue = "0", description = "keep the k most likely tokens (default 0 = off)") int topK;
    @Option(names = "--min-p", defaultValue = "0", description = "drop tokens below min-p × the top probability (default 0 = off)") double minP;
    @Option(names = "--presence-penalty", defaultValue = "0") double presence;
    @Option(names = "--frequency-penalty", defaultValue = "0") double frequency;
    @Option(names = "--stop", description = "stop string (repeatable)") List<String> stop = new ArrayList<>();
    @Option(names = "--seed", defaultValue = "0", description = "random seed for sampling (default ${DEFAULT-VALUE})") long seed;
    @Option(names = "--ignore-eos", description = "keep generating past end-of-sequence tokens") boolean ignoreEos;
    @Option(names = "--threads", description = "compute threads (default: all cores)") Integer threads;
    @Option(names = "--json", description = "print the generated ids and text as JSON instead of streaming") boolean json;

    static final class Input {
        @Option(names = "--prompt", paramLabel = "S", description = "prompt text") String prompt;
        @Option(names = "--tokens", paramLabel = "IDS", description = "prompt token ids, e.g. 1,2,3") String tokens;
    }

    @Override public Integer call() throws Exception {
        PrintWriter out = new PrintWriter(System.out, true);
        try (ModelSource src = ModelRefs.open(model, store.location());
             LlamaModel m = LlamaModel.loadForOneShot(src, EngineArgs.threads(threads))) {
            Tokenizer tok = null;
            if (input.prompt != null || chat || src.sideFile("tokenizer.json").isPresent()) tok = EngineArgs.tokenizer(src);
            try {
                int[] prompt;
                if (input.tokens != null) {
                    if (chat) throw new ArborException("--chat needs --prompt text, not --tokens.");
                    prompt = EngineArgs.parseTokens(input.tokens);
                } else if (chat) {
                    ChatTemplate t = tok.chatTemplate();
                    if (t == null) throw new ArborException(src.describe() + " has no chat template; drop --chat.");
                    List<ChatMessage> msgs = new ArrayList<>();
                    if (system != null) msgs.add(new ChatMessage("system", system));
                    msgs.add(new ChatMessage("user", input.prompt));
                    prompt = tok.encode(t.render(msgs, true), false);
                } else {
                    prompt = tok.encode(input.prompt, true);
                }
                List<Integer> eos = new ArrayList<>(m.eosIds());
                if (tok != null) for (int id : tok.eosIds()) if (!eos.contains(id)) eos.add(id);
                if (ignoreEos) eos.clear();
                SamplingParams p = new SamplingParams(temperature, topK, topP, minP, presence, frequency, maxTokens, stop, eos, seed);
                Tokenizer t = tok;
                Generator g = new Generator(m);
                Generation r = g.generate(prompt, p, t == null ? null : t.detokenizer(true),
                        json || t == null ? null : piece -> { out.print(piece); out.flush(); });
                double promptTps = prompt.length / (r.promptNanos() / 1e9);
                double decodeTps = r.ids().length > 1 ? (r.ids().length - 1) / (r.decodeNanos() / 1e9) : 0;
                if (json) {
                    var o = Output.object();
                    var pa = o.putArray("prompt_ids");
                    for (int id : prompt) pa.add(id);
                    var ga = o.putArray("ids");
                    for (int id : r.ids()) ga.add(id);
                    if (t != null) o.put("text", r.text());
                    o.put("finish_reason", r.finishReason().name().toLowerCase(java.util.Locale.ROOT));
                    o.put("prompt_tokens_per_second", promptTps).put("decode_tokens_per_second", decodeTps);
                    Output.printJson(out, o);
                } else {
                    if (t == null) {
                        StringBuilder sb = new StringBuilder();
                        for (int id : r.ids()) sb.append(sb.isEmpty() ? "" : " ").append(id);
                        out.print(sb);
                    }
                    out.println();
                    System.err.printf("[%d prompt tokens, %.1f tok/s; %d generated, %.1f tok/s; %s]%n", prompt.length, promptTps,
                            r.ids().length, decodeTps, r.finishReason().name().toLowerCase(java.util.Locale.ROOT));
                }
            } finally {
                if (tok != null) tok.close();
            }
        }
        return 0;
    }
}
