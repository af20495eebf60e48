package dev.arbor.serve;

import dev.arbor.format.ArborException;

import java.net.InetAddress;
import java.net.UnknownHostException;
import java.time.Duration;

/**
 * How the server listens and what it accepts.
 *
 * @param host           interface to bind (127.0.0.1 by default; any other needs an admin token)
 * @param port           TCP port; 0 picks a free one
 * @param adminToken     bearer token for /admin, null for none (allowed on loopback only)
 * @param apiKey         bearer token for /v1, null for none
 * @param maxBatch       most sequences decoded together in one step
 * @param maxQueue       most requests waiting for a batch slot; beyond it, 429
 * @param maxBodyBytes   largest request body
 * @param maxPromptTokens longest prompt, in tokens
 * @param maxTokens      largest max_tokens a request may ask for (and the default)
 * @param maxStreams     most concurrent streaming responses
 * @param requestTimeout a request still running after this is ended (504 or a stream error)
 * @param idleTimeout    an idle connection is closed after this
 * @param threads        compute threads per loaded model (0: all cores)
 * @param warmUp         most time the first loaded version spends warming the JIT up before the server listens
 *                       ({@link dev.arbor.model.LlamaModel#warmUp}; zero: a single step). Deploys and rollbacks
 *                       skip it, so that they stay quick: the kernels are compiled by then.
 */
public record ServeOptions(String host, int port, String adminToken, String apiKey, int maxBatch, int maxQueue,
                           int maxBodyBytes, int maxPromptTokens, int maxTokens, int maxStreams,
                           Duration requestTimeout, Duration idleTimeout, int threads, Duration warmUp) {

    public ServeOptions {
        if (host == null || host.isBlank()) throw new ArborException("--host must not be empty.");
        if (port < 0 || port > 65535) throw new ArborException("--port must be in 0..65535.");
        if (maxBatch < 1) throw new ArborException("--max-batch must be at least 1.");
        if (maxQueue < 0) throw new ArborException("--queue must be >= 0.");
        if (maxBodyBytes < 1024) throw new ArborException("The body limit must be at least 1024 bytes.");
        if (maxPromptTokens < 1 || maxTokens < 1 || maxStreams < 1) throw new ArborException("Request limits must be at least 1.");
        if (threads < 0) throw new ArborException("--threads must be >= 0.");
        if (warmUp == null || warmUp.isNegative()) throw new ArborException("--warm-up must be >= 0 seconds.");
        if (adminToken != null && adminToken.isBlank()) adminToken = null;
        if (apiKey != null && apiKey.isBlank()) apiKey = null;
        if (adminToken == null && !isLoopback(host)) {
            throw new ArborException("Binding " + host + " exposes the admin endpoints beyond this machine; give --admin-token (or ARBOR_ADMIN_TOKEN).");
        }
    }

    /**
     * Defaults: 127.0.0.1:8000, batch 16, queue 64, 1 MiB bodies, 4096-token prompts, 1024 new tokens, 64 streams,
     * up to 5 s of JIT warm-up before listening.
     */
    public static ServeOptions defaults() {
        return new ServeOptions("127.0.0.1", 8000, null, null, 16, 64, 1 << 20, 4096, 1024, 64,
                Duration.ofMinutes(10), Duration.ofMinutes(2), 0, Duration.ofSeconds(5));
    }

    public ServeOptions withHost(String h) { return new ServeOptions(h, port, adminToken, apiKey, maxBatch, maxQueue, maxBodyBytes, maxPromptTokens, maxTokens, maxStreams, requestTimeout, idleTimeout, threads, warmUp); }
    public ServeOptions withPort(int p) { return new ServeOptions(host, p, adminToken, apiKey, maxBatch, maxQueue, maxBodyBytes, maxPromptTokens, maxTokens, maxStreams, requestTimeout, idleTimeout, threads, warmUp); }
    public ServeOptions withAdminToken(String t) { return new ServeOptions(host, port, t, apiKey, maxBatch, maxQueue, maxBodyBytes, maxPromptTokens, maxTokens, maxStreams, requestTimeout, idleTimeout, threads, warmUp); }
    public ServeOptions withApiKey(String k) { return new ServeOptions(host, port, adminToken, k, maxBatch, maxQueue, maxBodyBytes, maxPromptTokens, maxTokens, maxStreams, requestTimeout, idleTimeout, threads, warmUp); }
    public ServeOptions withBatch(int b, int q) { return new ServeOptions(host, port, adminToken, apiKey, b, q, maxBodyBytes, maxPromptTokens, maxTokens, maxStreams, requestTimeout, idleTimeout, threads, warmUp); }
    public ServeOptions withLimits(int body, int prompt, int tokens, int streams) { return new ServeOptions(host, port, adminToken, apiKey, maxBatch, maxQueue, body, prompt, tokens, streams, requestTimeout, idleTimeout, threads, warmUp); }
    public ServeOptions withTimeouts(Duration request, Duration idle) { return new ServeOptions(host, port, adminToken, apiKey, maxBatch, maxQueue, maxBodyBytes, maxPromptTokens, maxTokens, maxStreams, request, idle, threads, warmUp); }
    public ServeOptions withThreads(int t) { return new ServeOptions(host, port, adminToken, apiKey, maxBatch, maxQueue, maxBodyBytes, maxPromptTokens, maxTokens, maxStreams, requestTimeout, idleTimeout, t, warmUp); }

    public ServeOptions withWarmUp(Duration w) { return new ServeOptions(host, port, adminToken, apiKey, maxBatch, maxQueue, maxBodyBytes, maxPromptTokens, maxTokens, maxStreams, requestTimeout, idleTimeout, threads, w); }

    static boolean isLoopback(String host) {
        if (host.equals("localhost")) return true;
        try {
            return InetAddress.getByName(host).isLoopbackAddress();
        } catch (UnknownHostException e) {
            return false;
        }
    }
}
