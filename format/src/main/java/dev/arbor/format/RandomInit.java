package dev.arbor.format;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * A fresh, randomly initialised LLaMA checkpoint as HF initialises one: linear and embedding
 * weights N(0, std²), norm weights 1. Each tensor draws from its own generator seeded by
 * (seed, name), so the result does not depend on the order or sharding of the write, and the
 * model is streamed one tensor at a time.
 */
public final class RandomInit {
    private RandomInit() {}

    public static void write(LlamaConfig config, long seed, double std, DType dtype, Path out,
                             List<Path> sidecars, long maxShardBytes,
                             CheckpointWriter.ProgressListener progress) throws IOException {
        CheckpointWriter w = new CheckpointWriter()
                .config(config.with("torch_dtype", dtype.torchName()).with("initializer_range", std))
                .sidecars(sidecars)
                .progress(progress);
        if (maxShardBytes > 0) w.maxShardBytes(maxShardBytes);
        for (Map.Entry<String, long[]> e : LlamaTensors.expectedShapes(config).entrySet()) {
            String name = e.getKey();
            long[] shape = e.getValue();
            boolean norm = shape.length == 1;
            w.add(new TensorEntry(name, dtype, shape, sink -> {
                SplittableRandom rng = new SplittableRandom(tensorSeed(seed, name));
                long n = TensorInfo.numel(shape);
                float[] chunk = new float[(int) Math.min(n, 1 << 16)];
                for (long done = 0; done < n; ) {
                    int k = (int) Math.min(chunk.length, n - done);
                    for (int i = 0; i < k; i++) chunk[i] = norm ? 1.0f : (float) (std * rng.nextGaussian());
                    sink.putFloats(chunk, 0, k);
                    done += k;
                }
            }));
        }
        w.write(out);
    }

    static long tensorSeed(long seed, String name) {
        try {
            MessageDigest md = MessageDigest.getInstance("SHA-256");
            md.update(Long.toString(seed).getBytes(StandardCharsets.UTF_8));
            md.update((byte) 0);
            md.update(name.getBytes(StandardCharsets.UTF_8));
            byte[] h = md.digest();
            long s = 0;
            for (int i = 0; i < 8; i++) s = (s << 8) | (h[i] & 0xFF);
            return s;
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
