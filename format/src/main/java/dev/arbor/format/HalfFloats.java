package dev.arbor.format;

/**
 * Conversions between F64/F32 and the 16-bit float formats, all round-to-nearest-even
 * (subnormals, signed zeros, infinities and NaN included), matching torch's casts.
 */
public final class HalfFloats {
    private HalfFloats() {}

    /** BF16 bits to float: BF16 is the upper half of an F32, so this is exact. */
    public static float bf16ToFloat(short bits) {
        return Float.intBitsToFloat((bits & 0xFFFF) << 16);
    }

    /** Float to BF16 bits, round-to-nearest-even; NaN stays NaN (quiet, sign kept). */
    public static short floatToBf16(float f) {
        int bits = Float.floatToRawIntBits(f);
        if ((bits & 0x7FFFFFFF) > 0x7F800000) {           // NaN: keep sign and payload top, force quiet
            return (short) ((bits >>> 16) | 0x0040);
        }
        int roundingBias = 0x7FFF + ((bits >>> 16) & 1);
        return (short) ((bits + roundingBias) >>> 16);
    }

    public static float f16ToFloat(short bits) {
        return Float.float16ToFloat(bits);
    }

    public static short floatToF16(float f) {
        return Float.floatToFloat16(f);
    }

    /**
     * Double to float with round-to-odd. Rounding that result once more to a format with at most
     * 21 significand bits (BF16: 8, F16: 11) equals rounding the double directly: no double
     * rounding error.
     */
    static float roundToOdd(double d) {
        float f = (float) d;
        if (Double.isNaN(d) || Float.isInfinite(f) || (double) f == d) return f;
        // f is inexact: take the float just below |d| (truncation) and set its lowest bit.
        if (Math.abs((double) f) > Math.abs(d)) f = Math.nextAfter(f, 0.0);
        int bits = Float.floatToRawIntBits(f) | 1;
        return Float.intBitsToFloat(bits);
    }

    public static short doubleToBf16(double d) { return floatToBf16(roundToOdd(d)); }

    public static short doubleToF16(double d) { return Float.floatToFloat16(roundToOdd(d)); }
}
