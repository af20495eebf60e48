package dev.arbor.serve;

import com.fasterxml.jackson.databind.JsonNode;
import dev.arbor.format.ArborException;
import dev.arbor.model.sample.SamplingParams;
import dev.arbor.model.tokenizer.ChatMessage;
import dev.arbor.model.tokenizer.ChatTemplate;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;

/** Reads and checks the body of /v1/chat/completions and /v1/completions. */
final class Requests {
    private Requests() {}

    /** What a request asks for, before tokenisation. */
    record Parsed(boolean chat, String model, List<ChatMessage> messages, String promptText, int[] promptIds,
                  Integer maxTokens, double temperature, double topP, int topK, double minP,
                  double presence, double frequency, List<String> stop, Long seed,
                  int topLogprobs, boolean stream, boolean includeUsage) {}

    /** A request ready for the scheduler. */
    record Prepared(Parsed parsed, int[] prompt, SamplingParams params) {}

    static Parsed parse(JsonNode b, boolean chat, ServeOptions opts) {
        if (b == null || !b.isObject()) throw ApiException.invalid(null, "The request body must be a JSON object.");
        String model = string(b, "model", true);
        List<ChatMessage> messages = null;
        String promptText = null;
        int[] promptIds = null;
        if (chat) {
            JsonNode m = b.get("messages");
            if (m == null || m.isNull()) throw ApiException.invalid("messages", "'messages' is required.");
            if (!m.isArray()) throw ApiException.invalid("messages", "'messages' must be an array of messages.");
            if (m.isEmpty()) throw ApiException.invalid("messages", "'messages' must hold at least one message.");
            messages = new ArrayList<>();
            for (int i = 0; i < m.size(); i++) {
                JsonNode x = m.get(i);
                String p = "messages[" + i + "]";
                if (!x.isObject()) throw ApiException.invalid(p, p + " must be an object with 'role' and 'content'.");
                JsonNode role = x.get("role");
                if (role == null || !role.isTextual() || role.asText().isEmpty()) throw ApiException.invalid(p + ".role", p + ".role must be a non-empty string.");
                messages.add(new ChatMessage(role.asText(), content(x.get("content"), p + ".content")));
            }
        } else {
            JsonNode p = b.get("prompt");
            if (p == null || p.isNull()) throw ApiException.invalid("prompt", "'prompt' is required.");
            if (p.isTextual()) {
                promptText = p.asText();
            } else if (p.isArray()) {
                if (p.isEmpty()) throw ApiException.invalid("prompt", "'prompt' must not be empty.");
                if (p.size() == 1 && p.get(0).isTextual()) promptText = p.get(0).asText();
                else if (p.size() == 1 && p.get(0).isArray()) promptIds = ids(p.get(0));
                else if (p.get(0).isIntegralNumber()) promptIds = ids(p);
                else throw ApiException.invalid("prompt", "Only one prompt per request is supported (a string, or a list of token ids).");
            } else {
                throw ApiException.invalid("prompt", "'prompt' must be a string or a list of token ids.");
            }
            if (promptText != null && promptText.isEmpty()) throw ApiException.invalid("prompt", "'prompt' must not be empty.");
        }
        Integer maxTokens = integer(b, chat ? "max_completion_tokens" : "max_tokens");
        if (maxTokens == null) maxTokens = integer(b, "max_tokens");
        if (maxTokens != null && maxTokens < 1) throw ApiException.invalid("max_tokens", "'max_tokens' must be at least 1.");
        if (maxTokens != null && maxTokens > opts.maxTokens()) {
            throw ApiException.invalid("max_tokens", "'max_tokens' is " + maxTokens + "; this server allows at most " + opts.maxTokens() + ".");
        }
        double temperature = number(b, "temperature", 1.0, 0, 2);
        double topP = number(b, "top_p", 1.0, 0, 1);
        if (topP == 0) throw ApiException.invalid("top_p", "'top_p' must be greater than 0.");
        Integer topK = integer(b, "top_k");
        if (topK != null && topK < 0) throw ApiException.invalid("top_k", "'top_k' must be >= 0.");
        double minP = number(b, "min_p", 0, 0, 1);
        double presence = number(b, "presence_penalty", 0, -2, 2);
        double frequency = number(b, "frequency_penalty", 0, -2, 2);
        List<String> stop = new ArrayList<>();
        JsonNode s = b.get("stop");
        if (s != null && !s.isNull()) {
            if (s.isTextual()) stop.add(s.asText());
            else if (s.isArray()) {
                if (s.size() > 4) throw ApiException.invalid("stop", "'stop' may hold at most 4 strings.");
                for (JsonNode x : s) {
                    if (!x.isTextual()) throw ApiException.invalid("stop", "'stop' must be a string or a list of strings.");
                    stop.add(x.asText());
                }
            } else throw ApiException.invalid("stop", "'stop' must be a string or a list of strings.");
            for (String x : stop) if (x.isEmpty()) throw ApiException.invalid("stop", "A stop string must not be empty.");
        }
        JsonNode seedNode = b.get("seed");
        Long seed = null;
        if (seedNode != null && !seedNode.isNull()) {
            if (!seedNode.isIntegralNumber() || !seedNode.canConvertToLong()) throw ApiException.invalid("seed", "'seed' must be an integer.");
            seed = seedNode.asLong();
        }
        Integer n = integer(b, "n");
        if (n != null && n != 1) throw ApiException.invalid("n", "Only n = 1 is supported.");
        int topLogprobs = -1;
        if (chat) {
            JsonNode lp = b.get("logprobs");
            boolean want = false;
            if (lp != null && !lp.isNull()) {
                if (!lp.isBoolean()) throw ApiException.invalid("logprobs", "'logprobs' must be a boolean.");
                want = lp.asBoolean();
            }
            Integer top = integer(b, "top_logprobs");
            if (top != null) {
                if (top < 0 || top > 20) throw ApiException.invalid("top_logprobs", "'top_logprobs' must be in 0..20.");
                if (!want) throw ApiException.invalid("top_logprobs", "'top_logprobs' needs 'logprobs': true.");
            }
            if (want) topLogprobs = top == null ? 0 : top;
        } else {
            Integer lp = integer(b, "logprobs");
            if (lp != null) {
                if (lp < 0 || lp > 5) throw ApiException.invalid("logprobs", "'logprobs' must be in 0..5.");
                topLogprobs = lp;
            }
            JsonNode echo = b.get("echo");
            if (echo != null && echo.asBoolean(false)) throw ApiException.invalid("echo", "'echo' is not supported.");
            Integer bestOf = integer(b, "best_of");
            if (bestOf != null && bestOf != 1) throw ApiException.invalid("best_of", "Only best_of = 1 is supported.");
        }
        boolean stream = bool(b, "stream");
        boolean includeUsage = false;
        JsonNode so = b.get("stream_options");
        if (so != null && !so.isNull()) {
            if (!so.isObject()) throw ApiException.invalid("stream_options", "'stream_options' must be an object.");
            if (!stream) throw ApiException.invalid("stream_options", "'stream_options' is only allowed with 'stream': true.");
            includeUsage = bool(so, "include_usage");
        }
        return new Parsed(chat, model, messages, promptText, promptIds, maxTokens, temperature, topP, topK == null ? 0 : topK,
                minP, presence, frequency, stop, seed, topLogprobs, stream, includeUsage);
    }

