package dev.arbor.cli;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.arbor.format.Checkpoint;
import dev.arbor.format.DType;
import dev.arbor.format.LlamaConfig;
import dev.arbor.format.LlamaTensors;
import dev.arbor.format.SafetensorsFile;
import dev.arbor.format.TensorInfo;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import java.util.concurrent.Callable;

@Command(name = "inspect", description = "Show a checkpoint's architecture, parameter count, dtypes, shards and tensors.")
final class InspectCommand implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "PATH", description = "checkpoint directory or .safetensors file") Path path;
    @Option(names = "--json", description = "print JSON") boolean json;
    @Option(names = "--no-tensors", description = "leave out the per-tensor table") boolean noTensors;

    @Override public Integer call() {
        PrintWriter out = new PrintWriter(System.out, true);
        try (Checkpoint ck = Checkpoint.open(path, false)) {
            LlamaConfig cfg = ck.config();
            long params = 0, bytes = 0;
            Map<DType, long[]> mix = new EnumMap<>(DType.class);   // [tensors, elements, bytes]
            for (String n : ck.tensorNames()) {
                TensorInfo t = ck.info(n);
                params += t.numel();
                bytes += t.byteSize();
                long[] m = mix.computeIfAbsent(t.dtype(), k -> new long[3]);
                m[0]++; m[1] += t.numel(); m[2] += t.byteSize();
            }
            TreeSet<String> missing = new TreeSet<>(), unexpected = new TreeSet<>(), wrongShape = new TreeSet<>();
            if (cfg != null) {
                Map<String, long[]> expected = LlamaTensors.expectedShapes(cfg);
                for (Map.Entry<String, long[]> e : expected.entrySet()) {
                    if (!ck.contains(e.getKey())) missing.add(e.getKey());
                    else if (!Arrays.equals(ck.info(e.getKey()).shape(), e.getValue())) wrongShape.add(e.getKey());
                }
                for (String n : ck.tensorNames()) if (!expected.containsKey(n)) unexpected.add(n);
            }
            if (json) {
                ObjectNode o = Output.object();
                o.put("path", path.toString());
                if (cfg != null) o.set("config", cfg.toJsonNode());
                o.put("parameters", params);
                o.put("bytes", bytes);
                ObjectNode mixJ = o.putObject("dtypes");
                mix.forEach((k, m) -> mixJ.putObject(k.code()).put("tensors", m[0]).put("parameters", m[1]).put("bytes", m[2]));
                ArrayNode shards = o.putArray("shards");
                for (SafetensorsFile f : ck.shards()) {
                    long b = 0;
                    for (TensorInfo t : f.tensors()) b += t.byteSize();
                    shards.addObject().put("file", f.path().getFileName().toString()).put("tensors", f.tensors().size()).put("bytes", b);
                }
                o.set("missing", Output.JSON.valueToTree(missing));
                o.set("unexpected", Output.JSON.valueToTree(unexpected));
                o.set("wrong_shape", Output.JSON.valueToTree(wrongShape));
                if (!noTensors) {
                    ArrayNode ts = o.putArray("tensors");
                    for (String n : ck.tensorNames()) {
                        TensorInfo t = ck.info(n);
                        ObjectNode tj = ts.addObject().put("name", n).put("dtype", t.dtype().code());
                        ArrayNode sh = tj.putArray("shape");
                        for (long d : t.shape()) sh.add(d);
                        tj.put("bytes", t.byteSize()).put("shard", ck.shardOf(n).path().getFileName().toString());
                    }
                }
                Output.printJson(out, o);
                return 0;
            }
            out.println(path);
            if (cfg != null) {
                out.printf("  architecture  %s, hidden %d, layers %d, heads %d (kv %d, head_dim %d), ffn %d, vocab %d%n",
                        String.join(",", archs(cfg)), cfg.hiddenSize(), cfg.numHiddenLayers(), cfg.numAttentionHeads(),
                        cfg.numKeyValueHeads(), cfg.headDim(), cfg.intermediateSize(), cfg.vocabSize());
                out.printf("  positions     max %d, rope_theta %s%s, rms_norm_eps %s, tied embeddings %s%n",
                        cfg.maxPositionEmbeddings(), fmt(cfg.ropeTheta()),
                        cfg.ropeScaling() == null ? "" : ", rope_scaling " + cfg.ropeScaling(),
                        fmt(cfg.rmsNormEps()), cfg.tieWordEmbeddings() ? "yes" : "no");
            } else {
                out.println("  (no config.json)");
            }
            out.printf("  parameters    %s (%d)%n", Output.count(params), params);
            StringBuilder sb = new StringBuilder();
            mix.forEach((k, m) -> sb.append(sb.isEmpty() ? "" : ", ").append(k.code()).append(' ')
                    .append(m[0]).append(" tensors ").append(Output.bytes(m[2])));
            out.printf("  dtypes        %s%n", sb);
            List<SafetensorsFile> sh = ck.shards();
            out.printf("  shards        %d, %s in all%n", sh.size(), Output.bytes(bytes));
            for (SafetensorsFile f : sh) {
                long b = 0;
                for (TensorInfo t : f.tensors()) b += t.byteSize();
                out.printf("    %-36s %5d tensors %12s%n", f.path().getFileName(), f.tensors().size(), Output.bytes(b));
            }
            if (!missing.isEmpty()) out.printf("  missing       %s%n", String.join(", ", missing));
            if (!wrongShape.isEmpty()) out.printf("  wrong shape   %s%n", String.join(", ", wrongShape));
            if (!unexpected.isEmpty()) out.printf("  other tensors %s%n", String.join(", ", unexpected));
            if (!noTensors) {
                int w = 4;
                for (String n : ck.tensorNames()) w = Math.max(w, n.length());
                out.printf("  %-" + w + "s  %-5s  %-20s %12s%n", "name", "dtype", "shape", "bytes");
                for (String n : ck.tensorNames()) {
                    TensorInfo t = ck.info(n);
                    out.printf("  %-" + w + "s  %-5s  %-20s %12d%n", n, t.dtype().code(), t.shapeString(), t.byteSize());
                }
            }
        }
        return 0;
    }

    private static List<String> archs(LlamaConfig cfg) {
        var n = cfg.toJsonNode().get("architectures");
        if (n == null || !n.isArray()) return List.of(cfg.string("model_type", "?"));
        return java.util.stream.StreamSupport.stream(n.spliterator(), false).map(x -> x.asText()).toList();
    }

    private static String fmt(double d) {
        return d == Math.rint(d) && Math.abs(d) < 1e15 ? Long.toString((long) d) : Double.toString(d);
    }
}
