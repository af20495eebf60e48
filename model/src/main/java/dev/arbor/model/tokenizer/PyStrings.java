package dev.arbor.model.tokenizer;

import jinjava.javax.el.ELContext;
import jinjava.javax.el.ELResolver;

import java.beans.FeatureDescriptor;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;

/**
 * Python's {@code str} methods for Jinjava, which otherwise offers Java's (no {@code startswith},
 * a regex {@code split} that drops trailing empties, a {@code strip} with no argument). Chat
 * templates call them on message contents: {@code content.split('</think>')[-1].lstrip('\n')}.
 * Resolves only method calls on a {@code String} whose name is listed in {@link #invoke}.
 */
final class PyStrings extends ELResolver {

    @Override public Object invoke(ELContext context, Object base, Object method, Class<?>[] paramTypes, Object[] params) {
        if (!(base instanceof String s) || method == null) return null;
        Object[] a = params == null ? new Object[0] : params;
        Object result = switch (method.toString()) {
            case "startswith" -> anyMatch(a, 0, p -> s.startsWith(p));
            case "endswith" -> anyMatch(a, 0, p -> s.endsWith(p));
            case "strip" -> strip(s, chars(a), true, true);
            case "lstrip" -> strip(s, chars(a), true, false);
            case "rstrip" -> strip(s, chars(a), false, true);
            case "split" -> split(s, a.length > 0 ? (String) a[0] : null, a.length > 1 ? toInt(a[1]) : -1);
            case "upper" -> s.toUpperCase(Locale.ROOT);
            case "lower" -> s.toLowerCase(Locale.ROOT);
            case "title" -> title(s);
            case "capitalize" -> s.isEmpty() ? s
                    : s.substring(0, s.offsetByCodePoints(0, 1)).toUpperCase(Locale.ROOT) + s.substring(s.offsetByCodePoints(0, 1)).toLowerCase(Locale.ROOT);
            case "replace" -> replace(s, str(a, 0), str(a, 1), a.length > 2 ? toInt(a[2]) : -1);
            case "join" -> join(s, a.length > 0 ? a[0] : List.of());
            default -> NOT_MINE;
        };
        if (result == NOT_MINE) return null;
        context.setPropertyResolved(true);
        return result;
    }

    private static final Object NOT_MINE = new Object();

    /** Python's {@code str.isspace()} for one code point (Unicode White_Space plus U+001C..U+001F). */
    static boolean isSpace(int c) {
        return switch (c) {
            case '\t', '\n', 0x0B, '\f', '\r', 0x1C, 0x1D, 0x1E, 0x1F, ' ', 0x85, 0xA0, 0x1680,
                 0x2028, 0x2029, 0x202F, 0x205F, 0x3000 -> true;
            default -> c >= 0x2000 && c <= 0x200A;
        };
    }

    /** {@code str.strip(chars)}: {@code chars == null} strips whitespace. */
    static String strip(String s, String chars, boolean left, boolean right) {
        int start = 0, end = s.length();
        while (left && start < end) {
            int c = s.codePointAt(start);
            if (!stripped(c, chars)) break;
            start += Character.charCount(c);
        }
        while (right && end > start) {
            int c = s.codePointBefore(end);
            if (!stripped(c, chars)) break;
            end -= Character.charCount(c);
        }
        return s.substring(start, end);
    }

    private static boolean stripped(int c, String chars) {
        return chars == null ? isSpace(c) : chars.indexOf(c) >= 0;
    }

    /** {@code str.split(sep, maxsplit)}: with no sep, splits on whitespace runs and drops empty parts. */
    static List<String> split(String s, String sep, int maxsplit) {
        List<String> out = new ArrayList<>();
        if (sep != null) {
            if (sep.isEmpty()) throw new IllegalArgumentException("empty separator");
            int from = 0, at;
            while ((maxsplit < 0 || out.size() < maxsplit) && (at = s.indexOf(sep, from)) >= 0) {
                out.add(s.substring(from, at));
                from = at + sep.length();
            }
            out.add(s.substring(from));
            return out;
        }
        int i = 0, n = s.length();
        while (true) {
            while (i < n && isSpace(s.codePointAt(i))) i += Character.charCount(s.codePointAt(i));
            if (i >= n) return out;
            if (maxsplit >= 0 && out.size() == maxsplit) {
                out.add(strip(s.substring(i), null, false, true));
                return out;
            }
            int j = i;
            while (j < n && !isSpace(s.codePointAt(j))) j += Character.charCount(s.codePointAt(j));
            out.add(s.substring(i, j));
            i = j;
        }
    }

    private static String title(String s) {
        StringBuilder b = new StringBuilder(s.length());
        boolean prevCased = false;
        for (int i = 0; i < s.length(); ) {
            int c = s.codePointAt(i);
            b.appendCodePoint(prevCased ? Character.toLowerCase(c) : Character.toTitleCase(c));
            prevCased = Character.isUpperCase(c) || Character.isLowerCase(c) || Character.isTitleCase(c);
            i += Character.charCount(c);
        }
        return b.toString();
    }

    /** {@code str.replace(old, new, count)}; an empty {@code old} matches before every code point and at the end. */
    private static String replace(String s, String old, String with, int count) {
        if (count < 0) return s.replace(old, with);
        StringBuilder b = new StringBuilder();
        int from = 0;
        for (int done = 0; done < count; done++) {
            int at = s.indexOf(old, from);
            if (at < 0 || at > s.length()) break;
            b.append(s, from, at).append(with);
            from = at + old.length();
            if (old.isEmpty()) {
                if (from >= s.length()) return b.toString();
                int cp = s.codePointAt(from);
                b.appendCodePoint(cp);
                from += Character.charCount(cp);
            }
        }
        return b.append(s, from, s.length()).toString();
    }

    /** {@code sep.join(items)}. */
    private static String join(String sep, Object items) {
        if (!(items instanceof Iterable<?> it)) throw new IllegalArgumentException("join expects a list");
        StringBuilder b = new StringBuilder();
        boolean first = true;
        for (Object o : it) {
            if (!first) b.append(sep);
            b.append(o);
            first = false;
        }
        return b.toString();
    }

    private interface StrTest { boolean test(String prefix); }

    /** startswith/endswith take a string or a tuple of strings. */
    private static boolean anyMatch(Object[] a, int i, StrTest t) {
        if (a.length <= i) throw new IllegalArgumentException("missing argument");
        if (a[i] instanceof String p) return t.test(p);
        if (a[i] instanceof Iterable<?> it) {
            for (Object o : it) if (t.test(String.valueOf(o))) return true;
            return false;
        }
        throw new IllegalArgumentException("expected a string or a tuple of strings");
    }

    private static String chars(Object[] a) { return a.length > 0 && a[0] != null ? a[0].toString() : null; }

    private static String str(Object[] a, int i) {
        if (a.length <= i || a[i] == null) throw new IllegalArgumentException("missing argument");
        return a[i].toString();
    }

    private static int toInt(Object o) { return o instanceof Number n ? n.intValue() : Integer.parseInt(o.toString()); }

    @Override public Class<?> getCommonPropertyType(ELContext context, Object base) { return null; }
    @Override public Iterator<FeatureDescriptor> getFeatureDescriptors(ELContext context, Object base) { return null; }
    @Override public Class<?> getType(ELContext context, Object base, Object property) { return null; }
    @Override public Object getValue(ELContext context, Object base, Object property) { return null; }
    @Override public boolean isReadOnly(ELContext context, Object base, Object property) { return true; }
    @Override public void setValue(ELContext context, Object base, Object property, Object value) {}
}
