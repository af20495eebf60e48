package dev.arbor.cli;

import dev.arbor.serve.ArborServer;
import dev.arbor.serve.Catalog;
import dev.arbor.serve.ServeOptions;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.time.Duration;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;

@Command(name = "serve", description = "Serve a model over an OpenAI-compatible HTTP API, with deploy and rollback of store versions.")
final class ServeCommand implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "MODEL", description = "checkpoint directory or store reference (name:tag, name@3)") String model;
    @Option(names = "--host", defaultValue = "127.0.0.1", description = "interface to bind (default ${DEFAULT-VALUE}; any other needs --admin-token)") String host;
    @Option(names = "--port", defaultValue = "8000", description = "TCP port (default ${DEFAULT-VALUE}; 0 = any free port)") int port;
    @Option(names = "--admin-token", paramLabel = "T", description = "bearer token for /admin (default: $ARBOR_ADMIN_TOKEN)") String adminToken;
    @Option(names = "--api-key", paramLabel = "K", description = "bearer token required on /v1 (default: none)") String apiKey;
    @Option(names = "--max-batch", defaultValue = "16", description = "sequences decoded together (default ${DEFAULT-VALUE})") int maxBatch;
    @Option(names = "--queue", defaultValue = "64", description = "requests that may wait for a slot before 429 (default ${DEFAULT-VALUE})") int queue;
    @Option(names = "--max-tokens", defaultValue = "1024", description = "largest max_tokens a request may ask for (default ${DEFAULT-VALUE})") int maxTokens;
    @Option(names = "--max-prompt-tokens", defaultValue = "4096", description = "longest prompt (default ${DEFAULT-VALUE})") int maxPrompt;
    @Option(names = "--max-streams", defaultValue = "64", description = "concurrent streaming responses (default ${DEFAULT-VALUE})") int maxStreams;
    @Option(names = "--max-body", defaultValue = "1048576", description = "largest request body in bytes (default ${DEFAULT-VALUE})") int maxBody;
    @Option(names = "--request-timeout", defaultValue = "600", description = "seconds a request may run (default ${DEFAULT-VALUE})") int requestTimeout;
    @Option(names = "--threads", defaultValue = "0", description = "compute threads (default: all cores)") int threads;
    @Option(names = "--warm-up", defaultValue = "5", paramLabel = "SECONDS", description = "most seconds spent warming the JIT up before listening, so that the first requests run at full speed (default ${DEFAULT-VALUE}; 0: off)") double warmUp;
    @Mixin StoreOption store = new StoreOption();

    @Override public Integer call() throws Exception {
        String token = adminToken != null ? adminToken : System.getenv("ARBOR_ADMIN_TOKEN");
        ServeOptions o = new ServeOptions(host, port, token, apiKey, maxBatch, queue, maxBody, maxPrompt, maxTokens, maxStreams,
                Duration.ofSeconds(requestTimeout), Duration.ofMinutes(2), threads, Duration.ofMillis(Math.round(1000 * warmUp)));
        Catalog catalog = Catalog.forModel(model, store.location());
        ArborServer server = ArborServer.start(catalog, model, o);
        Thread hook = new Thread(server::close, "arbor-serve-shutdown");
        Runtime.getRuntime().addShutdownHook(hook);
        // the bound address (with --port 0, the port the system picked)
        System.err.printf("arbor serve: %s on http://%s:%d (OpenAI API under /v1; /health, /metrics, /admin)%s%n",
                server.deployedVersion(), host, server.port(),
                server.warmUpSeconds() > 0 ? String.format("; JIT warmed up in %.1f s", server.warmUpSeconds()) : "");
        System.err.flush();
        try {
            new CountDownLatch(1).await();   // until the JVM shuts down (Ctrl-C, SIGTERM) or this thread is interrupted
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } finally {
            try {
                Runtime.getRuntime().removeShutdownHook(hook);
            } catch (IllegalStateException shuttingDown) {
                // the hook closes it
            }
            server.close();
        }
        return 0;
    }
}
