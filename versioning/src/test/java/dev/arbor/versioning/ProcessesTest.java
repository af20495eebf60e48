package dev.arbor.versioning;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.IntStream;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;

/** Writers in separate JVMs: serialised by the lock file, and crash-safe under SIGKILL. */
class ProcessesTest {
    @TempDir Path tmp;
    @TempDir static Path classpathCopy;
    static String classpath;

    /**
     * The children run from jars made from a snapshot of the test classpath: in a shared checkout
     * another build may rewrite target/classes while this test runs, and a child must not see it
     * half-done. Jars (not directories) also let the children share a class-data archive, which
     * roughly halves a child JVM's start-up, the main cost of each kill.
     */
    @BeforeAll static void snapshotClasspath() throws Exception {
        List<String> entries = new ArrayList<>();
        int i = 0;
        for (String e : System.getProperty("java.class.path").split(java.io.File.pathSeparator)) {
            Path src = Path.of(e);
            if (!Files.exists(src)) continue;
            Path dst = classpathCopy.resolve(i++ + "-" + src.getFileName() + (Files.isDirectory(src) ? ".jar" : ""));
            if (Files.isDirectory(src)) jar(src, dst); else Files.copy(src, dst);
            entries.add(dst.toString());
        }
        classpath = String.join(java.io.File.pathSeparator, entries);
        Path ckpt = Fixtures.checkpoint(classpathCopy.resolve("warm-ckpt"), 9);
        Process p = new ProcessBuilder(childCommand(List.of("-XX:ArchiveClassesAtExit=" + classpathCopy.resolve("app.jsa")),
                classpathCopy.resolve("warm-store"), ckpt, "warm", 2)).redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
        p.waitFor(120, TimeUnit.SECONDS);
    }

    private static void jar(Path dir, Path jar) throws IOException {
        try (var out = new java.util.jar.JarOutputStream(Files.newOutputStream(jar)); Stream<Path> walk = Files.walk(dir)) {
            for (Path f : walk.filter(Files::isRegularFile).toList()) {
                out.putNextEntry(new java.util.jar.JarEntry(dir.relativize(f).toString().replace('\\', '/')));
                Files.copy(f, out);
                out.closeEntry();
            }
        }
    }

    private static List<String> childCommand(List<String> jvmFlags, Path store, Path ckpt, String model, int count) {
        List<String> cmd = new ArrayList<>(List.of(ProcessHandle.current().info().command().orElse("java"),
                "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-Xmx128m", "-XX:-UsePerfData"));
        cmd.addAll(jvmFlags);
        cmd.addAll(List.of("-cp", classpath, WriterMain.class.getName(), store.toString(), ckpt.toString(), model,
                Integer.toString(count)));
        return cmd;
    }

    static Process writer(Path store, Path ckpt, String model, int count) throws IOException {
        Path archive = classpathCopy.resolve("app.jsa");
        List<String> flags = Files.isRegularFile(archive) ? List.of("-XX:SharedArchiveFile=" + archive, "-Xlog:cds=off", "-Xlog:cds+dynamic=off") : List.of();
        return new ProcessBuilder(childCommand(flags, store, ckpt, model, count)).redirectError(ProcessBuilder.Redirect.DISCARD).start();
    }

