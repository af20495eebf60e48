package dev.arbor.format;

import java.util.Locale;

/** Element types of safetensors files. Weights are F32/F16/BF16; the others are readable. */
public enum DType {
    F64("F64", 8, true),
    F32("F32", 4, true),
    F16("F16", 2, true),
    BF16("BF16", 2, true),
    I64("I64", 8, false),
    I32("I32", 4, false),
    I16("I16", 2, false),
    I8("I8", 1, false),
    U8("U8", 1, false),
    BOOL("BOOL", 1, false);

    private final String code;
    private final int size;
    private final boolean floating;

    DType(String code, int size, boolean floating) {
        this.code = code;
        this.size = size;
        this.floating = floating;
    }

    /** The name used in safetensors headers ("F32", "BF16", ...). */
    public String code() { return code; }

    /** Bytes per element. */
    public int size() { return size; }

    public boolean isFloatingPoint() { return floating; }

    /** The dtype of a safetensors header code, or null when unknown. */
    public static DType ofCode(String code) {
        for (DType t : values()) if (t.code.equals(code)) return t;
        return null;
    }

    /**
     * Parses what a user types ("bf16", "float32", "F16"...).
     * @throws FormatException naming the accepted choices
     */
    public static DType parseUserDtype(String s) {
        String k = s.trim().toLowerCase(Locale.ROOT);
        return switch (k) {
            case "f32", "float32", "fp32", "float" -> F32;
            case "f16", "float16", "fp16", "half" -> F16;
            case "bf16", "bfloat16" -> BF16;
            case "f64", "float64", "double" -> F64;
            default -> throw new FormatException("Unknown dtype '" + s + "': use bf16, f16 or f32.");
        };
    }

    /** The HF config.json `torch_dtype` spelling. */
    public String torchName() {
        return switch (this) {
            case F64 -> "float64";
            case F32 -> "float32";
            case F16 -> "float16";
            case BF16 -> "bfloat16";
            default -> code.toLowerCase(Locale.ROOT);
        };
    }
}
