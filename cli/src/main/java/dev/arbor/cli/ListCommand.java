package dev.arbor.cli;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.arbor.versioning.Listing;
import dev.arbor.versioning.Tag;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.io.PrintWriter;
import java.time.ZoneId;
import java.time.format.DateTimeFormatter;
import java.util.concurrent.Callable;

@Command(name = "list", description = "Models, versions and tags in the store, with sizes on disk.")
final class ListCommand implements Callable<Integer> {
    static final DateTimeFormatter WHEN = DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm").withZone(ZoneId.systemDefault());

    @Mixin StoreOption store;
    @Parameters(index = "0", arity = "0..1", paramLabel = "MODEL", description = "only this model") String model;
    @Option(names = "--json", description = "print JSON") boolean json;

    @Override public Integer call() {
        Listing l = store.open().list();
        PrintWriter out = new PrintWriter(System.out, true);
        if (json) {
            ObjectNode o = Output.object().put("blob_bytes", l.blobBytes()).put("store_bytes", l.storeBytes());
            ArrayNode ms = o.putArray("models");
            for (Listing.ModelEntry m : l.models()) {
                if (model != null && !m.name().equals(model)) continue;
                ObjectNode mj = ms.addObject().put("name", m.name()).put("disk_bytes", m.diskBytes());
                ArrayNode vs = mj.putArray("versions");
                for (Listing.VersionEntry e : m.versions()) {
                    vs.addObject().put("version", e.version().number()).put("ref", e.version().label()).put("id", e.version().id())
                            .put("operation", e.version().operation().kind()).put("created", e.version().created().toString())
                            .put("bytes", e.bytes()).put("added_bytes", e.addedBytes())
                            .set("tags", Output.JSON.valueToTree(e.tags()));
                }
                ObjectNode tj = mj.putObject("tags");
                for (Tag t : m.tags()) tj.put(t.name(), t.version());
            }
            Output.printJson(out, o);
            return 0;
        }
        int versions = 0;
        for (Listing.ModelEntry m : l.models()) versions += m.versions().size();
        out.printf("%s: %d model(s), %d version(s), %s of blobs, %s on disk in all%n", store.location(), l.models().size(), versions,
                Output.bytes(l.blobBytes()), Output.bytes(l.storeBytes()));
        for (Listing.ModelEntry m : l.models()) {
            if (model != null && !m.name().equals(model)) continue;
            out.printf("%n%s  %d version(s), %s on disk%n", m.name(), m.versions().size(), Output.bytes(m.diskBytes()));
            out.printf("  %-6s %-12s %-10s %-16s %12s %12s  %s%n", "ver", "id", "operation", "created", "size", "added", "tags");
            for (Listing.VersionEntry e : m.versions()) {
                out.printf("  %-6s %-12s %-10s %-16s %12s %12s  %s%n", "@" + e.version().number(), e.version().shortId(),
                        e.version().operation().kind(), WHEN.format(e.version().created()), Output.bytes(e.bytes()),
                        Output.bytes(e.addedBytes()), String.join(", ", e.tags()));
            }
        }
        return 0;
    }
}
