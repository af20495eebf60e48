package dev.arbor.cli;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.arbor.versioning.GcReport;
import dev.arbor.versioning.Store;
import dev.arbor.versioning.StoreException;
import dev.arbor.versioning.VerifyReport;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.io.PrintWriter;
import java.util.concurrent.Callable;

@Command(name = "store", description = "Create, check and clean the versioned checkpoint store.",
        subcommands = {StoreCommand.Init.class, StoreCommand.Verify.class, StoreCommand.Gc.class})
final class StoreCommand implements Runnable {
    @CommandLine.Spec CommandLine.Model.CommandSpec spec;

    @Override public void run() {
        throw new CommandLine.ParameterException(spec.commandLine(), "Missing subcommand: init, verify or gc.");
    }

    @Command(name = "init", description = "Create a store (nothing happens when one is there).")
    static final class Init implements Callable<Integer> {
        @Mixin StoreOption store;
        @Option(names = "--json", description = "print JSON") boolean json;

        @Override public Integer call() {
            Store s = store.openOrInit();
            if (json) Output.printJson(new PrintWriter(System.out), Output.object().put("store", s.root().toString()));
            else System.out.println("Store ready at " + s.root() + ".");
            return 0;
        }
    }

    @Command(name = "verify", description = "Rehash every blob and check every manifest and tag; list damage and the versions it hits.")
    static final class Verify implements Callable<Integer> {
        @Mixin StoreOption store;
        @Option(names = "--json", description = "print JSON") boolean json;

        @Override public Integer call() {
            VerifyReport r = store.open().verify();
            PrintWriter out = new PrintWriter(System.out, true);
            if (json) {
                ObjectNode o = Output.object().put("ok", r.ok()).put("versions", r.versions()).put("tags", r.tags())
                        .put("blobs", r.blobs()).put("blob_bytes", r.blobBytes()).put("temporaries", r.temporaries())
                        .put("unreferenced_blobs", r.unreferencedBlobs());
                ArrayNode d = o.putArray("damaged");
                for (VerifyReport.DamagedBlob b : r.damaged()) {
                    d.addObject().put("blob", b.blob()).put("problem", b.problem()).set("used_by", Output.JSON.valueToTree(b.usedBy()));
                }
                o.set("problems", Output.JSON.valueToTree(r.problems()));
                Output.printJson(out, o);
                return r.ok() ? 0 : 1;
            }
            for (VerifyReport.DamagedBlob b : r.damaged()) {
                out.printf("damaged blob %s: %s; used by %s%n", b.blob(), b.problem(),
                        b.usedBy().isEmpty() ? "no version" : String.join(", ", b.usedBy()));
            }
            for (String p : r.problems()) out.println("problem: " + p);
            if (!r.ok()) {
                throw new StoreException("Store verify found " + r.damaged().size() + " damaged blob(s) and "
                        + r.problems().size() + " other problem(s) in " + store.location() + ".");
            }
            out.printf("OK: %d blobs (%s) rehashed, %d versions and %d tags checked%s%s.%n", r.blobs(), Output.bytes(r.blobBytes()),
                    r.versions(), r.tags(),
                    r.unreferencedBlobs() == 0 ? "" : "; " + r.unreferencedBlobs() + " unreferenced blob(s)",
                    r.temporaries() == 0 ? "" : "; " + r.temporaries() + " temporary file(s) from interrupted writes ('arbor store gc' removes them)");
            return 0;
        }
    }

    @Command(name = "gc", description = "Remove blobs that no version uses, and leftovers of interrupted writes.")
    static final class Gc implements Callable<Integer> {
        @Mixin StoreOption store;
        @Option(names = "--dry-run", description = "only report what would be removed") boolean dryRun;
        @Option(names = "--json", description = "print JSON") boolean json;

        @Override public Integer call() {
            GcReport r = store.open().gc(dryRun);
            if (json) {
                Output.printJson(new PrintWriter(System.out), Output.object().put("dry_run", r.dryRun())
                        .put("blobs_removed", r.blobsRemoved()).put("bytes_removed", r.bytesRemoved())
                        .put("temporaries_removed", r.temporariesRemoved()).put("blobs_kept", r.blobsKept()));
            } else {
                System.out.printf("%s %d blob(s) (%s) and %d temporary file(s); %d blob(s) in use kept.%n",
                        r.dryRun() ? "Would remove" : "Removed", r.blobsRemoved(), Output.bytes(r.bytesRemoved()),
                        r.temporariesRemoved(), r.blobsKept());
            }
            return 0;
        }
    }
}