    static void awaitReady(Process p) throws IOException {
        BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream()));
        String line = r.readLine();
        if (!"ready".equals(line)) throw new IllegalStateException("writer did not start: " + line);
    }

    @Test void twoWriterProcessesAreSerialised() throws Exception {
        Path ckpt = Fixtures.checkpoint(tmp.resolve("ckpt"), 3);
        Path store = tmp.resolve("store");
        Store.init(store);
        Process a = writer(store, ckpt, "shared", 6), b = writer(store, ckpt, "shared", 6);
        assertThat(a.waitFor(60, TimeUnit.SECONDS) && b.waitFor(60, TimeUnit.SECONDS)).isTrue();
        assertThat(a.exitValue()).isZero();
        assertThat(b.exitValue()).isZero();
        Store s = Store.open(store);
        // 2 writers x 6 rounds (imports in rounds 0 and 3, a commit every round): every number taken once, none overwritten
        assertThat(s.numbers("shared")).isEqualTo(IntStream.rangeClosed(1, 16).boxed().toList());
        assertThat(s.versions("shared")).extracting(Version::id).doesNotHaveDuplicates();
        assertThat(s.verify().ok()).isTrue();
    }

    /**
     * Writers run three at a time and are SIGKILLed at random moments while they import, commit
     * and move tags (≥ 200 kills, bounded in time); after every kill the store must verify and
     * every visible version must be whole. Kills land at a random time up to 300 ms after the
     * writer opened the store, which spans blob writes, manifest and tag publication.
     */
    @Test void sigkilledWritersNeverLeaveAHalfWrittenVersion() throws Exception {
        int target = Integer.getInteger("arbor.crash.kills", 200);
        long limit = TimeUnit.SECONDS.toNanos(Integer.getInteger("arbor.crash.seconds", 150));
        Path ckpt = Fixtures.checkpoint(tmp.resolve("ckpt"), 4);
        Path storeDir = tmp.resolve("store");
        Store store = Store.init(storeDir);
        int tensorsPerVersion = Fixtures.CONFIG.numHiddenLayers() * 9 + 3;
        AtomicInteger kills = new AtomicInteger();
        long start = System.nanoTime(), deadline = start + limit;
        List<Throwable> errors = java.util.Collections.synchronizedList(new ArrayList<>());
        Runnable killer = () -> {
            try {
                while (kills.get() < target && System.nanoTime() < deadline && errors.isEmpty()) {
                    Process p = writer(storeDir, ckpt, "crash", 0);
                    awaitReady(p);
                    Thread.sleep(ThreadLocalRandom.current().nextInt(0, 300));
                    p.destroyForcibly();   // SIGKILL on Linux
                    p.waitFor();
                    int k = kills.incrementAndGet();
                    check(store, tensorsPerVersion);
                    if (k % 50 == 0) store.gc(false);   // gc between crashes must keep every visible version whole
                }
            } catch (Throwable e) {
                errors.add(e);
            }
        };
        List<Thread> threads = new ArrayList<>();
        for (int i = 0; i < 3; i++) threads.add(Thread.ofPlatform().start(killer));
        for (Thread t : threads) t.join();
        assertThat(errors).isEmpty();
        System.out.printf("crash test: %d SIGKILLs in %.1f s, %d versions survived%n", kills.get(),
                (System.nanoTime() - start) / 1e9, store.numbers("crash").size());
        check(store, tensorsPerVersion);
        assertThat(store.numbers("crash")).isNotEmpty();
        // A writer start costs ~0.9 CPU-s, so 200 kills take ~60-90 s on two idle cores. On a
        // machine busy with other work the time bound can come first: then every kill made was
        // still checked, and the run reports itself aborted (not passed) unless it reached the target.
        assertThat(kills.get()).as("kills before the time bound").isGreaterThanOrEqualTo(Math.min(target, 50));
        org.junit.jupiter.api.Assumptions.assumeTrue(kills.get() >= target, () -> "only " + kills.get() + " of " + target
                + " SIGKILLs fit in the time bound on this (busy) machine; raise -Darbor.crash.seconds");
    }

    private static void check(Store store, int tensorsPerVersion) {
        VerifyReport r = store.verify();
        if (!r.ok()) throw new AssertionError("store verify failed after a kill: " + r);
        for (String m : store.models()) {
            for (Version v : store.versions(m)) {
                if (v.tensors().size() != tensorsPerVersion || !v.files().containsKey("tokenizer.json")) {
                    throw new AssertionError(v.label() + " is visible but incomplete");
                }
            }
            for (Tag t : store.tags(m)) store.resolve(t.label());
        }
    }
}
