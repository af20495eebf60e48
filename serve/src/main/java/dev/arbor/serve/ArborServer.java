package dev.arbor.serve;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.arbor.format.ArborException;
import io.vertx.core.Context;
import io.vertx.core.Vertx;
import io.vertx.core.VertxOptions;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpServerOptions;
import io.vertx.core.http.HttpServerResponse;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.RoutingContext;
import io.vertx.ext.web.handler.BodyHandler;

import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;

/**
 * {@code arbor serve}: an OpenAI-compatible HTTP server (Vert.x) over one model's deployed
 * version. The event loop only parses and writes; tokenisation runs on worker threads and
 * compute on the {@link Scheduler}'s thread.
 */
public final class ArborServer implements AutoCloseable {
    static final ObjectMapper JSON = new ObjectMapper();
    static final String VERSION_HEADER = "X-Arbor-Version";

    private final ServeOptions opts;
    private final Catalog catalog;
    private final Vertx vertx;
    private final Scheduler scheduler;
    private final Metrics metrics;
    private final AtomicReference<Deployment> current = new AtomicReference<>();
    private final AtomicInteger streams = new AtomicInteger();
    private final Object deployLock = new Object();
    private final double warmUpSeconds;
    /** Replaced versions that may still be serving requests (closed ones are dropped at the next deploy). */
    final List<Deployment> retired = new java.util.concurrent.CopyOnWriteArrayList<>();
    private HttpServer http;

    private ArborServer(ServeOptions opts, Catalog catalog, Deployment first) {
        this.opts = opts;
        this.catalog = catalog;
        this.scheduler = new Scheduler(opts.maxBatch(), opts.maxQueue());
        this.metrics = new Metrics(scheduler);
        // Vert.x's own metrics stay off: arbor_* covers requests, latency and the engine, and
        // vertx-micrometer re-registers its per-method active-request gauge on every request
        // ("Gauge already registered" warnings).
        this.vertx = Vertx.builder().with(new VertxOptions()).build();
        current.set(first);
        this.warmUpSeconds = first.warmUpSeconds;
        metrics.deployed(first.label, () -> 1);
    }

    /** Loads {@code ref} from the catalog (fully, with the JIT warm-up of {@link ServeOptions#warmUp}), then listens. */
    public static ArborServer start(Catalog catalog, String ref, ServeOptions opts) {
        Deployment d = Deployment.load(catalog.open(ref), opts.threads(), opts.warmUp());
        ArborServer s = new ArborServer(opts, catalog, d);
        try {
            s.listen();
        } catch (RuntimeException e) {
            s.close();
            throw e;
        }
        return s;
    }

    /** The bound port. */
    public int port() { return http.actualPort(); }

    /** The deployed version's label, e.g. "tiny@3". */
    public String deployedVersion() { return current.get().label; }

    /** Seconds the first version spent warming the JIT up before the server listened (see {@link ServeOptions#warmUp}). */
    public double warmUpSeconds() { return warmUpSeconds; }

    private void listen() {
        Router r = Router.router(vertx);
        r.route().handler(BodyHandler.create(false).setBodyLimit(opts.maxBodyBytes()));
        r.get("/health").handler(this::health);
        r.get("/metrics").handler(this::metricsEndpoint);
        r.route("/v1/*").handler(ctx -> auth(ctx, opts.apiKey(), "invalid_api_key", "API key"));
        r.get("/v1/models").handler(this::models);
        r.post("/v1/chat/completions").handler(ctx -> generate(ctx, true));
        r.post("/v1/completions").handler(ctx -> generate(ctx, false));
        r.route("/admin/*").handler(ctx -> auth(ctx, opts.adminToken(), "invalid_admin_token", "admin token"));
        r.get("/admin/versions").handler(this::versions);
        r.post("/admin/deploy").handler(ctx -> admin(ctx, b -> deploy(requireString(b, "ref"))));
        r.post("/admin/rollback").handler(ctx -> admin(ctx, b -> deploy(catalog.rollback(requireString(b, "tag")))));
        r.route().failureHandler(this::failure);
        r.errorHandler(404, ctx -> error(ctx, new ApiException(404, "invalid_request_error", null, "not_found",
                "There is no " + ctx.request().method() + " " + ctx.request().path() + " endpoint.")));
        r.errorHandler(405, ctx -> error(ctx, new ApiException(405, "invalid_request_error", null, "method_not_allowed",
                ctx.request().method() + " is not allowed on " + ctx.request().path() + ".")));
        HttpServerOptions ho = new HttpServerOptions().setHost(opts.host()).setPort(opts.port())
                .setIdleTimeout((int) opts.idleTimeout().toSeconds()).setIdleTimeoutUnit(TimeUnit.SECONDS)
                .setMaxInitialLineLength(8192).setMaxHeaderSize(16384);
        try {
            http = vertx.createHttpServer(ho).requestHandler(r).listen().await();
        } catch (Exception e) {
            throw new ArborException("Cannot listen on " + opts.host() + ":" + opts.port() + ": " + e.getMessage() + ".", e);
        }
    }

