package dev.arbor.model;

import dev.arbor.format.Checkpoint;
import dev.arbor.format.SafetensorsFile;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;

/** The reference goldens under src/test/resources/golden (see the README there). */
final class Goldens {
    private Goldens() {}

    static Path dir(String name) {
        try {
            return Path.of(Goldens.class.getResource("/golden/" + name + "/config.json").toURI()).getParent();
        } catch (URISyntaxException | NullPointerException e) {
            throw new IllegalStateException("missing golden " + name, e);
        }
    }

    static Checkpoint open(String name) { return Checkpoint.open(dir(name)); }

    static int[] tokens(String name) {
        try {
            return Arrays.stream(Files.readString(dir(name).resolve("tokens.txt")).trim().split(","))
                    .mapToInt(Integer::parseInt).toArray();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The reference's f64 logits [T, vocab]. */
    static double[] logits(String name) {
        try (SafetensorsFile f = SafetensorsFile.open(dir(name).resolve("logits.safetensors"))) {
            return f.tensor("logits").toDoubleArray();
        }
    }

    /** max|a − ref| / max|ref|. */
    static double maxRel(float[] a, double[] ref) {
        if (a.length != ref.length) throw new AssertionError("length " + a.length + " vs " + ref.length);
        double num = 0, den = 0;
        for (int i = 0; i < a.length; i++) {
            num = Math.max(num, Math.abs(a[i] - ref[i]));
            den = Math.max(den, Math.abs(ref[i]));
        }
        return num / den;
    }

    static double maxRel(float[] a, float[] ref) {
        double[] r = new double[ref.length];
        for (int i = 0; i < r.length; i++) r[i] = ref[i];
        return maxRel(a, r);
    }
}
