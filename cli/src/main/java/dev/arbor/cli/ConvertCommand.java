package dev.arbor.cli;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.arbor.format.Checkpoint;
import dev.arbor.format.CheckpointWriter;
import dev.arbor.format.DType;
import dev.arbor.format.FormatException;
import dev.arbor.format.SafetensorsFile;
import dev.arbor.format.SafetensorsWriter;
import dev.arbor.format.TensorEntry;
import dev.arbor.format.TensorInfo;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;

@Command(name = "convert", description = "Convert a checkpoint's dtype and/or reshard it, streaming tensor by tensor.")
final class ConvertCommand implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "SRC", description = "checkpoint directory or .safetensors file") Path src;
    @Parameters(index = "1", paramLabel = "DST", description = "new directory (or .safetensors file when SRC is a file)") Path dst;
    @Option(names = "--dtype", description = "bf16, f16 or f32 for floating-point weights (default: keep)") String dtype;
    @Option(names = "--shard-size", description = "maximum shard size such as 2GB (default: keep the source's shards)") String shardSize;
    @Option(names = "--json", description = "print JSON") boolean json;

    @Override public Integer call() throws Exception {
        DType target = dtype == null ? null : DType.parseUserDtype(dtype);
        if (Files.exists(dst)) throw new FormatException(dst + " already exists; choose a new path.");
        long bytesOut = 0;
        int shardsOut;
        // Not memory-mapped: tensors are copied through a small buffer so resident memory stays flat.
        try (Checkpoint ck = Checkpoint.open(src, false)) {
            List<TensorEntry> entries = new ArrayList<>();
            List<List<String>> layout = new ArrayList<>();
            for (SafetensorsFile f : ck.shards()) {
                List<String> names = new ArrayList<>();
                // keep each shard's on-disk order so an unchanged conversion is byte-identical
                List<TensorInfo> ordered = new ArrayList<>(f.tensors());
                ordered.sort(java.util.Comparator.comparingLong(TensorInfo::begin));
                for (TensorInfo t : ordered) {
                    TensorEntry e = TensorEntry.copyOf(f, t, target == null ? t.dtype() : target);
                    entries.add(e);
                    names.add(t.name());
                    bytesOut += e.byteSize();
                }
                layout.add(names);
            }
            long total = bytesOut;
            boolean singleFile = Files.isRegularFile(src) && dst.getFileName().toString().endsWith(".safetensors");
            try (Progress p = Progress.bytes("convert", total)) {
                if (singleFile) {
                    SafetensorsWriter.write(dst, entries, ck.shards().get(0).metadata());
                    shardsOut = 1;
                } else {
                    CheckpointWriter w = new CheckpointWriter().addAll(entries).sidecars(ck.sidecars())
                            .progress((done, t) -> p.stepTo(done));
                    if (!ck.shards().isEmpty()) w.metadata(ck.shards().get(0).metadata());
                    if (ck.config() != null) {
                        w.config(target == null ? ck.config() : ck.config().with("torch_dtype", target.torchName()));
                    }
                    if (shardSize != null) {
                        long max = CheckpointWriter.parseSize(shardSize);
                        w.maxShardBytes(max);
                        shardsOut = countShards(entries, max);
                    } else {
                        w.shards(layout);
                        shardsOut = layout.size();
                    }
                    w.write(dst);
                }
            }
        }
        if (json) {
            ObjectNode o = Output.object().put("source", src.toString()).put("destination", dst.toString())
                    .put("bytes", bytesOut).put("shards", shardsOut);
            if (target != null) o.put("dtype", target.code());
            Output.printJson(new PrintWriter(System.out), o);
        } else {
            System.out.printf("Wrote %s: %s in %d shard%s%s.%n", dst, Output.bytes(bytesOut), shardsOut,
                    shardsOut == 1 ? "" : "s", target == null ? "" : ", floating-point weights as " + target.code());
        }
        return 0;
    }

    private static int countShards(List<TensorEntry> entries, long max) {
        int n = 1;
        long acc = 0;
        boolean any = false;
        for (TensorEntry e : entries) {
            if (any && acc + e.byteSize() > max) { n++; acc = 0; }
            acc += e.byteSize();
            any = true;
        }
        return n;
    }
}