    // ------------------------------------------------------------------ endpoints

    private void health(RoutingContext ctx) {
        ObjectNode o = JSON.createObjectNode().put("status", "ok").put("version", current.get().label)
                .put("running", scheduler.running()).put("waiting", scheduler.waiting());
        json(ctx, 200, o);
    }

    private void metricsEndpoint(RoutingContext ctx) {
        ctx.response().putHeader("Content-Type", "text/plain; version=0.0.4; charset=utf-8").end(metrics.scrape());
    }

    private void models(RoutingContext ctx) {
        Deployment d = current.get();
        ObjectNode o = JSON.createObjectNode().put("object", "list");
        ArrayNode data = o.putArray("data");
        List<String> ids = new ArrayList<>(List.of(d.modelName));
        if (!ids.contains(d.label)) ids.add(d.label);
        if (!ids.contains(d.ref)) ids.add(d.ref);
        for (String id : ids) {
            ObjectNode m = data.addObject().put("id", id).put("object", "model").put("created", d.loadedAt)
                    .put("owned_by", "arbor").put("version", d.label);
            if (id.equals(d.modelName)) {
                ArrayNode tags = m.putArray("tags");
                for (Map<String, Object> t : catalog.tags()) tags.add(String.valueOf(t.get("tag")));
                ArrayNode vs = m.putArray("versions");
                for (Map<String, Object> v : catalog.versions()) vs.add(String.valueOf(v.get("version")));
            }
        }
        json(ctx, 200, o);
    }

    private void versions(RoutingContext ctx) {
        vertx.<ObjectNode>executeBlocking(() -> {
            Deployment d = current.get();
            ObjectNode o = JSON.createObjectNode().put("model", d.modelName);
            o.putObject("deployed").put("version", d.label).put("ref", d.ref).put("since", d.loadedAt);
            o.set("versions", JSON.valueToTree(catalog.versions()));
            o.set("tags", JSON.valueToTree(catalog.tags()));
            return o;
        }, false).onComplete(ar -> {
            if (ar.succeeded()) json(ctx, 200, ar.result());
            else error(ctx, ar.cause());
        });
    }

    interface AdminAction { ObjectNode run(JsonNode body); }

    private void admin(RoutingContext ctx, AdminAction action) {
        JsonNode body;
        try {
            body = body(ctx);
        } catch (ApiException e) {
            error(ctx, e);
            return;
        }
        vertx.<ObjectNode>executeBlocking(() -> action.run(body), false).onComplete(ar -> {
            if (ar.succeeded()) json(ctx, 200, ar.result());
            else error(ctx, ar.cause());
        });
    }

