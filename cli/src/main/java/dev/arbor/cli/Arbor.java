package dev.arbor.cli;

import dev.arbor.format.ArborException;
import picocli.CommandLine;
import picocli.CommandLine.Command;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.NoSuchFileException;

/**
 * The {@code arbor} command. Exit codes: 0 success, 1 bad input (one sentence on stderr),
 * 2 usage error.
 */
@Command(name = "arbor", mixinStandardHelpOptions = true, version = "arbor 0.1.0",
        description = "Grow, train, evaluate and serve LLaMA-family checkpoints.",
        subcommands = {
                DemoCommand.class,
                InitModelCommand.class,
                InspectCommand.class,
                ConvertCommand.class,
                StoreCommand.class,
                ImportCommand.class,
                ExportCommand.class,
                ListCommand.class,
                LogCommand.class,
                ShowCommand.class,
                TagCommand.class,
                RollbackCommand.class,
                DiffCommand.class,
                TokenizeCommand.class,
                LogitsCommand.class,
                GenerateCommand.class,
                BenchCommand.class,
                GrowCommand.class,
                CheckGrowthCommand.class,
                FoldCommand.class,
                TrainCommand.class,
                ReportCommand.class,
                PrepareDataCommand.class,
                ServeCommand.class,
                // subcommands: one line each, keep this list sorted by module
        })
public final class Arbor implements Runnable {

    @CommandLine.Spec CommandLine.Model.CommandSpec spec;

    @Override public void run() {
        throw new CommandLine.ParameterException(spec.commandLine(), "Missing command: try 'arbor --help'.");
    }

    public static void main(String[] args) {
        System.exit(run(args));
    }

    /** Runs the CLI and returns its exit code (tests call this in-process). */
    public static int run(String... args) {
        CommandLine cl = commandLine();
        return cl.execute(args);
    }

    static CommandLine commandLine() {
        CommandLine cl = new CommandLine(new Arbor());
        cl.setExecutionExceptionHandler((ex, cmd, parsed) -> {
            cmd.getErr().println("error: " + userMessage(ex));
            if (Boolean.getBoolean("arbor.debug") || System.getenv("ARBOR_DEBUG") != null) ex.printStackTrace(cmd.getErr());
            cmd.getErr().flush();
            return 1;
        });
        cl.setParameterExceptionHandler((ex, args) -> {
            CommandLine cmd = ex.getCommandLine();
            cmd.getErr().println("usage error: " + ex.getMessage());
            cmd.getErr().println("Try '" + cmd.getCommandSpec().qualifiedName() + " --help'.");
            cmd.getErr().flush();
            return 2;
        });
        return cl;
    }

    /** The one sentence shown for a failure. */
    static String userMessage(Throwable ex) {
        if (ex instanceof ArborException) return ex.getMessage();
        if (ex instanceof UncheckedIOException u) ex = u.getCause();
        if (ex instanceof NoSuchFileException n) return n.getFile() + " does not exist.";
        if (ex instanceof java.nio.file.AccessDeniedException a) return "Permission denied: " + a.getFile() + ".";
        if (ex instanceof IOException io) return "I/O error: " + io.getMessage() + ".";
        if (ex instanceof OutOfMemoryError) return "Out of memory: give the JVM more heap with ARBOR_HEAP (e.g. ARBOR_HEAP=16g).";
        return "internal error (" + ex + "); rerun with ARBOR_DEBUG=1 for the stack trace.";
    }
}
