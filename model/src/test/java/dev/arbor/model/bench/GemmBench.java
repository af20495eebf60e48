package dev.arbor.model.bench;

import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;
import org.openjdk.jmh.results.RunResult;
import org.openjdk.jmh.runner.Runner;
import org.openjdk.jmh.runner.options.OptionsBuilder;
import org.openjdk.jmh.runner.options.TimeValue;
import org.openjdk.jmh.util.Statistics;

import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;

/**
 * Gemm on the three products of a linear layer Y[M,N] = X[M,K]·Wᵀ (W stored [N,K]):
 * <ul>
 *   <li>{@code forward}: Y = X·Wᵀ — m=M, n=N, k=K, transB;</li>
 *   <li>{@code dX}: dX = dY·W — m=M, n=K, k=N, no transposes;</li>
 *   <li>{@code dW}: dW += dYᵀ·X — m=N, n=K, k=M, transA, accumulating.</li>
 * </ul>
 * Shapes are M x N x K (tokens x out features x in features). Run from the repository root (2 threads by default):
 * <pre>
 *   mvn -q -o -pl train test-compile dependency:build-classpath -Dmdep.outputFile=/tmp/cp.txt
 *   java --add-modules jdk.incubator.vector -cp train/target/test-classes:train/target/classes:$(cat /tmp/cp.txt) \
 *        dev.arbor.model.bench.GemmBench [2048x768x768 ...] [forward|dX|dW ...] [threads=1,2] [time=0.5]
 * </pre>
 * main() prints GFLOP/s (median, min, max over the measurement iterations) next to each JMH score; plain
 * {@code org.openjdk.jmh.Main GemmBench} works too and reports ms/op.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "-Xmx6g"})
public class GemmBench {
    @Param({"forward", "dX", "dW"}) public String use;
    @Param({"2048x768x768", "2048x2048x768", "2048x768x2048", "512x768x768", "256x2048x768", "2048x32000x768"})
    public String shape;
    @Param({"2"}) public int threads;

    private AutoCloseable gemm;
    private MethodHandle multiply;
    private int m, n, k, lda, ldb;
    private boolean transA, transB, accumulate;
    private float[] a, b, c;

    @Setup(Level.Trial) public void setUp() throws Throwable {
        String[] mnk = shape.split("x");
        int tokens = Integer.parseInt(mnk[0]), out = Integer.parseInt(mnk[1]), in = Integer.parseInt(mnk[2]);
        float[] x = random(tokens * in, 1), w = random(out * in, 2), dy = random(tokens * out, 3);
        switch (use) {
            case "forward" -> { m = tokens; n = out; k = in; a = x; lda = in; b = w; ldb = in; transB = true; }
            case "dX" -> { m = tokens; n = in; k = out; a = dy; lda = out; b = w; ldb = in; }
            case "dW" -> { m = out; n = in; k = tokens; a = dy; lda = out; transA = true; b = x; ldb = in; accumulate = true; }
            default -> throw new IllegalArgumentException(use);
        }
        c = new float[m * n];
        // reached reflectively (written when Gemm was package-private)
        Class<?> cls = Class.forName("dev.arbor.model.Gemm");
        var lookup = MethodHandles.privateLookupIn(cls, MethodHandles.lookup());
        gemm = (AutoCloseable) lookup.findConstructor(cls, MethodType.methodType(void.class, int.class)).invoke(threads);
        multiply = lookup.findVirtual(cls, "multiply", MethodType.methodType(void.class, int.class, int.class, int.class,
                float[].class, int.class, int.class, boolean.class, float[].class, int.class, int.class, boolean.class,
                float[].class, int.class, int.class, boolean.class)).bindTo(gemm);
    }

    private static float[] random(int size, long seed) {
        Random rnd = new Random(seed);
        float[] v = new float[size];
        for (int i = 0; i < size; i++) v[i] = rnd.nextFloat() - 0.5f;
        return v;
    }

    @TearDown(Level.Trial) public void tearDown() throws Exception { gemm.close(); }

    @Benchmark public float multiply() throws Throwable {
        multiply.invokeExact(m, n, k, a, 0, lda, transA, b, 0, ldb, transB, c, 0, n, accumulate);
        return c[0];
    }

    public static void main(String[] args) throws Exception {
        var opts = new OptionsBuilder().include(GemmBench.class.getSimpleName())
                .jvm(System.getProperty("java.home") + "/bin/java");   // the forked JVM must be this JDK
        List<String> shapes = new ArrayList<>(), uses = new ArrayList<>();
        for (String arg : args) {
            if (arg.startsWith("threads=")) opts.param("threads", arg.substring(8).split(","));
            else if (arg.startsWith("time=")) {
                double s = Double.parseDouble(arg.substring(5));
                opts.warmupTime(TimeValue.milliseconds((long) (s * 1000))).measurementTime(TimeValue.milliseconds((long) (s * 1000)));
            } else if (arg.matches("forward|dX|dW")) uses.add(arg);
            else shapes.add(arg);
        }
        if (!shapes.isEmpty()) opts.param("shape", shapes.toArray(String[]::new));
        if (!uses.isEmpty()) opts.param("use", uses.toArray(String[]::new));
        Collection<RunResult> results = new Runner(opts.build()).run();
        System.out.println();
        System.out.printf("%-8s %-15s %7s %10s %10s %10s %10s%n", "use", "M x N x K", "threads", "ms/op", "GFLOP/s", "min", "max");
        for (RunResult r : results) {
            var p = r.getParams();
            String[] mnk = p.getParam("shape").split("x");
            double flops = 2.0 * Long.parseLong(mnk[0]) * Long.parseLong(mnk[1]) * Long.parseLong(mnk[2]);
            Statistics st = r.getPrimaryResult().getStatistics();   // ms/op per measurement iteration
            System.out.printf("%-8s %-15s %7s %10.2f %10.1f %10.1f %10.1f%n", p.getParam("use"), p.getParam("shape"),
                    p.getParam("threads"), st.getPercentile(50), flops / st.getPercentile(50) / 1e6,
                    flops / st.getMax() / 1e6, flops / st.getMin() / 1e6);
        }
    }
}