    /** Loads ref fully (blocking), then switches; the old version closes when its last request ends. */
    ObjectNode deploy(String ref) {
        synchronized (deployLock) {
            long t0 = System.nanoTime();
            // no JIT warm-up: the server's first load compiled the kernels, and a switch should be quick
            Deployment next = Deployment.load(catalog.open(ref), opts.threads(), Duration.ZERO);
            Deployment old = current.getAndSet(next);
            metrics.deployed(next.label, () -> 1);
            int inFlight = old.references();
            retired.removeIf(Deployment::isClosed);
            retired.add(old);
            old.retire();
            return JSON.createObjectNode().put("deployed", next.label).put("ref", ref).put("previous", old.label)
                    .put("previous_in_flight", inFlight).put("load_seconds", (System.nanoTime() - t0) / 1e9);
        }
    }

    /** The current deployment, with a reference held. */
    private Deployment acquire() {
        while (true) {
            Deployment d = current.get();
            if (d.acquire()) return d;
        }
    }

    private void generate(RoutingContext ctx, boolean chat) {
        long t0 = System.nanoTime();
        String endpoint = chat ? "chat_completions" : "completions";
        Requests.Parsed parsed;
        try {
            parsed = Requests.parse(body(ctx), chat, opts);
        } catch (ApiException e) {
            error(ctx, e);
            metrics.request(endpoint, e.status, System.nanoTime() - t0);
            return;
        }
        Deployment d = acquire();
        if (!parsed.model().equals(d.modelName) && !parsed.model().equals(d.label) && !parsed.model().equals(d.ref)) {
            d.release();
            ApiException e = new ApiException(404, "invalid_request_error", "model", "model_not_found",
                    "The model '" + parsed.model() + "' does not exist; this server serves '" + d.modelName + "' (" + d.label + ").");
            error(ctx, e);
            metrics.request(endpoint, 404, System.nanoTime() - t0);
            return;
        }
        if (parsed.stream() && streams.incrementAndGet() > opts.maxStreams()) {
            streams.decrementAndGet();
            d.release();
            tooMany(ctx, "Too many concurrent streams (" + opts.maxStreams() + "); retry shortly.");
            metrics.request(endpoint, 429, System.nanoTime() - t0);
            return;
        }
        Context context = vertx.getOrCreateContext();
        vertx.<Requests.Prepared>executeBlocking(() -> Requests.prepare(parsed, d, opts), false).onComplete(ar -> {
            if (ar.failed()) {
                if (parsed.stream()) streams.decrementAndGet();
                d.release();
                int status = error(ctx, ar.cause());
                metrics.request(endpoint, status, System.nanoTime() - t0);
                return;
            }
            Requests.Prepared p = ar.result();
            Exchange ex = new Exchange(ctx, context, d, p, endpoint, t0);
            Job job = new Job(d, p.prompt(), p.params(), p.parsed().topLogprobs(), opts.requestTimeout().toNanos(), ex);
            ex.job = job;
            if (ctx.response().closed()) {
                if (parsed.stream()) streams.decrementAndGet();
                d.release();
                return;
            }
            if (!scheduler.submit(job)) {
                if (parsed.stream()) streams.decrementAndGet();
                d.release();
                tooMany(ctx, "The server is busy (" + opts.maxBatch() + " running, " + opts.maxQueue() + " waiting); retry shortly.");
                metrics.request(endpoint, 429, System.nanoTime() - t0);
                return;
            }
            ex.started();
        });
    }

    /** One request's response: JSON at the end, or server-sent events as tokens come. */
    private final class Exchange implements Job.Listener {
        final RoutingContext ctx;
        final HttpServerResponse res;
        final Context context;
        final Deployment d;
        final Requests.Prepared p;
        final boolean stream;
        final String endpoint;
        final long t0;
        final String id;
        final long created = System.currentTimeMillis() / 1000;
        final List<Job.TokenLogprob> logprobs = new ArrayList<>();
        Job job;
        boolean finished;   // event-loop side

        Exchange(RoutingContext ctx, Context context, Deployment d, Requests.Prepared p, String endpoint, long t0) {
            this.ctx = ctx;
            this.res = ctx.response();
            this.context = context;
            this.d = d;
            this.p = p;
            this.stream = p.parsed().stream();
            this.endpoint = endpoint;
            this.t0 = t0;
            this.id = (p.parsed().chat() ? "chatcmpl-" : "cmpl-") + HexFormat.of().formatHex(randomBytes());
        }

