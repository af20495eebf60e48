package dev.arbor.train;

import dev.arbor.format.ArborException;

import java.util.Locale;

/**
 * Learning rate per optimizer step: a linear warmup to the peak, then one of
 * <ul>
 *   <li>{@code constant}: the peak;</li>
 *   <li>{@code cosine}: min + (peak − min)·(1 + cos(π·progress))/2;</li>
 *   <li>{@code linear}: from the peak down to min;</li>
 *   <li>{@code wsd} (warmup–stable–decay): the peak until the last decayFraction of the steps,
 *       then linear down to min over them.</li>
 * </ul>
 * Step s (0-based, the step about to be taken) in warmup gets peak·(s+1)/warmup, so the first
 * step already moves. The schedule is a pure function of s, which keeps a resumed run exact.
 */
record LrSchedule(Kind kind, double peak, double min, long warmup, long total, double decayFraction) {
    enum Kind { CONSTANT, COSINE, LINEAR, WSD }

    LrSchedule {
        if (!(peak > 0) || Double.isInfinite(peak)) throw new ArborException("The learning rate must be a positive number.");
        if (!(min >= 0 && min <= peak)) throw new ArborException("The minimum learning rate must be between 0 and the peak.");
        if (warmup < 0) throw new ArborException("Warmup steps cannot be negative.");
        if (total < 1) throw new ArborException("The run needs at least one step.");
        if (!(decayFraction > 0 && decayFraction <= 1)) throw new ArborException("The decay fraction must be in (0, 1].");
    }

    static Kind kind(String name) {
        try {
            return Kind.valueOf(name.toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw new ArborException("Unknown schedule '" + name + "'; use constant, cosine, linear or wsd.");
        }
    }

    double at(long step) {
        if (step < warmup) return peak * (step + 1) / warmup;
        long rest = Math.max(1, total - warmup);
        double progress = Math.min(1.0, (double) (step - warmup) / rest);
        return switch (kind) {
            case CONSTANT -> peak;
            case COSINE -> min + (peak - min) * 0.5 * (1 + StrictMath.cos(Math.PI * progress));
            case LINEAR -> peak - (peak - min) * progress;
            case WSD -> {
                long decaySteps = Math.max(1, Math.round(total * decayFraction));
                long decayStart = total - decaySteps;
                if (step < decayStart) yield peak;
                double d = Math.min(1.0, (double) (step - decayStart + 1) / decaySteps);
                yield peak - (peak - min) * d;
            }
        };
    }
}
