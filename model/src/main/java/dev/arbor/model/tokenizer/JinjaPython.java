package dev.arbor.model.tokenizer;

import com.hubspot.jinjava.interpret.JinjavaInterpreter;
import com.hubspot.jinjava.lib.filter.Filter;
import com.hubspot.jinjava.objects.date.StrftimeFormatter;

import java.math.BigDecimal;
import java.time.ZonedDateTime;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/** The filters and globals transformers adds to Jinja2 for chat templates, written for Jinjava. */
final class JinjaPython {
    private JinjaPython() {}

    /** Thrown by {@code raise_exception(msg)}: the template rejects the conversation. */
    static final class Raised extends RuntimeException {
        Raised(String message) { super(message); }
    }

    public static Object raiseException(Object message) {
        throw new Raised(String.valueOf(message));
    }

    /** {@code strftime_now(fmt)}: the local time now, formatted as Python's {@code strftime} (C locale). */
    public static String strftimeNow(String format) {
        return StrftimeFormatter.format(ZonedDateTime.now(), format, Locale.ENGLISH);
    }

    /** Jinja2's {@code trim(chars=None)} is Python's {@code str.strip}; Jinjava's strips every char ≤ U+0020. */
    static final class Trim implements Filter {
        @Override public String getName() { return "trim"; }

        @Override public Object filter(Object var, JinjavaInterpreter interpreter, String... args) {
            if (var == null) return "";
            return PyStrings.strip(var.toString(), args.length > 0 ? args[0] : null, true, true);
        }
    }

    /**
     * transformers' {@code tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False)},
     * i.e. Python's {@code json.dumps}: {@code ", "} and {@code ": "} separators and non-ASCII kept,
     * where Jinjava's writes compact JSON.
     */
    static final class ToJson implements Filter {
        @Override public String getName() { return "tojson"; }

        @Override public Object filter(Object var, JinjavaInterpreter interpreter, String... args) {
            return filter(var, interpreter, args, Map.of());
        }

        @Override public Object filter(Object var, JinjavaInterpreter interpreter, Object[] args, Map<String, Object> kwargs) {
            Object ensureAscii = arg(args, kwargs, 0, "ensure_ascii", false);
            Object indent = arg(args, kwargs, 1, "indent", null);
            Object separators = arg(args, kwargs, 2, "separators", null);
            Object sortKeys = arg(args, kwargs, 3, "sort_keys", false);
            String indentUnit = indent == null ? null
                    : indent instanceof Number n ? " ".repeat(Math.max(0, n.intValue())) : indent.toString();
            String itemSep = indentUnit == null ? ", " : ",", keySep = ": ";
            if (separators instanceof List<?> l && l.size() == 2) {
                itemSep = String.valueOf(l.get(0));
                keySep = String.valueOf(l.get(1));
            }
            StringBuilder b = new StringBuilder();
            new PyJson(truthy(ensureAscii), indentUnit, itemSep, keySep, truthy(sortKeys)).write(b, var, 0);
            return b.toString();
        }

        private static Object arg(Object[] args, Map<String, Object> kwargs, int i, String name, Object dflt) {
            if (kwargs != null && kwargs.containsKey(name)) return kwargs.get(name);
            return args != null && args.length > i ? args[i] : dflt;
        }

        private static boolean truthy(Object o) {
            return o instanceof Boolean b ? b : o != null && !"false".equalsIgnoreCase(o.toString()) && !"".equals(o.toString());
        }
    }

    /** Python {@code json.dumps} for the values a template holds: maps, lists, strings, numbers, booleans, null. */
    record PyJson(boolean ensureAscii, String indent, String itemSep, String keySep, boolean sortKeys) {
        void write(StringBuilder b, Object v, int depth) {
            switch (v) {
                case null -> b.append("null");
                case String s -> string(b, s);
                case Boolean x -> b.append(x ? "true" : "false");
                case Double d -> b.append(pyFloat(d));
                case Float f -> b.append(pyFloat(f.doubleValue()));
                case BigDecimal d -> b.append(pyFloat(d.doubleValue()));
                case Number n -> b.append(n);
                case Map<?, ?> m -> {
                    List<Map.Entry<?, ?>> entries = new ArrayList<>(m.entrySet());
                    if (sortKeys) entries.sort(Comparator.comparing(e -> String.valueOf(e.getKey())));
                    container(b, '{', '}', entries, depth, (e, d) -> {
                        string(b, key(e.getKey()));
                        b.append(keySep);
                        write(b, e.getValue(), d);
                    });
                }
                case Iterable<?> it -> {
                    List<Object> items = new ArrayList<>();
                    it.forEach(items::add);
                    container(b, '[', ']', items, depth, (o, d) -> write(b, o, d));
                }
                case Object[] arr -> write(b, List.of(arr), depth);
                default -> string(b, v.toString());
            }
        }

        private interface Item<T> { void write(T item, int depth); }

        private <T> void container(StringBuilder b, char open, char close, List<T> items, int depth, Item<T> item) {
            b.append(open);
            if (items.isEmpty()) { b.append(close); return; }
            for (int i = 0; i < items.size(); i++) {
                if (i > 0) b.append(itemSep);
                if (indent != null) b.append('\n').append(indent.repeat(depth + 1));
                item.write(items.get(i), depth + 1);
            }
            if (indent != null) b.append('\n').append(indent.repeat(depth));
            b.append(close);
        }

        private static String key(Object k) {
            if (k == null) return "null";
            if (k instanceof Boolean x) return x ? "true" : "false";
            if (k instanceof Double d) return pyFloat(d);
            return k.toString();
        }

        private void string(StringBuilder b, String s) {
            b.append('"');
            for (int i = 0; i < s.length(); i++) {
                char c = s.charAt(i);
                switch (c) {
                    case '"' -> b.append("\\\"");
                    case '\\' -> b.append("\\\\");
                    case '\n' -> b.append("\\n");
                    case '\r' -> b.append("\\r");
                    case '\t' -> b.append("\\t");
                    case '\b' -> b.append("\\b");
                    case '\f' -> b.append("\\f");
                    default -> {
                        if (c < 0x20 || ensureAscii && c > 0x7E) b.append(String.format("\\u%04x", (int) c));
                        else b.append(c);
                    }
                }
            }
            b.append('"');
        }
    }

    /** Python's {@code repr(float)}: shortest round-trip digits, scientific below 1e-4 and from 1e16. */
    static String pyFloat(double d) {
        if (Double.isNaN(d)) return "NaN";
        if (Double.isInfinite(d)) return d > 0 ? "Infinity" : "-Infinity";
        if (d == 0) return (1 / d < 0) ? "-0.0" : "0.0";
        BigDecimal bd = new BigDecimal(Double.toString(d)).stripTrailingZeros();
        String digits = bd.unscaledValue().abs().toString();
        int exp = digits.length() - 1 - bd.scale();
        String sign = d < 0 ? "-" : "";
        if (exp >= -4 && exp < 16) {
            String plain = bd.abs().toPlainString();
            return sign + (plain.contains(".") ? plain : plain + ".0");
        }
        String mantissa = digits.length() == 1 ? digits : digits.charAt(0) + "." + digits.substring(1);
        return sign + mantissa + "e" + (exp < 0 ? "-" : "+") + String.format("%02d", Math.abs(exp));
    }
}
