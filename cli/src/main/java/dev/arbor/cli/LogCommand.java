package dev.arbor.cli;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.arbor.versioning.Ref;
import dev.arbor.versioning.Store;
import dev.arbor.versioning.Tag;
import dev.arbor.versioning.Version;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.io.PrintWriter;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.stream.Collectors;

@Command(name = "log", description = "A version's lineage as a tree: each ancestor with its operation and key parameters.")
final class LogCommand implements Callable<Integer> {
    @Mixin StoreOption store;
    @Parameters(index = "0", paramLabel = "REF", description = "the version to start from") String ref;
    @Option(names = "--json", description = "print JSON") boolean json;

    @Override public Integer call() {
        Store s = store.open();
        Version v = s.resolve(ref);
        PrintWriter out = new PrintWriter(System.out, true);
        if (json) {
            Output.printJson(out, node(s, v, new HashSet<>()));
            return 0;
        }
        print(s, out, v, "", "", new HashSet<>());
        return 0;
    }

    private static Version parent(Store s, Version.Parent p) {
        return s.resolve(new Ref(p.model(), Ref.Kind.NUMBER, Integer.toString(p.number())));
    }

    private void print(Store s, PrintWriter out, Version v, String first, String rest, Set<String> seen) {
        List<String> tags = s.tags(v.model()).stream().filter(t -> t.version() == v.number()).map(Tag::name).toList();
        out.printf("%s%s  %s  %s%s  %s%s%s%n", first, v.label(), v.shortId(), v.operation().kind(), params(v.operation().parameters()),
                ListCommand.WHEN.format(v.created()), tags.isEmpty() ? "" : "  [" + String.join(", ", tags) + "]",
                v.notes() == null ? "" : "  \"" + v.notes() + "\"");
        if (!seen.add(v.id())) return;
        List<Version.Parent> ps = v.parents();
        for (int i = 0; i < ps.size(); i++) {
            boolean last = i == ps.size() - 1;
            print(s, out, parent(s, ps.get(i)), rest + (last ? "└─ " : "├─ "), rest + (last ? "   " : "│  "), seen);
        }
    }

    /**
     * Key parameters as k=v so one version stays one line: scalars and short lists as they are;
     * of the nested records only the ones a reader scans for (parameter counts, the
     * preservation check); the rest is in {@code arbor show}.
     */
    @SuppressWarnings("unchecked")
    static String params(Map<String, Object> p) {
        if (p.isEmpty()) return "";
        java.util.List<String> parts = new java.util.ArrayList<>();
        if (p.get("parent_shape") instanceof Map<?, ?> ps && p.get("child_shape") instanceof Map<?, ?> cs
                && ps.get("parameters") instanceof Number a && cs.get("parameters") instanceof Number b) {
            parts.add("params=" + Output.count(a.longValue()) + "→" + Output.count(b.longValue()));
        }
        for (Map.Entry<String, Object> e : p.entrySet()) {
            Object v = e.getValue();
            if (v instanceof Map<?, ?> m) {
                if (e.getKey().equals("preservation_check") && m.get("max_rel_logit_diff") instanceof Number d) {
                    parts.add(String.format(java.util.Locale.ROOT, "check=%.2e", d.doubleValue()));
                }
                continue;
            }
            String val = String.valueOf(v);
            parts.add(e.getKey() + "=" + (val.length() > 40 ? val.substring(0, 37) + "..." : val));
        }
        return " " + String.join(" ", parts);
    }

    private ObjectNode node(Store s, Version v, Set<String> seen) {
        ObjectNode o = Output.object().put("ref", v.label()).put("id", v.id()).put("operation", v.operation().kind())
                .put("created", v.created().toString());
        o.set("parameters", Output.JSON.valueToTree(v.operation().parameters()));
        ArrayNode ps = o.putArray("parents");
        if (seen.add(v.id())) for (Version.Parent p : v.parents()) ps.add(node(s, parent(s, p), seen));
        return o;
    }
}
