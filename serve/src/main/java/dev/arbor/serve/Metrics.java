package dev.arbor.serve;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.DistributionSummary;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.Timer;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;

import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;

/** The server's Prometheus metrics (names prefixed arbor_). */
final class Metrics {
    final PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    private final Counter generated;
    private final Counter promptTokens;
    private final Timer ttft;
    private final Counter deploys;
    private Meter.Id versionGauge;

    Metrics(Scheduler scheduler) {
        generated = Counter.builder("arbor_generated_tokens").description("Tokens generated").register(registry);
        promptTokens = Counter.builder("arbor_prompt_tokens").description("Prompt tokens processed").register(registry);
        ttft = Timer.builder("arbor_time_to_first_token").description("Time from request arrival to its first generated token")
                .publishPercentileHistogram().minimumExpectedValue(Duration.ofMillis(1)).maximumExpectedValue(Duration.ofMinutes(2))
                .register(registry);
        deploys = Counter.builder("arbor_deploys").description("Successful deploys (including rollbacks)").register(registry);
        Gauge.builder("arbor_running_sequences", scheduler, Scheduler::running).description("Sequences in the running batch").register(registry);
        Gauge.builder("arbor_waiting_sequences", scheduler, Scheduler::waiting).description("Requests waiting for a batch slot").register(registry);
        Gauge.builder("arbor_kv_cache_bytes", scheduler, Scheduler::kvCacheBytes).description("KV-cache memory held by running sequences").baseUnit("bytes").register(registry);
        Gauge.builder("arbor_decode_steps", scheduler, Scheduler::steps).description("Batched forward steps run").register(registry);
    }

    void request(String endpoint, int status, long nanos) {
        Counter.builder("arbor_requests").description("HTTP requests by endpoint and status")
                .tag("endpoint", endpoint).tag("status", Integer.toString(status)).register(registry).increment();
        Timer.builder("arbor_request_duration").description("Request latency, arrival to last byte")
                .tag("endpoint", endpoint).publishPercentileHistogram()
                .minimumExpectedValue(Duration.ofMillis(1)).maximumExpectedValue(Duration.ofMinutes(5))
                .register(registry).record(nanos, TimeUnit.NANOSECONDS);
    }

    void firstToken(long nanos) { ttft.record(nanos, TimeUnit.NANOSECONDS); }

    void tokens(int prompt, int completion) {
        promptTokens.increment(prompt);
        generated.increment(completion);
    }

    /** arbor_deployed_version{version="tiny@3"} 1; the previous version's series goes away. */
    synchronized void deployed(String label, Supplier<Number> one) {
        if (versionGauge != null) registry.remove(versionGauge);
        versionGauge = Gauge.builder("arbor_deployed_version", one).description("The deployed version (value 1)")
                .tag("version", label).register(registry).getId();
        deploys.increment();
    }

    String scrape() { return registry.scrape(); }
}
