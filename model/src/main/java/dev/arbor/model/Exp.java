package dev.arbor.model;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;

/**
 * e^x in F32 from IEEE operations only (add, multiply, fused multiply-add, conversions), for
 * vectors of any width and for single floats, with bit-identical results between the two.
 *
 * <p>Why not the Vector API's EXP or Math.exp: they may differ by an ulp between the interpreter
 * and JIT-compiled code, so the same forward pass could give different bits depending on how warm
 * the JVM is. Training needs bitwise repeatable steps (exact resume), and inference results that
 * do not depend on JIT timing are easier to trust and test.
 *
 * <p>Method: exp(x) = 2^n · e^r with n = round(x·log2 e) and r = x − n·ln 2 (ln 2 in two parts),
 * e^r by Cephes' expf polynomial; relative error ≈ 1e-7. Below −87.3 the result is 0, above 88
 * it is e^88 (so that 2^n stays finite).
 *
 * <p>Callers should all pass one vector species ({@link Matmul#W} in the engine, the preferred one
 * in training): when the JIT compiles this method on its own instead of inlining it, its code is
 * specialised to the vector class it has seen, and a second species deoptimises it again and again
 * (measured: prompts 2× slower with attention on 512-bit vectors and SwiGLU on 256-bit ones).
 */
public final class Exp {
    private Exp() {}

    private static final float LOG2E = 1.44269504088896341f, LN2_HI = 0.693359375f, LN2_LO = -2.12194440e-4f;
    private static final float MAGIC = 12582912f;   // 1.5·2^23: adding and subtracting it rounds to an integer
    private static final int MAGIC_BITS = Float.floatToRawIntBits(MAGIC);
    private static final float LO = -87.33654f, HI = 88f;
    private static final float P0 = 1.9875691500e-4f, P1 = 1.3981999507e-3f, P2 = 8.3334519073e-3f,
            P3 = 4.1665795894e-2f, P4 = 1.6666665459e-1f, P5 = 5.0000001201e-1f;

    /** e^x lane by lane. */
    public static FloatVector exp(FloatVector x) {
        var sp = x.species();
        var under = x.lt(LO);
        // clamped by compare and blend: FloatVector.max/min follow Math.max/min (NaN, −0.0), several instructions each
        FloatVector xc = x.blend(LO, under).blend(HI, x.compare(VectorOperators.GT, HI));
        FloatVector shifted = xc.mul(LOG2E).add(MAGIC);   // n in the low bits of its mantissa
        FloatVector n = shifted.sub(MAGIC);
        FloatVector r = n.fma(FloatVector.broadcast(sp, -LN2_HI), xc);
        r = n.fma(FloatVector.broadcast(sp, -LN2_LO), r);
        FloatVector p = r.fma(FloatVector.broadcast(sp, P0), FloatVector.broadcast(sp, P1));
        p = p.fma(r, FloatVector.broadcast(sp, P2));
        p = p.fma(r, FloatVector.broadcast(sp, P3));
        p = p.fma(r, FloatVector.broadcast(sp, P4));
        p = p.fma(r, FloatVector.broadcast(sp, P5));
        FloatVector y = p.fma(r.mul(r), r).add(1f);
        // 2^n from n's bits in `shifted` (the same integer as (int) n, without the float-to-int conversion, which
        // Java's saturating semantics make several instructions)
        FloatVector pow2 = ((IntVector) shifted.reinterpretAsInts()).add(127 - MAGIC_BITS)
                .lanewise(VectorOperators.LSHL, 23).reinterpretAsFloats();
        return y.mul(pow2).blend(0f, under);
    }

    /** The same function on one float (loop tails), equal bit for bit to a lane of {@link #exp(FloatVector)}. */
    public static float exp(float x) {
        if (x < LO) return 0f;
        float xc = Math.min(Math.max(x, LO), HI);
        float n = xc * LOG2E + MAGIC - MAGIC;
        float r = Math.fma(n, -LN2_HI, xc);
        r = Math.fma(n, -LN2_LO, r);
        float p = Math.fma(r, P0, P1);
        p = Math.fma(p, r, P2);
        p = Math.fma(p, r, P3);
        p = Math.fma(p, r, P4);
        p = Math.fma(p, r, P5);
        float y = Math.fma(p, r * r, r) + 1f;
        return y * Float.intBitsToFloat(((int) n + 127) << 23);
    }
}