        /** On the event loop, right after the job was queued. */
        void started() {
            res.putHeader(VERSION_HEADER, d.label);
            res.closeHandler(v -> {
                job.cancel();
                if (!finished) {
                    finished = true;
                    if (stream) streams.decrementAndGet();
                    metrics.request(endpoint, 499, System.nanoTime() - t0);
                }
            });
            if (stream) {
                res.setChunked(true).putHeader("Content-Type", "text/event-stream; charset=utf-8")
                        .putHeader("Cache-Control", "no-cache").putHeader("X-Accel-Buffering", "no");
                if (p.parsed().chat()) {
                    ObjectNode c = chunk();
                    ObjectNode ch = c.withArray("choices").addObject().put("index", 0);
                    ch.putObject("delta").put("role", "assistant").put("content", "");
                    ch.putNull("logprobs");
                    ch.putNull("finish_reason");
                    sse(c);
                } else {
                    res.write("");   // sends the headers
                }
            }
        }

        @Override public void onStart() {
            metrics.firstToken(System.nanoTime() - t0);
        }

        @Override public void onText(String piece, List<Job.TokenLogprob> lps) {
            if (!stream) {
                logprobs.addAll(lps);
                return;
            }
            ObjectNode c = chunk();
            ObjectNode ch = c.withArray("choices").addObject().put("index", 0);
            if (p.parsed().chat()) {
                ch.putObject("delta").put("content", piece);
                if (p.parsed().topLogprobs() >= 0) ch.set("logprobs", chatLogprobs(lps));
                else ch.putNull("logprobs");
            } else {
                ch.put("text", piece);
                if (p.parsed().topLogprobs() >= 0) ch.set("logprobs", completionLogprobs(lps));
                else ch.putNull("logprobs");
            }
            ch.putNull("finish_reason");
            String s = "data: " + write(c) + "\n\n";
            context.runOnContext(v -> {
                if (!finished) res.write(s);
            });
        }

        @Override public void onDone(Job j) {
            String reason = j.finish == Job.Finish.LENGTH ? "length" : "stop";
            int completion = j.generated();
            metrics.tokens(p.prompt().length, completion);
            ObjectNode usage = JSON.createObjectNode().put("prompt_tokens", p.prompt().length)
                    .put("completion_tokens", completion).put("total_tokens", p.prompt().length + completion);
            if (stream) {
                StringBuilder sb = new StringBuilder();
                ObjectNode c = chunk();
                ObjectNode ch = c.withArray("choices").addObject().put("index", 0);
                if (p.parsed().chat()) ch.putObject("delta");
                else ch.put("text", "");
                ch.putNull("logprobs");
                ch.put("finish_reason", reason);
                if (p.parsed().includeUsage()) c.putNull("usage");
                sb.append("data: ").append(write(c)).append("\n\n");
                if (p.parsed().includeUsage()) {
                    ObjectNode u = chunk();
                    u.putArray("choices");
                    u.set("usage", usage);
                    sb.append("data: ").append(write(u)).append("\n\n");
                }
                sb.append("data: [DONE]\n\n");
                String s = sb.toString();
                context.runOnContext(v -> {
                    if (finished) return;
                    finished = true;
                    streams.decrementAndGet();
                    res.end(s);
                    metrics.request(endpoint, 200, System.nanoTime() - t0);
                });
            } else {
                ObjectNode o = JSON.createObjectNode().put("id", id)
                        .put("object", p.parsed().chat() ? "chat.completion" : "text_completion")
                        .put("created", created).put("model", p.parsed().model()).put("system_fingerprint", d.label);
                ObjectNode ch = o.putArray("choices").addObject().put("index", 0);
                if (p.parsed().chat()) {
                    ch.putObject("message").put("role", "assistant").put("content", j.text()).putNull("refusal");
                    if (p.parsed().topLogprobs() >= 0) ch.set("logprobs", chatLogprobs(logprobs));
                    else ch.putNull("logprobs");
                } else {
                    ch.put("text", j.text());
                    if (p.parsed().topLogprobs() >= 0) ch.set("logprobs", completionLogprobs(logprobs));
                    else ch.putNull("logprobs");
                }
                ch.put("finish_reason", reason);
                o.set("usage", usage);
                String s = write(o);
                context.runOnContext(v -> {
                    if (finished) return;
                    finished = true;
                    res.putHeader("Content-Type", "application/json").end(s);
                    metrics.request(endpoint, 200, System.nanoTime() - t0);
                });
            }
        }

