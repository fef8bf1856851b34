// A Discord4J ShardCoordinator whose IDENTIFYs wait on gateway-queue.
//
//   DiscordClient.create(token).gateway()
//       .setSharding(ShardingStrategy.fixed(shardCount))
//       .setShardCoordinator(new QueueShardCoordinator("http://127.0.0.1:5000/", System.getenv("QUEUE_AUTH_TOKEN")))
//       .login().block();
//
// For an active queue and its standbys, pass a list: List.of("http://a:5000/", "http://b:5000/").
//
// Rules: an IDENTIFY is sent only after a 2xx; a 503 or an unreachable queue moves on to the next
// URL of the list, and once every URL has been tried the shard waits (the longest Retry-After of
// the 503s) before the next round; a 429 means the daily session budget is used up (the budget is
// shared, so another queue would say the same): it is logged and the shard waits Retry-After (the
// reset) before asking that queue again, it never identifies and never loops. When the shard
// disconnects, Discord4J cancels the payload stream, which cancels the HTTP request (Java 16+
// aborts the exchange): the queue drops the shard and the next one of its bucket takes the slot.
// Connection counting stays with Discord4J's LocalShardCoordinator. Written against Discord4J
// 3.2's documented API.
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
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CancellationException;
import java.util.concurrent.atomic.AtomicInteger;
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
    private final List<String> queues; // base URLs without a query, e.g. http://127.0.0.1:5000/
    @Nullable private final String token;
    // The URL that granted last: waits start there, so a dead queue is not asked first.
    private final AtomicInteger preferred = new AtomicInteger();

    public QueueShardCoordinator(String queue, @Nullable String token) {
        this(List.of(queue), token);
    }

    /** Several queues (an active one and its standbys), asked in turn. */
    public QueueShardCoordinator(List<String> queues, @Nullable String token) {
        if (queues.isEmpty()) throw new IllegalArgumentException("gateway-queue: no queue URL");
        this.queues = List.copyOf(queues);
        this.token = token;
    }

    @Override
    public PayloadTransformer getIdentifyLimiter(ShardInfo shardInfo, int maxConcurrency) {
        // The queue knows max_concurrency; the shard index is all it needs.
        return sequence -> Flux.from(sequence).concatMap(payload -> waitForIdentify(shardInfo.getIndex())
            .doOnCancel(() -> ReferenceCountUtil.safeRelease(payload))
            .thenReturn(payload));
    }

    /** Completes once a queue allows `shard` to identify; cancelling it aborts the request. */
    private Mono<Void> waitForIdentify(int shard) {
        return ask(shard, preferred.get(), 0, null);
    }

    /**
     * Asks queue `index`; `tried`: 503s and unreachable queues since the last wait, `longest`: the
     * longest Retry-After among them (null: none).
     */
    private Mono<Void> ask(int shard, int index, int tried, @Nullable Duration longest) {
        HttpRequest.Builder request = HttpRequest.newBuilder(URI.create(queues.get(index) + "?shard=" + shard)).GET();
        if (token != null) request.header("Authorization", "Bearer " + token);
        return Mono.fromFuture(() -> http.sendAsync(request.build(), HttpResponse.BodyHandlers.ofString()))
            .map(Optional::of)
            .onErrorResume(error -> !(error instanceof CancellationException), error -> {
                LOG.warn("gateway-queue: shard {}: {}: {}", shard, queues.get(index), error.toString());
                return Mono.just(Optional.<HttpResponse<String>>empty());
            })
            .flatMap(answer -> {
                int status = answer.map(HttpResponse::statusCode).orElse(0);
                if (status >= 200 && status < 300) {
                    preferred.set(index);
                    return Mono.<Void>empty();
                }
                if (answer.isEmpty() || unavailable(status)) {
                    // Unreachable, standby, full or stopping: another queue of the list may be the
                    // active one. Once all were tried, wait before the next round.
                    Duration wait = answer.map(response -> retryAfter(response, Duration.ofSeconds(1))).orElse(null);
                    Duration next = longest == null || (wait != null && wait.compareTo(longest) > 0) ? wait : longest;
                    int following = (index + 1) % queues.size();
                    if (tried + 1 < queues.size()) return ask(shard, following, tried + 1, next);
                    return Mono.delay(next == null ? RETRY_ERROR : next).then(Mono.defer(() -> ask(shard, following, 0, null)));
                }
                // 429 (the daily budget, shared by every queue of the list), 400, 401: logged and
                // waited out, then the same queue is asked again.
                HttpResponse<String> response = answer.get();
                Duration wait = retryAfter(response, RETRY_ERROR);
                LOG.error("gateway-queue: shard {}: {} {}; not identifying, asking again in {}", shard, status,
                    status == 429 ? "daily session budget exhausted" : response.body().strip(), wait);
                return Mono.delay(wait).then(Mono.defer(() -> ask(shard, index, 0, null)));
            });
    }

    /** What a queue answers while it cannot serve (503), and what a load balancer in front of
     *  the queues answers when the one it reached went away (502) or timed out (504). */
    private static boolean unavailable(int status) {
        return status == 502 || status == 503 || status == 504;
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
