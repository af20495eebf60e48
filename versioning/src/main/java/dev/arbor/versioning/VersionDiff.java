package dev.arbor.versioning;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.arbor.format.Tensor;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.TreeSet;

/**
 * How version {@code to} differs from {@code from}: config fields, side files, tensors added,
 * removed and changed (with the largest absolute change and the relative change
 * ‖Δ‖₂ / ‖from‖₂ when the shapes agree), and the bytes the two share through common blobs.
 */
public record VersionDiff(String from, String to, List<ConfigChange> config, List<String> filesChanged,
                          List<String> added, List<String> removed, List<TensorChange> changed, int unchanged,
                          long sharedBytes, long fromBytes, long toBytes) {

    /** A config field; before/after are JSON text, null when the field is absent. */
    public record ConfigChange(String field, String before, String after) {}

    /**
     * A tensor whose blob differs. {@code what} is "values", "dtype F32→BF16" or "shape [..]→[..]";
     * the numbers are NaN when shapes differ.
     */
    public record TensorChange(String name, String what, double maxAbsDelta, double relativeChange) {}

    static VersionDiff compute(Store store, Version a, Version b) {
        List<ConfigChange> cfg = new ArrayList<>();
        ObjectNode ca = a.config().toJsonNode(), cb = b.config().toJsonNode();
        TreeSet<String> fields = new TreeSet<>();
        ca.fieldNames().forEachRemaining(fields::add);
        cb.fieldNames().forEachRemaining(fields::add);
        for (String f : fields) {
            JsonNode x = ca.get(f), y = cb.get(f);
            if (!Objects.equals(x, y)) cfg.add(new ConfigChange(f, x == null ? null : x.toString(), y == null ? null : y.toString()));
        }
        List<String> files = new ArrayList<>();
        TreeSet<String> fileNames = new TreeSet<>(a.files().keySet());
        fileNames.addAll(b.files().keySet());
        for (String f : fileNames) if (!Objects.equals(a.files().get(f), b.files().get(f))) files.add(f);

        List<String> added = new ArrayList<>(), removed = new ArrayList<>();
        List<TensorChange> changed = new ArrayList<>();
        int unchanged = 0;
        try (StoredModel ma = store.openModel(a); StoredModel mb = store.openModel(b)) {
            for (Version.StoredTensor tb : b.tensors()) {
                Version.StoredTensor ta = a.tensor(tb.name());
                if (ta == null) added.add(tb.name());
                else if (ta.blob().equals(tb.blob()) && ta.dtype() == tb.dtype() && Arrays.equals(ta.shape(), tb.shape())) unchanged++;
                else changed.add(change(ma.tensor(ta.name()), mb.tensor(tb.name())));
            }
        }
        for (Version.StoredTensor ta : a.tensors()) if (b.tensor(ta.name()) == null) removed.add(ta.name());
        Map<String, Long> ba = a.blobs(), bb = b.blobs();
        long shared = 0, fromBytes = 0, toBytes = 0;
        for (Map.Entry<String, Long> e : ba.entrySet()) {
            fromBytes += e.getValue();
            if (bb.containsKey(e.getKey())) shared += e.getValue();
        }
        for (long v : bb.values()) toBytes += v;
        return new VersionDiff(a.label(), b.label(), cfg, files, added, removed, changed, unchanged, shared, fromBytes, toBytes);
    }

    private static TensorChange change(Tensor x, Tensor y) {
        if (!Arrays.equals(x.shape(), y.shape())) {
            return new TensorChange(x.name(), "shape " + x.shapeString() + "→" + y.shapeString(), Double.NaN, Double.NaN);
        }
        String what = x.dtype() == y.dtype() ? "values" : "dtype " + x.dtype().code() + "→" + y.dtype().code();
        int chunk = 1 << 16;
        float[] fx = new float[chunk], fy = new float[chunk];
        double max = 0, d2 = 0, x2 = 0;
        long n = x.numel();
        for (long off = 0; off < n; off += chunk) {
            int c = (int) Math.min(chunk, n - off);
            x.readFloats(off, fx, 0, c);
            y.readFloats(off, fy, 0, c);
            for (int i = 0; i < c; i++) {
                double d = (double) fy[i] - fx[i];
                max = Math.max(max, Math.abs(d));
                d2 += d * d;
                x2 += (double) fx[i] * fx[i];
            }
        }
        double rel = x2 == 0 ? (d2 == 0 ? 0 : Double.POSITIVE_INFINITY) : Math.sqrt(d2 / x2);
        return new TensorChange(x.name(), what, max, rel);
    }
}
