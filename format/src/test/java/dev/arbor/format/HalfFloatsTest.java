package dev.arbor.format;

import org.junit.jupiter.api.Test;

import java.util.SplittableRandom;

import static org.assertj.core.api.Assertions.assertThat;

class HalfFloatsTest {

    @Test
    void roundingEqualsTorchOnTheGoldenValues() {
        try (SafetensorsFile f = SafetensorsFile.open(Golden.path("rounding.safetensors"))) {
            Tensor in = f.tensor("input"), bf = f.tensor("bf16"), h = f.tensor("f16");
            long n = in.numel();
            assertThat(n).isGreaterThanOrEqualTo(20_000);
            int ties = 0, subnormals = 0;
            for (long i = 0; i < n; i++) {
                float x = in.getFloat(i);
                short wantBf = (short) bf.getDouble(i), wantH = (short) h.getDouble(i);
                short gotBf = HalfFloats.floatToBf16(x), gotH = HalfFloats.floatToF16(x);
                if (Float.isNaN(x)) {
                    assertThat(HalfFloats.bf16ToFloat(gotBf)).isNaN();
                    assertThat(HalfFloats.f16ToFloat(gotH)).isNaN();
                    continue;
                }
                assertThat(gotBf).as("bf16 of %s (index %d)", x, i).isEqualTo(wantBf);
                assertThat(gotH).as("f16 of %s (index %d)", x, i).isEqualTo(wantH);
                if ((Float.floatToRawIntBits(x) & 0xFFFF) == 0x8000) ties++;
                if (x != 0 && Math.abs(x) < 6.1035156e-5f) subnormals++;
            }
            assertThat(ties).isGreaterThan(1000);
            assertThat(subnormals).isGreaterThan(1000);
        }
    }

    @Test
    void widthConversionsAreExact() {
        for (int b = 0; b < 65536; b++) {
            float f = HalfFloats.bf16ToFloat((short) b);
            if (!Float.isNaN(f)) assertThat(HalfFloats.floatToBf16(f)).isEqualTo((short) b);
            float g = HalfFloats.f16ToFloat((short) b);
            if (!Float.isNaN(g)) assertThat(HalfFloats.floatToF16(g)).isEqualTo((short) b);
        }
    }

    /** Double → 16-bit rounds once (no double rounding through float), checked by exact midpoints. */
    @Test
    void doublesRoundDirectlyToNearestEven() {
        SplittableRandom r = new SplittableRandom(11);
        for (int i = 0; i < 200_000; i++) {
            double d = switch (i % 3) {
                case 0 -> r.nextGaussian() * Math.pow(2, r.nextInt(-30, 30));
                // a value a hair above/below a bf16 midpoint: the float cast would land on the midpoint
                case 1 -> nearMidpointBf16(r);
                default -> r.nextGaussian() * Math.pow(2, r.nextInt(-26, 16));
            };
            assertThat(HalfFloats.doubleToBf16(d)).as("bf16 of %s", d).isEqualTo(nearestBf16(d));
            if (Math.abs(d) < 65504) assertThat(HalfFloats.doubleToF16(d)).as("f16 of %s", d).isEqualTo(nearestF16(d));
            else assertThat(HalfFloats.doubleToF16(d)).isEqualTo(HalfFloats.floatToF16((float) d));   // overflow region
        }
    }

    private static double nearMidpointBf16(SplittableRandom r) {
        float lo = HalfFloats.bf16ToFloat((short) r.nextInt(0x0080, 0x7F00));
        float hi = Math.nextUp(lo);
        while (HalfFloats.floatToBf16(hi) == HalfFloats.floatToBf16(lo) && Float.floatToRawIntBits(hi) % 65536 != 0) hi = Math.nextUp(hi);
        double mid = ((double) lo + (double) HalfFloats.bf16ToFloat((short) (HalfFloats.floatToBf16(lo) + 1))) / 2;
        return mid + (r.nextBoolean() ? 1 : -1) * Math.ulp(mid) * r.nextInt(1, 4);
    }

    /** Reference: the nearer of the two neighbouring bf16 values by exact double arithmetic. */
    private static short nearestBf16(double d) {
        short t = HalfFloats.floatToBf16((float) d);       // within one step of the answer
        return nearest(d, t, HalfFloats::bf16ToFloat);
    }

    private static short nearestF16(double d) {
        short t = HalfFloats.floatToF16((float) d);
        return nearest(d, t, HalfFloats::f16ToFloat);
    }

    interface Widen { float apply(short s); }

    private static short nearest(double d, short guess, Widen w) {
        short best = guess;
        double bestErr = Math.abs(w.apply(guess) - d);
        for (int delta = -2; delta <= 2; delta++) {
            short c = (short) (guess + delta);
            float v = w.apply(c);
            if (Float.isNaN(v) || Math.signum(v) * Math.signum(d) < 0 && v != 0) continue;
            double err = Math.abs(v - d);
            if (err < bestErr || (err == bestErr && (c & 1) == 0 && (best & 1) == 1)) { best = c; bestErr = err; }
        }
        return best;
    }
}
