package dev.arbor.cli;

import dev.arbor.versioning.Ref;
import dev.arbor.versioning.Tag;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.util.concurrent.Callable;

@Command(name = "rollback", description = "Move a tag back to its previous target (repeat to step further back).")
final class RollbackCommand implements Callable<Integer> {
    @CommandLine.Spec CommandLine.Model.CommandSpec spec;
    @Mixin StoreOption store;
    @Parameters(index = "0", paramLabel = "NAME:TAG", description = "the tag") String tagRef;
    @Option(names = "--json", description = "print JSON") boolean json;

    @Override public Integer call() {
        Ref tag = Ref.parseTag(tagRef);
        var s = store.open();
        Tag before = s.readTag(tag.model(), tag.value());
        Tag t = s.rollback(tag.model(), tag.value(), StoreOption.commandLine(spec));
        TagCommand.print(json, t, before.version(), "rolled back to");
        return 0;
    }
}
