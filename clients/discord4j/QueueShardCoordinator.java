// A Discord4J ShardCoordinator whose IDENTIFYs wait on gateway-queue.
//
//   DiscordClient.create(token).gateway()
//       .setSharding(ShardingStrategy.fixed(shardCount))
//       .setShardCoordinator(new QueueShardCoordinator("http://127.0.0.1:5000/", System.getenv("QUEUE_AUTH_TOKEN")))
//       .login().block();
//
// Rules: an IDENTIFY is sent only after a 2xx; a 503 is retried after its Retry-After; a 429 means
// the daily session budget is used up: it is logged and the shard waits Retry-After (the reset)
// before asking again, it never identifies and never loops. When the shard disconnects, Discord4J
// cancels the payload stream, which cancels the HTTP request (Java 16+ aborts the exchange): the
// queue drops the shard and the next one of its bucket takes the slot. Connection counting stays
// with Discord4J's LocalShardCoordinator. Written against Discord4J 3.2's documented API.
import discord4j.core.shard.LocalShardCoordinator;
import discord4j.core.shard.ShardCoordinator;
import discord4j.gateway.SessionInfo;
import discord4j.gateway.ShardInfo;
import discord4j.gateway.limiter.PayloadTransformer;
import io.netty.util.ReferenceCountUtil;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;
import reactor.util.Logger;
import reactor.util.Loggers;
import reactor.util.annotation.Nullable;

public final class QueueShardCoordinator implements ShardCoordinator {
    private static final Logger LOG = Loggers.getLogger(QueueShardCoordinator.class);
    private static final Duration RETRY_ERROR = Duration.ofSeconds(5);

    private final ShardCoordinator local = LocalShardCoordinator.create();
    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();
    private final String queue; // base URL without a query, e.g. http://127.0.0.1:5000/
    @Nullable private final String token;

    public QueueShardCoordinator(String queue, @Nullable String token) {
        this.queue = queue;
        this.token = token;
    }

    @Override
    public PayloadTransformer getIdentifyLimiter(ShardInfo shardInfo, int maxConcurrency) {
        // The queue knows max_concurrency; the shard index is all it needs.
        return sequence -> Flux.from(sequence).concatMap(payload -> waitForIdentify(shardInfo.getIndex())
            .doOnCancel(() -> ReferenceCountUtil.safeRelease(payload))
            .thenReturn(payload));
    }

    /** Completes once the queue allows `shard` to identify; cancelling it aborts the request. */
    private Mono<Void> waitForIdentify(int shard) {
        HttpRequest.Builder request = HttpRequest.newBuilder(URI.create(queue + "?shard=" + shard)).GET();
        if (token != null) request.header("Authorization", "Bearer " + token);
        return Mono.fromFuture(() -> http.sendAsync(request.build(), HttpResponse.BodyHandlers.ofString()))
            .flatMap(response -> {
                int status = response.statusCode();
                if (status >= 200 && status < 300) return Mono.<Void>empty();
                if (status == 503) return retryAfter(response, Duration.ofSeconds(1), shard);
                Duration wait = retryAfter(response, RETRY_ERROR);
                LOG.error("gateway-queue: shard {}: {} {}; not identifying, asking again in {}", shard, status,
                    status == 429 ? "daily session budget exhausted" : response.body().strip(), wait);
                return Mono.delay(wait).then(Mono.defer(() -> waitForIdentify(shard)));
            })
            .onErrorResume(error -> !(error instanceof java.util.concurrent.CancellationException), error -> {
                LOG.warn("gateway-queue: shard {}: {}; asking again in {}", shard, error.toString(), RETRY_ERROR);
                return Mono.delay(RETRY_ERROR).then(Mono.defer(() -> waitForIdentify(shard)));
            });
    }

    private Mono<Void> retryAfter(HttpResponse<?> response, Duration fallback, int shard) {
        return Mono.delay(retryAfter(response, fallback)).then(Mono.defer(() -> waitForIdentify(shard)));
    }

    private static Duration retryAfter(HttpResponse<?> response, Duration fallback) {
        return response.headers().firstValue("Retry-After").map(value -> {
            try {
                return Duration.ofSeconds(Long.parseLong(value.trim()));
            } catch (NumberFormatException notSeconds) {
                return fallback;
            }
        }).orElse(fallback);
    }

    @Override
    public Mono<Void> publishConnected(ShardInfo shardInfo) {
        return local.publishConnected(shardInfo);
    }

    @Override
    public Mono<Void> publishDisconnected(ShardInfo shardInfo, @Nullable SessionInfo sessionInfo) {
        return local.publishDisconnected(shardInfo, sessionInfo);
    }

    @Override
    public Mono<Integer> getConnectedCount() {
        return local.getConnectedCount();
    }
}
