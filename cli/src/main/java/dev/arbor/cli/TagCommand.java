package dev.arbor.cli;

import dev.arbor.versioning.Ref;
import dev.arbor.versioning.Store;
import dev.arbor.versioning.StoreException;
import dev.arbor.versioning.Tag;
import dev.arbor.versioning.Version;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.io.PrintWriter;
import java.util.concurrent.Callable;

@Command(name = "tag", description = "Point a tag (name:tag) at a version; the move is recorded in the tag's history.")
final class TagCommand implements Callable<Integer> {
    @CommandLine.Spec CommandLine.Model.CommandSpec spec;
    @Mixin StoreOption store;
    @Parameters(index = "0", paramLabel = "REF", description = "the version") String ref;
    @Parameters(index = "1", paramLabel = "NAME:TAG", description = "the tag to move") String tagRef;
    @Option(names = "--json", description = "print JSON") boolean json;

    @Override public Integer call() {
        Ref tag = Ref.parseTag(tagRef);
        Store s = store.open();
        Version v = s.resolve(ref);
        if (!tag.model().equals(v.model())) {
            throw new StoreException("A tag belongs to its model: tag " + v.label() + " as " + v.model() + ":" + tag.value()
                    + ", not " + tagRef + ".");
        }
        Tag before = s.readTag(v.model(), tag.value());
        Tag t = s.tag(v, tag.value(), StoreOption.commandLine(spec));
        TagCommand.print(json, t, before == null ? null : before.version(), "now points at");
        return 0;
    }

    static void print(boolean json, Tag t, Integer previous, String verb) {
        if (json) {
            var o = Output.object().put("tag", t.label()).put("version", t.version()).put("ref", t.model() + "@" + t.version())
                    .put("id", t.id());
            if (previous == null) o.putNull("previous"); else o.put("previous", previous);
            Output.printJson(new PrintWriter(System.out), o);
        } else if (previous != null && previous == t.version()) {
            System.out.printf("%s already points at %s@%d.%n", t.label(), t.model(), t.version());
        } else {
            System.out.printf("%s %s %s@%d%s.%n", t.label(), verb, t.model(), t.version(),
                    previous == null ? "" : " (was " + t.model() + "@" + previous + ")");
        }
    }
}
