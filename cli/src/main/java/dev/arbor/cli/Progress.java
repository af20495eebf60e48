package dev.arbor.cli;

import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;
import me.tongfei.progressbar.ConsoleProgressBarConsumer;

/**
 * A progress bar on stderr, shown only when stderr is a terminal (never in pipes, CI or
 * tests), so long work is visible to people and invisible to machines.
 */
final class Progress implements AutoCloseable {
    private final ProgressBar bar;

    private Progress(ProgressBar bar) { this.bar = bar; }

    static Progress start(String task, long total, String unit, long unitSize) {
        if (System.console() == null || !System.console().isTerminal() || System.getenv("CI") != null) return new Progress(null);
        ProgressBar b = new ProgressBarBuilder().setTaskName(task).setInitialMax(total)
                .setStyle(ProgressBarStyle.ASCII).setUnit(unit, unitSize)
                .setConsumer(new ConsoleProgressBarConsumer(System.err))
                .setUpdateIntervalMillis(250).build();
        return new Progress(b);
    }

    static Progress bytes(String task, long total) { return start(task, total, " MiB", 1 << 20); }

    /** Whether a bar is drawn (stderr is a terminal). */
    boolean visible() { return bar != null; }

    void stepTo(long n) { if (bar != null) bar.stepTo(n); }

    void stepBy(long n) { if (bar != null) bar.stepBy(n); }

    void extra(String message) { if (bar != null) bar.setExtraMessage(message); }

    @Override public void close() { if (bar != null) bar.close(); }
}