        @Override public void onError(RuntimeException e) {
            context.runOnContext(v -> {
                if (finished) return;
                finished = true;
                ApiException a = toApi(e);
                if (stream) {
                    streams.decrementAndGet();
                    res.end("data: " + write(errorBody(a)) + "\n\n");
                } else {
                    error(ctx, a);
                }
                metrics.request(endpoint, a.status, System.nanoTime() - t0);
            });
        }

        private ObjectNode chunk() {
            return JSON.createObjectNode().put("id", id)
                    .put("object", p.parsed().chat() ? "chat.completion.chunk" : "text_completion")
                    .put("created", created).put("model", p.parsed().model()).put("system_fingerprint", d.label);
        }

        private void sse(ObjectNode o) { res.write("data: " + write(o) + "\n\n"); }
    }

    private static ObjectNode chatLogprobs(List<Job.TokenLogprob> lps) {
        ObjectNode o = JSON.createObjectNode();
        ArrayNode content = o.putArray("content");
        for (Job.TokenLogprob t : lps) {
            ObjectNode x = content.addObject().put("token", t.token()).put("logprob", t.logprob());
            bytes(x, t.token());
            ArrayNode top = x.putArray("top_logprobs");
            for (int i = 0; i < t.topIds().length; i++) {
                ObjectNode y = top.addObject().put("token", t.topTokens()[i]).put("logprob", t.topLogprobs()[i]);
                bytes(y, t.topTokens()[i]);
            }
        }
        o.putNull("refusal");
        return o;
    }

    private static void bytes(ObjectNode x, String s) {
        ArrayNode b = x.putArray("bytes");
        for (byte c : s.getBytes(StandardCharsets.UTF_8)) b.add(c & 0xff);
    }

    private static ObjectNode completionLogprobs(List<Job.TokenLogprob> lps) {
        ObjectNode o = JSON.createObjectNode();
        ArrayNode tokens = o.putArray("tokens"), lp = o.putArray("token_logprobs"), top = o.putArray("top_logprobs");
        for (Job.TokenLogprob t : lps) {
            tokens.add(t.token());
            lp.add(t.logprob());
            ObjectNode m = top.addObject();
            for (int i = 0; i < t.topIds().length; i++) m.put(t.topTokens()[i], t.topLogprobs()[i]);
        }
        o.putArray("text_offset");
        return o;
    }

    // ------------------------------------------------------------------ plumbing

    private void auth(RoutingContext ctx, String secret, String code, String what) {
        if (secret == null) {
            ctx.next();
            return;
        }
        String h = ctx.request().getHeader("Authorization");
        String given = h != null && h.regionMatches(true, 0, "Bearer ", 0, 7) ? h.substring(7).trim() : null;
        if (given != null && MessageDigest.isEqual(given.getBytes(StandardCharsets.UTF_8), secret.getBytes(StandardCharsets.UTF_8))) {
            ctx.next();
            return;
        }
        ctx.response().putHeader("WWW-Authenticate", "Bearer");
        error(ctx, new ApiException(401, "invalid_request_error", null, code,
                given == null ? "This endpoint needs an " + what + " (Authorization: Bearer ...)." : "The " + what + " is not valid."));
    }