    /** Tokenises the prompt and fixes the sampling parameters for a deployment (blocking work). */
    static Prepared prepare(Parsed p, Deployment d, ServeOptions opts) {
        int[] prompt;
        if (p.chat()) {
            ChatTemplate t = d.tokenizer.chatTemplate();
            if (t == null) throw ApiException.invalid("messages", d.label + " has no chat template; use /v1/completions.");
            String text;
            try {
                text = t.render(p.messages(), true);
            } catch (ArborException e) {
                throw ApiException.invalid("messages", e.getMessage());
            }
            prompt = d.tokenizer.encode(text, false);
        } else if (p.promptIds() != null) {
            prompt = p.promptIds();
            for (int id : prompt) {
                if (id < 0 || id >= d.model.vocabSize()) throw ApiException.invalid("prompt", "Token id " + id + " is outside the vocabulary (size " + d.model.vocabSize() + ").");
            }
        } else {
            prompt = d.tokenizer.encode(p.promptText(), true);
        }
        if (prompt.length == 0) throw ApiException.invalid(p.chat() ? "messages" : "prompt", "The prompt is empty.");
        int ctx = d.model.maxPositions();
        if (prompt.length > opts.maxPromptTokens() || prompt.length >= ctx) {
            throw ApiException.invalid(p.chat() ? "messages" : "prompt", "context_length_exceeded",
                    "The prompt is " + prompt.length + " tokens; the limit is " + Math.min(opts.maxPromptTokens(), ctx - 1) + ".");
        }
        int maxTokens;
        if (p.maxTokens() != null) {
            if (prompt.length + p.maxTokens() > ctx) {
                throw ApiException.invalid("max_tokens", "context_length_exceeded", "This model's context is " + ctx + " tokens, but the prompt ("
                        + prompt.length + ") plus max_tokens (" + p.maxTokens() + ") is " + (prompt.length + p.maxTokens()) + ".");
            }
            maxTokens = p.maxTokens();
        } else {
            maxTokens = Math.min(opts.maxTokens(), ctx - prompt.length);
        }
        long seed = p.seed() != null ? p.seed() : ThreadLocalRandom.current().nextLong();
        SamplingParams sp;
        try {
            sp = new SamplingParams(p.temperature(), p.topK(), p.topP(), p.minP(), p.presence(), p.frequency(),
                    maxTokens, p.stop(), d.eosIds, seed);
        } catch (ArborException e) {
            throw ApiException.invalid(null, e.getMessage());
        }
        return new Prepared(p, prompt, sp);
    }

