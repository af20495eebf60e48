package dev.arbor.model;

import dev.arbor.format.DType;
import dev.arbor.format.LlamaConfig;
import dev.arbor.format.ModelSource;
import dev.arbor.format.Tensor;
import dev.arbor.format.TensorInfo;

import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/** A ModelSource over another with extra in-memory F32 tensors and/or a different config. */
final class TestSources implements ModelSource {
    private final ModelSource base;
    private final LlamaConfig config;
    private final Map<String, Tensor> extra = new LinkedHashMap<>();

    TestSources(ModelSource base, LlamaConfig config) {
        this.base = base;
        this.config = config;
    }

    static TestSources over(ModelSource base) { return new TestSources(base, base.requireConfig()); }

    TestSources with(String name, float... values) {
        MemorySegment seg = MemorySegment.ofArray(values.clone());   // native order: little-endian on x86
        extra.put(name, new Tensor(name, DType.F32, new long[]{values.length}, seg));
        return this;
    }

    TestSources config(LlamaConfig c) {
        TestSources s = new TestSources(base, c);
        s.extra.putAll(extra);
        return s;
    }

    @Override public LlamaConfig requireConfig() { return config; }
    @Override public List<String> tensorNames() {
        List<String> n = new ArrayList<>(base.tensorNames());
        n.addAll(extra.keySet());
        return n;
    }
    @Override public boolean contains(String name) { return extra.containsKey(name) || base.contains(name); }
    @Override public TensorInfo info(String name) {
        Tensor t = extra.get(name);
        return t == null ? base.info(name) : new TensorInfo(name, t.dtype(), t.shape(), 0, t.data().byteSize());
    }
    @Override public Tensor tensor(String name) { return extra.containsKey(name) ? extra.get(name) : base.tensor(name); }
    @Override public Optional<Path> sideFile(String fileName) { return base.sideFile(fileName); }
    @Override public String describe() { return base.describe(); }
    @Override public void close() { base.close(); }
}
