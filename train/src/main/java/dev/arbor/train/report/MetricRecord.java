package dev.arbor.train.report;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;

/**
 * One line of a metrics log: the step and free-form values (numbers, strings, booleans or
 * null), in the order they were written. Numbers read back as {@link Long} when the JSON had
 * an integer and {@link Double} otherwise; non-finite doubles come back as doubles (see
 * {@link MetricsLog} for how they are stored).
 *
 * <p>Conventional keys: {@code loss}, {@code tokens}, {@code lr}, {@code grad_norm},
 * {@code tokens_per_s}, {@code elapsed_s}, {@code mask} on training steps; {@code val_loss} on
 * evaluations; {@code flops} when known.
 */
public record MetricRecord(long step, Map<String, Object> values) {

    public MetricRecord {
        Objects.requireNonNull(values, "values");
        if (values.containsKey("step")) throw new IllegalArgumentException("'step' is not a value key");
        for (var e : values.entrySet()) {
            Object v = e.getValue();
            if (e.getKey() == null) throw new IllegalArgumentException("null key");
            if (v != null && !(v instanceof Number || v instanceof String || v instanceof Boolean))
                throw new IllegalArgumentException(e.getKey() + ": values are numbers, strings, booleans or null, not "
                        + v.getClass().getSimpleName());
        }
        // LinkedHashMap (not Map.copyOf) keeps the written order and allows null values
        values = Collections.unmodifiableMap(new LinkedHashMap<>(values));
    }

    /** {@code of(12, "loss", 5.31, "lr", 3e-4)}: keys and values alternate. */
    public static MetricRecord of(long step, Object... keysAndValues) {
        if (keysAndValues.length % 2 != 0) throw new IllegalArgumentException("keys and values must pair up");
        Map<String, Object> m = new LinkedHashMap<>();
        for (int i = 0; i < keysAndValues.length; i += 2) m.put((String) keysAndValues[i], keysAndValues[i + 1]);
        return new MetricRecord(step, m);
    }

    /** Whether {@code key} holds a number (NaN and infinities included). */
    public boolean has(String key) {
        return values.get(key) instanceof Number;
    }

    /** The number under {@code key}, or NaN when it is absent or not a number (use {@link #has}). */
    public double get(String key) {
        return values.get(key) instanceof Number n ? n.doubleValue() : Double.NaN;
    }

    /** The value under {@code key} as text, or null when absent. */
    public String text(String key) {
        Object v = values.get(key);
        return v == null ? null : v.toString();
    }
}
