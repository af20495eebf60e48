package dev.arbor.train;

import dev.arbor.model.Exp;
import jdk.incubator.vector.FloatVector;
import org.junit.jupiter.api.Test;

import java.util.SplittableRandom;

import static org.assertj.core.api.Assertions.assertThat;

class KernelsTest {
    /** The deterministic exp is accurate to a few ulp, and its vector lanes equal the scalar version bit for bit. */
    @Test
    void expIsAccurateAndLanesEqualTheScalarFunction() {
        var species = FloatVector.SPECIES_PREFERRED;
        SplittableRandom rnd = new SplittableRandom(3);
        float[] x = new float[species.length()];
        float[] y = new float[x.length];
        double worst = 0;
        for (int trial = 0; trial < 20_000; trial++) {
            for (int i = 0; i < x.length; i++) x[i] = (float) rnd.nextDouble(-90, 88);
            Exp.exp(FloatVector.fromArray(species, x, 0)).intoArray(y, 0);
            for (int i = 0; i < x.length; i++) {
                assertThat(Float.floatToRawIntBits(y[i])).as("exp(%s)", x[i]).isEqualTo(Float.floatToRawIntBits(Exp.exp(x[i])));
                double ref = StrictMath.exp(x[i]);
                if (x[i] < -87.33654f) assertThat(y[i]).isZero();
                else if (ref > Float.MIN_NORMAL && ref < Float.MAX_VALUE) worst = Math.max(worst, Math.abs(y[i] - ref) / ref);
            }
        }
        assertThat(worst).isLessThan(3e-7);
        // the clamps and special values: vector lanes still equal the scalar function, bit for bit
        float[] edges = {Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, 88f, 88.5f, 1e30f, Float.MAX_VALUE,
                -Float.MAX_VALUE, -87.33654f, Math.nextUp(-87.33654f), Math.nextDown(-87.33654f), -0f, 0f, -126f * 0.6931472f};
        for (int from = 0; from < edges.length; from += x.length) {
            java.util.Arrays.fill(x, 1f);
            System.arraycopy(edges, from, x, 0, Math.min(x.length, edges.length - from));
            Exp.exp(FloatVector.fromArray(species, x, 0)).intoArray(y, 0);
            for (int i = 0; i < x.length; i++) {
                assertThat(Float.floatToRawIntBits(y[i])).as("exp(%s)", x[i]).isEqualTo(Float.floatToRawIntBits(Exp.exp(x[i])));
            }
        }
        assertThat(Exp.exp(Float.POSITIVE_INFINITY)).isEqualTo((float) Math.exp(88), org.assertj.core.data.Offset.offset(1e32f));
        assertThat(Exp.exp(Float.NEGATIVE_INFINITY)).isZero();
        assertThat(Exp.exp(Float.NaN)).isNaN();
        assertThat(Exp.exp(0f)).isEqualTo(1f);
    }
}