    /** The body as JSON: strict UTF-8, then Jackson. */
    private static JsonNode body(RoutingContext ctx) {
        Buffer b = ctx.body().buffer();
        if (b == null || b.length() == 0) throw ApiException.invalid(null, "The request has no body; send a JSON object.");
        String text;
        try {
            text = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT).decode(ByteBuffer.wrap(b.getBytes())).toString();
        } catch (CharacterCodingException e) {
            throw ApiException.invalid(null, "invalid_encoding", "The request body is not valid UTF-8.");
        }
        try {
            return JSON.readTree(text);
        } catch (JsonProcessingException e) {
            throw ApiException.invalid(null, "invalid_json", "The request body is not valid JSON: " + e.getOriginalMessage() + ".");
        }
    }

    private static String requireString(JsonNode b, String f) {
        if (b == null || !b.isObject()) throw ApiException.invalid(null, "The request body must be a JSON object.");
        JsonNode x = b.get(f);
        if (x == null || x.isNull()) throw ApiException.invalid(f, "'" + f + "' is required.");
        if (!x.isTextual() || x.asText().isBlank()) throw ApiException.invalid(f, "'" + f + "' must be a non-empty string.");
        return x.asText();
    }

    private void failure(RoutingContext ctx) {
        Throwable t = ctx.failure();
        if (t == null && ctx.statusCode() == 413) {
            error(ctx, new ApiException(413, "invalid_request_error", null, "request_too_large",
                    "The request body is larger than " + opts.maxBodyBytes() + " bytes."));
        } else if (t == null) {
            int s = ctx.statusCode() > 0 ? ctx.statusCode() : 500;
            error(ctx, new ApiException(s, s >= 500 ? "server_error" : "invalid_request_error", null, null, "The request failed (HTTP " + s + ")."));
        } else {
            error(ctx, t);
        }
    }

    static ApiException toApi(Throwable t) {
        if (t instanceof ApiException a) return a;
        if (t instanceof Scheduler.TimedOut) return new ApiException(504, "server_error", null, "timeout", t.getMessage());
        if (t instanceof ArborException) return new ApiException(400, "invalid_request_error", null, null, t.getMessage());
        return new ApiException(500, "server_error", null, null, "Internal error: " + t);
    }

    private int error(RoutingContext ctx, Throwable t) {
        ApiException a = toApi(t);
        HttpServerResponse res = ctx.response();
        if (res.ended() || res.closed()) return a.status;
        if (res.headWritten()) {
            res.end("data: " + write(errorBody(a)) + "\n\n");
            return a.status;
        }
        res.setStatusCode(a.status).putHeader("Content-Type", "application/json").end(write(errorBody(a)));
        return a.status;
    }

    static ObjectNode errorBody(ApiException a) {
        ObjectNode o = JSON.createObjectNode();
        ObjectNode e = o.putObject("error").put("message", a.getMessage()).put("type", a.type);
        if (a.param == null) e.putNull("param"); else e.put("param", a.param);
        if (a.code == null) e.putNull("code"); else e.put("code", a.code);
        return o;
    }

    private void tooMany(RoutingContext ctx, String message) {
        ctx.response().putHeader("Retry-After", "1");
        error(ctx, new ApiException(429, "rate_limit_error", null, "rate_limit_exceeded", message));
    }

    private static void json(RoutingContext ctx, int status, JsonNode o) {
        ctx.response().setStatusCode(status).putHeader("Content-Type", "application/json").end(write(o));
    }

    static String write(JsonNode o) {
        try {
            return JSON.writeValueAsString(o);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    private static byte[] randomBytes() {
        byte[] b = new byte[12];
        ThreadLocalRandom.current().nextBytes(b);
        return b;
    }

    /** Stops listening, fails what is still queued, closes every loaded version. */
    @Override public void close() {
        try {
            if (http != null) http.close().await();
        } catch (Exception ignored) {
            // closing anyway
        }
        scheduler.close();
        try {
            vertx.close().await();
        } catch (Exception ignored) {
            // closing anyway
        }
        Deployment d = current.get();
        if (d != null) d.retire();
    }

    /** The fields a deployment exposes to tests and the CLI. */
    Map<String, Object> describe() {
        Deployment d = current.get();
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("version", d.label);
        m.put("ref", d.ref);
        return m;
    }
}
