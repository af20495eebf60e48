package dev.arbor.versioning;

import dev.arbor.format.CheckpointWriter;
import dev.arbor.format.DType;
import dev.arbor.format.HalfFloats;
import dev.arbor.format.TensorEntry;
import dev.arbor.format.TensorSink;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;

/**
 * Writes a version as a plain HF directory through format's atomic CheckpointWriter. Each blob
 * is streamed once: hashed while its bytes go to the shard, and a mismatch aborts the export
 * (the half-written directory is discarded), so a damaged blob never leaves the store silently.
 */
final class Exporter {
    private static final int CHUNK = 1 << 20;

    private Exporter() {}

    static void export(Store store, Version v, Path dst, DType dtype, long maxShardBytes,
                       CheckpointWriter.ProgressListener progress) throws IOException {
        List<TensorEntry> entries = new ArrayList<>();
        for (Version.StoredTensor t : v.tensors()) {
            DType out = dtype != null && t.dtype().isFloatingPoint() ? dtype : t.dtype();
            Path blob = store.blobs().localPath(t.blob());
            String what = "tensor '" + t.name() + "' of " + v.label();
            entries.add(new TensorEntry(t.name(), out, t.shape(), sink -> copyVerified(blob, t, what, sink)));
        }
        CheckpointWriter w = new CheckpointWriter().addAll(entries).maxShardBytes(maxShardBytes).progress(progress)
                .config(dtype == null ? v.config() : v.config().with("torch_dtype", dtype.torchName()))
                .metadata(Map.of("format", "pt"));
        try (StoredModel m = store.openModel(v)) {
            for (Map.Entry<String, Version.FileBlob> e : v.files().entrySet()) {
                // Training state (optimizer moments, trainer position) is Arbor's own and stays in the store.
                if (e.getKey().startsWith("arbor-")) continue;
                w.file(e.getKey(), m.readVerified(e.getValue().blob(), "side file " + e.getKey()));
            }
        }
        w.write(dst);
    }

    private static void copyVerified(Path blob, Version.StoredTensor t, String what, TensorSink sink) throws IOException {
        MessageDigest sha = Hashing.sha256();
        byte[] arr = new byte[CHUNK];
        ByteBuffer buf = ByteBuffer.wrap(arr).order(ByteOrder.LITTLE_ENDIAN);
        boolean convert = sink.dtype() != t.dtype();
        float[] floats = convert ? new float[CHUNK / 2] : null;
        long total = 0;
        try (FileChannel ch = FileChannel.open(blob, StandardOpenOption.READ)) {
            if (ch.size() != t.bytes()) throw damaged(t, what);
            int carry = 0;   // bytes of a partial element kept at the front of buf
            while (true) {
                buf.clear().position(carry);
                int n = ch.read(buf);
                if (n < 0) break;
                sha.update(arr, carry, n);
                total += n;
                buf.flip();
                if (!convert) {
                    sink.putBytes(buf);
                    continue;
                }
                int size = t.dtype().size(), count = buf.remaining() / size;
                if (t.dtype() == DType.F64) {
                    double[] d = new double[count];   // F64 narrows straight to 16 bits, without double rounding
                    for (int i = 0; i < count; i++) d[i] = buf.getDouble(i * 8);
                    sink.putDoubles(d, 0, count);
                } else {
                    for (int i = 0; i < count; i++) floats[i] = toFloat(t.dtype(), buf, i * size);
                    sink.putFloats(floats, 0, count);
                }
                carry = buf.remaining() - count * size;
                System.arraycopy(arr, count * size, arr, 0, carry);
            }
        } catch (NoSuchFileException e) {
            throw new StoreException("Blob " + t.blob().substring(0, 12) + " of " + what + " is missing; run 'arbor store verify'.");
        }
        if (total != t.bytes() || !HexFormat.of().formatHex(sha.digest()).equals(t.blob())) throw damaged(t, what);
    }

    private static StoreException damaged(Version.StoredTensor t, String what) {
        return new StoreException("Blob " + t.blob().substring(0, 12) + " of " + what
                + " is damaged (its SHA-256 does not match); nothing was exported; run 'arbor store verify'.");
    }

    private static float toFloat(DType dt, ByteBuffer b, int at) {
        return switch (dt) {
            case F32 -> b.getFloat(at);
            case BF16 -> HalfFloats.bf16ToFloat(b.getShort(at));
            case F16 -> HalfFloats.f16ToFloat(b.getShort(at));
            default -> throw new IllegalStateException("not a float dtype: " + dt);
        };
    }
}