    private static String content(JsonNode c, String param) {
        if (c == null || c.isNull()) return "";
        if (c.isTextual()) return c.asText();
        if (c.isArray()) {
            StringBuilder sb = new StringBuilder();
            for (JsonNode part : c) {
                if (!part.isObject() || !"text".equals(part.path("type").asText()) || !part.path("text").isTextual()) {
                    throw ApiException.invalid(param, param + " may only hold text parts ({\"type\": \"text\", \"text\": ...}).");
                }
                sb.append(part.get("text").asText());
            }
            return sb.toString();
        }
        throw ApiException.invalid(param, param + " must be a string or a list of text parts.");
    }

    private static int[] ids(JsonNode a) {
        if (a.isEmpty()) throw ApiException.invalid("prompt", "'prompt' must not be empty.");
        int[] out = new int[a.size()];
        for (int i = 0; i < out.length; i++) {
            JsonNode x = a.get(i);
            if (!x.isIntegralNumber() || !x.canConvertToInt()) throw ApiException.invalid("prompt", "Token ids in 'prompt' must be integers.");
            out[i] = x.asInt();
        }
        return out;
    }

    private static String string(JsonNode b, String f, boolean required) {
        JsonNode x = b.get(f);
        if (x == null || x.isNull()) {
            if (required) throw ApiException.invalid(f, "'" + f + "' is required.");
            return null;
        }
        if (!x.isTextual()) throw ApiException.invalid(f, "'" + f + "' must be a string.");
        return x.asText();
    }

    private static Integer integer(JsonNode b, String f) {
        JsonNode x = b.get(f);
        if (x == null || x.isNull()) return null;
        if (!x.isIntegralNumber() || !x.canConvertToInt()) throw ApiException.invalid(f, "'" + f + "' must be an integer.");
        return x.asInt();
    }

    private static double number(JsonNode b, String f, double dflt, double min, double max) {
        JsonNode x = b.get(f);
        if (x == null || x.isNull()) return dflt;
        if (!x.isNumber()) throw ApiException.invalid(f, "'" + f + "' must be a number.");
        double v = x.asDouble();
        if (!(v >= min && v <= max)) throw ApiException.invalid(f, "'" + f + "' must be between " + fmt(min) + " and " + fmt(max) + ".");
        return v;
    }

    private static boolean bool(JsonNode b, String f) {
        JsonNode x = b.get(f);
        if (x == null || x.isNull()) return false;
        if (!x.isBoolean()) throw ApiException.invalid(f, "'" + f + "' must be a boolean.");
        return x.asBoolean();
    }

    private static String fmt(double d) { return d == Math.rint(d) ? Long.toString((long) d) : Double.toString(d); }
}
