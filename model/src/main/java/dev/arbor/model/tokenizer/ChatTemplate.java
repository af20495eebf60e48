package dev.arbor.model.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import com.hubspot.jinjava.Jinjava;
import com.hubspot.jinjava.JinjavaConfig;
import com.hubspot.jinjava.LegacyOverrides;
import com.hubspot.jinjava.el.JinjavaInterpreterResolver;
import com.hubspot.jinjava.interpret.RenderResult;
import com.hubspot.jinjava.interpret.TemplateError;
import com.hubspot.jinjava.lib.fn.ELFunctionDefinition;
import dev.arbor.format.FormatException;
import jinjava.javax.el.CompositeELResolver;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A HuggingFace chat template (the Jinja {@code chat_template} of tokenizer_config.json), rendered
 * with Jinjava so that the text equals {@code tokenizer.apply_chat_template(messages, tokenize=False,
 * add_generation_prompt=...)} in Python {@code transformers}.
 *
 * <p>transformers renders with Jinja2 ({@code trim_blocks}, {@code lstrip_blocks}, loop controls)
 * and passes {@code messages}, {@code tools=None}, {@code documents=None},
 * {@code add_generation_prompt} and the special tokens ({@code bos_token}, {@code eos_token}, ...),
 * with the globals {@code raise_exception} and {@code strftime_now} and a {@code tojson} that writes
 * like Python's {@code json.dumps}. Jinjava is configured the same way, and what it lacks is added:
 * Python's string methods ({@link PyStrings}), Python's {@code trim} and {@code tojson}
 * ({@link JinjaPython}), and two small rewrites of the source where Jinjava parses differently
 * ({@link TemplateRewrite}: keyword-argument precedence, {@code [::-1]}).
 *
 * <p>Known difference: Jinjava prints a boolean as {@code true} where Jinja2 prints {@code True};
 * chat templates compare booleans but do not print them ({@code tojson} is right).
 *
 * <p>The rendered prompt already holds the template's BOS token: encode it with
 * {@code addSpecialTokens=false}, as transformers does.
 */
public final class ChatTemplate {
    private final String source;
    private final String template;                 // source after TemplateRewrite
    private final Map<String, Object> specialTokens;
    private final Jinjava jinjava;

    ChatTemplate(String source, Map<String, Object> specialTokens) {
        this.source = source;
        this.template = TemplateRewrite.apply(source);
        this.specialTokens = Map.copyOf(specialTokens);
        this.jinjava = newJinjava();
    }

    /** A template with the given special-token variables (bos_token etc.). */
    static ChatTemplate of(String source, Map<String, String> specialTokens) {
        return new ChatTemplate(source, new HashMap<>(specialTokens));
    }

    /**
     * The template of tokenizer_config.json, or {@code override} (the text of a chat_template.jinja
     * file, which newer transformers saves beside it and prefers) when not null; null when neither has one.
     */
    static ChatTemplate fromConfig(JsonNode config, Path file, String override) {
        JsonNode t = config.get("chat_template");
        String source;
        if (override != null) {
            source = override;
        } else if (t == null || t.isNull()) {
            return null;
        } else if (t.isTextual()) {
            source = t.asText();
        } else if (t.isArray()) {
            // Newer files may hold several named templates; transformers uses the one named "default".
            source = null;
            for (JsonNode n : t) if ("default".equals(n.path("name").asText())) source = n.path("template").asText(null);
            if (source == null) throw new FormatException(file + " has chat templates but none named \"default\".");
        } else {
            throw new FormatException(file + " has a chat_template that is neither a string nor a list.");
        }
        Map<String, Object> tokens = new HashMap<>();
        for (String k : List.of("bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token")) {
            String v = Tokenizer.tokenText(config, k);
            if (v != null) tokens.put(k, v);
        }
        JsonNode extra = config.get("additional_special_tokens");
        if (extra != null && extra.isArray() && !extra.isEmpty()) {
            List<String> l = new ArrayList<>();
            for (JsonNode n : extra) l.add(n.isTextual() ? n.asText() : n.path("content").asText());
            tokens.put("additional_special_tokens", l);
        }
        return new ChatTemplate(source, tokens);
    }

    /** The prompt text for {@code messages}; with {@code addGenerationPrompt} it ends where the assistant's reply begins. */
    public String render(List<ChatMessage> messages, boolean addGenerationPrompt) {
        List<Map<String, Object>> msgs = new ArrayList<>(messages.size());
        for (ChatMessage m : messages) {
            Map<String, Object> o = new LinkedHashMap<>();
            o.put("role", m.role());
            o.put("content", m.content());
            msgs.add(o);
        }
        Map<String, Object> vars = new HashMap<>(specialTokens);
        vars.put("messages", msgs);
        vars.put("tools", null);
        vars.put("documents", null);
        vars.put("add_generation_prompt", addGenerationPrompt);
        RenderResult r = jinjava.renderForResult(template, vars);
        for (TemplateError e : r.getErrors()) {
            if (e.getSeverity() != TemplateError.ErrorType.FATAL) continue;
            if (e.getException() != null && findRaised(e.getException()) instanceof JinjaPython.Raised raised)
                throw new FormatException("The chat template refused the conversation: " + raised.getMessage());
            throw new FormatException("The chat template failed at line " + e.getLineno() + ": " + e.getMessage());
        }
        return r.getOutput();
    }

    /** The template as written in tokenizer_config.json. */
    public String source() { return source; }

    private static Throwable findRaised(Throwable t) {
        for (int i = 0; t != null && i < 10; t = t.getCause(), i++) if (t instanceof JinjaPython.Raised) return t;
        return null;
    }

    private static Jinjava newJinjava() {
        CompositeELResolver resolver = new CompositeELResolver();
        resolver.add(new PyStrings());
        resolver.add(JinjavaInterpreterResolver.DEFAULT_RESOLVER_READ_ONLY);
        JinjavaConfig config = JinjavaConfig.newBuilder()
                .withTrimBlocks(true)
                .withLstripBlocks(true)
                // Jinjava's opt-in fixes that make it behave like Jinja2
                .withLegacyOverrides(LegacyOverrides.newBuilder()
                        .withUseNaturalOperatorPrecedence(true)      // `x=a|length - 1` as Jinja2 parses it
                        .withParseWhitespaceControlStrictly(true)
                        .withUseTrimmingForNotesAndExpressions(true) // `{{-` and `{#-` trim like `{%-`
                        .withAllowAdjacentTextNodes(true)
                        .withEvaluateMapKeys(true)
                        .withIterateOverMapKeys(true)
                        .withUsePyishObjectMapper(true)
                        .withKeepNullableLoopValues(true)
                        .build())
                .withElResolver(resolver)
                .build();
        Jinjava j = new Jinjava(config);
        var ctx = j.getGlobalContext();
        ctx.registerFilter(new JinjaPython.Trim());
        ctx.registerFilter(new JinjaPython.ToJson());
        ctx.registerFunction(new ELFunctionDefinition("", "raise_exception", JinjaPython.class, "raiseException", Object.class));
        ctx.registerFunction(new ELFunctionDefinition("", "strftime_now", JinjaPython.class, "strftimeNow", String.class));
        return j;
    }
}
