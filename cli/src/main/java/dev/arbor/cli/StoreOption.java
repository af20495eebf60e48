package dev.arbor.cli;

import dev.arbor.versioning.Store;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;

import java.nio.file.Path;

/** The {@code --store DIR} option of the store commands (else ARBOR_STORE, else ~/.arbor). */
final class StoreOption {
    @Option(names = "--store", paramLabel = "DIR", description = "store directory (default: $ARBOR_STORE, else ~/.arbor)")
    Path dir;

    Path location() { return dir != null ? dir : Store.defaultLocation(); }

    /** An existing store. */
    Store open() { return Store.open(location()); }

    /** The store, created when missing (for commands that add to it). */
    Store openOrInit() { return Store.init(location()); }

    /** "arbor import x --name y": what made a change, for the tag history. */
    static String commandLine(CommandSpec spec) {
        return "arbor " + String.join(" ", spec.commandLine().getParseResult().originalArgs());
    }
}
