package dev.arbor.model.tokenizer;

import java.util.ArrayDeque;
import java.util.Deque;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Rewrites of Jinja2 source for syntax that Jinjava parses differently, applied inside
 * {@code {{ }}} and {@code {% %}} only, never to the text between them:
 * <ul>
 * <li>a keyword argument's value is parenthesised, {@code namespace(i=messages|length - 1)} →
 *     {@code namespace(i=(messages|length - 1))}: Jinjava binds {@code name=value} tighter than
 *     arithmetic, so it would compute {@code (i=2) - 1};</li>
 * <li>a reversing slice {@code x[::-1]} becomes {@code (x|reverse)}: Jinjava's slices have no step
 *     (a plain pattern match on the tag, where {@code x} is a name or dotted path).</li>
 * </ul>
 */
final class TemplateRewrite {
    private static final Pattern REVERSE_SLICE = Pattern.compile("([A-Za-z_][A-Za-z0-9_.]*)\\[\\s*:\\s*:\\s*-1\\s*]");

    private TemplateRewrite() {}

    static String apply(String source) {
        StringBuilder out = new StringBuilder(source.length() + 64);
        int i = 0;
        while (i < source.length()) {
            int open = nextTag(source, i);
            if (open < 0) { out.append(source, i, source.length()); break; }
            out.append(source, i, open);
            if (source.startsWith("{#", open)) {                     // comment: copy as is
                int end = source.indexOf("#}", open + 2);
                end = end < 0 ? source.length() : end + 2;
                out.append(source, open, end);
                i = end;
                continue;
            }
            String close = source.startsWith("{{", open) ? "}}" : "%}";
            int end = tagEnd(source, open + 2, close);
            out.append(source, open, open + 2).append(rewriteExpression(source.substring(open + 2, end)));
            i = end;
        }
        return out.toString();
    }

    private static int nextTag(String s, int from) {
        int best = -1;
        for (String t : new String[] {"{{", "{%", "{#"}) {
            int k = s.indexOf(t, from);
            if (k >= 0 && (best < 0 || k < best)) best = k;
        }
        return best;
    }

    /** Index of {@code close} ending the tag, skipping string literals; the text's end if unclosed. */
    private static int tagEnd(String s, int from, String close) {
        for (int i = from; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '\'' || c == '"') i = stringEnd(s, i) - 1;
            else if (s.startsWith(close, i)) return i;
        }
        return s.length();
    }

    /** Index just past the string literal opening at {@code start}. */
    private static int stringEnd(String s, int start) {
        char q = s.charAt(start);
        for (int i = start + 1; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '\\') i++;
            else if (c == q) return i + 1;
        }
        return s.length();
    }

    static String rewriteExpression(String e) {
        StringBuilder out = new StringBuilder(e.length() + 16);
        Deque<Boolean> kwargOpen = new ArrayDeque<>();   // per open bracket: is a keyword value open?
        Deque<Character> brackets = new ArrayDeque<>();
        for (int i = 0; i < e.length(); i++) {
            char c = e.charAt(i);
            if (c == '\'' || c == '"') {
                int end = stringEnd(e, i);
                out.append(e, i, end);
                i = end - 1;
                continue;
            }
            if (c == '(' || c == '[' || c == '{') {
                brackets.push(c);
                kwargOpen.push(false);
                out.append(c);
                continue;
            }
            if ((c == ')' || c == ']' || c == '}' || c == ',') && !brackets.isEmpty()) {
                if (kwargOpen.peek()) {
                    out.append(')');
                    kwargOpen.pop();
                    kwargOpen.push(false);
                }
                if (c != ',') { brackets.pop(); kwargOpen.pop(); }
                out.append(c);
                continue;
            }
            // "name=" (not "==") directly after "(" or "," inside a call: a keyword argument
            if (c == '=' && !brackets.isEmpty() && brackets.peek() == '(' && !kwargOpen.peek()
                    && (i + 1 >= e.length() || e.charAt(i + 1) != '=') && i > 0 && "=!<>".indexOf(e.charAt(i - 1)) < 0
                    && startsKeyword(out)) {
                out.append("=(");
                kwargOpen.pop();
                kwargOpen.push(true);
                continue;
            }
            out.append(c);
        }
        Matcher m = REVERSE_SLICE.matcher(out);
        return m.replaceAll(r -> Matcher.quoteReplacement("(" + r.group(1) + "|reverse)"));
    }

    /** Whether {@code out} ends with "(" or "," then an identifier (the keyword's name), spaces allowed. */
    private static boolean startsKeyword(CharSequence out) {
        int i = out.length() - 1;
        while (i >= 0 && out.charAt(i) == ' ') i--;
        int end = i;
        while (i >= 0 && (Character.isLetterOrDigit(out.charAt(i)) || out.charAt(i) == '_')) i--;
        if (i == end) return false;
        while (i >= 0 && Character.isWhitespace(out.charAt(i))) i--;
        return i >= 0 && (out.charAt(i) == '(' || out.charAt(i) == ',');
    }
}
