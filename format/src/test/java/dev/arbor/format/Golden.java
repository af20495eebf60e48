package dev.arbor.format;

import java.io.IOException;
import java.io.InputStream;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;

/** Test helpers: golden files on the classpath, and the optional Python reference. */
public final class Golden {
    private Golden() {}

    /** A golden file or directory from test resources (format's test jar exports it). */
    public static Path path(String name) {
        try {
            var url = Golden.class.getResource("/golden/" + name);
            if (url == null) throw new IllegalStateException("missing golden resource " + name);
            return Path.of(url.toURI());
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }

    /** The reference script when python3 with torch and shared/ are present, else empty. */
    public static Optional<Path> referenceScript() {
        String shared = System.getProperty("arbor.shared", "../../shared");
        Path p = Path.of(shared, "reference", "ref_llama.py");
        if (!Files.isRegularFile(p) || !Files.isExecutable(Path.of("/usr/bin/python3"))) return Optional.empty();
        try {
            Process pr = new ProcessBuilder("/usr/bin/python3", "-c", "import torch, numpy").redirectErrorStream(true).start();
            pr.getInputStream().readAllBytes();
            return pr.waitFor() == 0 ? Optional.of(p) : Optional.empty();
        } catch (IOException | InterruptedException e) {
            return Optional.empty();
        }
    }

    /** Runs the reference with arguments; returns [exit code, output]. */
    public static Object[] runReference(Path script, String... args) throws IOException, InterruptedException {
        String[] cmd = new String[args.length + 2];
        cmd[0] = "/usr/bin/python3";
        cmd[1] = script.toString();
        System.arraycopy(args, 0, cmd, 2, args.length);
        Process pr = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out;
        try (InputStream in = pr.getInputStream()) {
            out = new String(in.readAllBytes());
        }
        return new Object[]{pr.waitFor(), out};
    }
}
