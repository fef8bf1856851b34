// A Discord4J ShardCoordinator whose IDENTIFYs wait on gateway-queue, and that tells the queue how
// each granted IDENTIFY went.
//
//   QueueShardCoordinator coordinator = new QueueShardCoordinator("http://127.0.0.1:5000/", System.getenv("QUEUE_AUTH_TOKEN"));
//   DiscordClient.create(token).gateway()
//       .setSharding(ShardingStrategy.fixed(shardCount))
//       .setShardCoordinator(coordinator)
//       .login(coordinator::gatewayClient) // the outcome reports; login() alone only waits
//       .block();
//
// For an active queue and its standbys, pass a list: List.of("http://a:5000/", "http://b:5000/").
//
// Rules: an IDENTIFY is sent only after a 2xx; a 503 or an unreachable queue moves on to the next
// URL of the list, and once every URL has been tried the shard waits (the longest Retry-After of
// the 503s) before the next round; a 429 (the daily session budget is used up, or the queue found
// the shard looping: granted QUEUE_SHARD_HOURLY_LIMIT times in the last hour) is logged with the
// body's error text and the shard waits Retry-After before asking that queue again (another queue
// of the list shares the journal and would say the same); it never identifies and never loops.
// When the shard disconnects, Discord4J cancels the payload stream, which cancels the HTTP request
// (Java 16+ aborts the exchange): the queue drops the shard and the next one of its bucket takes
// the slot. Connection counting stays with Discord4J's LocalShardCoordinator.
//
// Boots: Discord4J tells the coordinator nothing about a session but its ShardInfo, so a request
// carries `initial=true` until this coordinator has had that shard index granted once (a process
// start is a boot; use one coordinator per process), and omits it afterwards (a reconnect).
//
// Outcomes: the GatewayClient factory gatewayClient (or watch, around a client of your own)
// follows each shard's gateway client and, after each grant, reports the first of: the READY
// dispatch -> `ready`; an Invalid Session (op 9, read from the client's raw payloads while a grant
// waits for its outcome) -> `invalid_session`; the connection closed before READY -> `closed`,
// with `code=C` when Discord4J stops the shard (ClosingStateChange: a close code it does not retry,
// or a logout) and without a code when it retries (it keeps that close code to itself). One
// `POST <queue>/outcome?shard=N&result=R` per grant, to the URL that granted (the others of the
// list only if that one answers 502/503/504 or is unreachable), fire-and-forget: never waited for
// by an IDENTIFY, never retried, a failure logged once per shard and result. reportOutcome is
// public for a bot that tells the outcomes itself. Written against Discord4J 3.2's documented API.
import discord4j.core.shard.LocalShardCoordinator;
import discord4j.core.shard.ShardCoordinator;
import discord4j.discordjson.json.gateway.Opcode;
import discord4j.discordjson.json.gateway.Ready;
import discord4j.gateway.DefaultGatewayClient;
import discord4j.gateway.GatewayClient;
import discord4j.gateway.GatewayOptions;
import discord4j.gateway.SessionInfo;
import discord4j.gateway.ShardInfo;
import discord4j.gateway.limiter.PayloadTransformer;
import discord4j.gateway.payload.PayloadReader;
import discord4j.gateway.retry.ClosingStateChange;
import discord4j.gateway.retry.GatewayStateChange;
import io.netty.util.ReferenceCountUtil;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CancellationException;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;
import reactor.util.Logger;
import reactor.util.Loggers;
import reactor.util.annotation.Nullable;

public final class QueueShardCoordinator implements ShardCoordinator {
    private static final Logger LOG = Loggers.getLogger(QueueShardCoordinator.class);
    private static final Duration RETRY_ERROR = Duration.ofSeconds(5);
    // An outcome report gives up after this long: it is never worth holding a connection for.
    private static final Duration REPORT_TIMEOUT = Duration.ofSeconds(10);
    private static final Pattern ERROR_FIELD = Pattern.compile("\"error\"\\s*:\\s*\"((?:[^\"\\\\]|\\\\.)*)\"");

    /** What became of a granted IDENTIFY (POST /outcome's `result`). */
    public enum Outcome {
        READY("ready"), INVALID_SESSION("invalid_session"), CLOSED("closed");

        private final String query;

        Outcome(String query) {
            this.query = query;
        }
    }

    private final ShardCoordinator local = LocalShardCoordinator.create();
    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();
    private final List<String> queues; // base URLs without a query, e.g. http://127.0.0.1:5000/
    @Nullable private final String token;
    // The URL that granted last: waits start there, so a dead queue is not asked first.
    private final AtomicInteger preferred = new AtomicInteger();
    // Shard indexes granted at least once by this coordinator: their requests are not boots.
    private final Set<Integer> booted = ConcurrentHashMap.newKeySet();
    // Shard index -> index of the URL that granted its last request, until that grant's outcome is sent.
    private final Map<Integer, Integer> pending = new ConcurrentHashMap<>();
    // "shard:result" whose failed report was already logged.
    private final Set<String> warned = ConcurrentHashMap.newKeySet();

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
        int shard = shardInfo.getIndex();
        return sequence -> Flux.from(sequence).concatMap(payload -> waitForIdentify(shard)
            .doOnNext(granted -> {
                booted.add(shard);
                pending.put(shard, granted); // armed before the IDENTIFY is sent
            })
            .doOnCancel(() -> ReferenceCountUtil.safeRelease(payload))
            .thenReturn(payload));
    }

    /**
     * Emits the index of the queue that allowed `shard` to identify, once one did; cancelling it
     * aborts the request.
     */
    private Mono<Integer> waitForIdentify(int shard) {
        return ask(shard, preferred.get(), 0, null);
    }

    /**
     * Asks queue `index`; `tried`: 503s and unreachable queues since the last wait, `longest`: the
     * longest Retry-After among them (null: none).
     */
    private Mono<Integer> ask(int shard, int index, int tried, @Nullable Duration longest) {
        // A boot until this coordinator had the shard granted once.
        boolean initial = !booted.contains(shard);
        HttpRequest.Builder request = HttpRequest.newBuilder(URI.create(
            queues.get(index) + "?shard=" + shard + (initial ? "&initial=true" : ""))).GET();
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
                    return Mono.just(index);
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
                // 429 (the daily budget, or this shard looping: the journal is shared by every
                // queue of the list), 400, 401: logged and waited out, then the same queue is
                // asked again.
                HttpResponse<String> response = answer.get();
                Duration wait = retryAfter(response, RETRY_ERROR);
                LOG.error("gateway-queue: shard {}: {} {}; not identifying, asking again in {}", shard, status,
                    errorText(response.body()), wait);
                return Mono.delay(wait).then(Mono.defer(() -> ask(shard, index, 0, null)));
            });
    }

    /**
     * A GatewayClient factory for {@code GatewayBootstrap.login(coordinator::gatewayClient)}: a
     * DefaultGatewayClient whose outcomes this coordinator reports.
     */
    public GatewayClient gatewayClient(GatewayOptions options) {
        return watch(options, new DefaultGatewayClient(options));
    }

    /**
     * Follows `client` (the shard of `options`) and reports the outcome of each IDENTIFY this
     * coordinator grants it; returns `client`. For a login with a client factory of your own:
     * {@code login(options -> coordinator.watch(options, yourFactory.apply(options)))}.
     */
    public GatewayClient watch(GatewayOptions options, GatewayClient client) {
        int shard = options.getIdentifyOptions().getShardInfo().getIndex();
        PayloadReader reader = options.getPayloadReader();
        // An Invalid Session shows only in the raw payloads: they are decoded a second time only
        // while a grant of this shard waits for its outcome, the others are released at once.
        client.receiver(buffer -> {
                if (pending.containsKey(shard)) return reader.read(buffer);
                ReferenceCountUtil.safeRelease(buffer);
                return Mono.empty();
            })
            .filter(payload -> Opcode.INVALID_SESSION.equals(payload.getOp()))
            .subscribe(payload -> reportOutcome(shard, Outcome.INVALID_SESSION, null),
                error -> LOG.warn("gateway-queue: shard {}: no outcome reports: {}", shard, error.toString()));
        client.dispatch().subscribe(dispatch -> {
            if (dispatch instanceof Ready) {
                reportOutcome(shard, Outcome.READY, null);
            } else if (dispatch instanceof ClosingStateChange) {
                // Stopped: a close code Discord4J does not retry (4004, 4010-4014), or a logout.
                reportOutcome(shard, Outcome.CLOSED, ((ClosingStateChange) dispatch).getStatus().getCode());
            } else if (dispatch instanceof GatewayStateChange && closedWithoutCode(((GatewayStateChange) dispatch).getState())) {
                reportOutcome(shard, Outcome.CLOSED, null);
            }
        }, error -> LOG.warn("gateway-queue: shard {}: no outcome reports: {}", shard, error.toString()));
        return client;
    }

    /** The connection failed and Discord4J connects again (it keeps the close code to itself), or
     *  the bot closed it keeping the session. */
    private static boolean closedWithoutCode(GatewayStateChange.State state) {
        return state == GatewayStateChange.State.DISCONNECTED_RESUME
            || state == GatewayStateChange.State.RETRY_STARTED
            || state == GatewayStateChange.State.RETRY_RESUME_STARTED
            || state == GatewayStateChange.State.RETRY_FAILED;
    }

    /**
     * Reports what became of `shard`'s last granted IDENTIFY: `code` is the close code with
     * CLOSED (null: none known). Returns at once; does nothing when that grant's outcome was
     * already reported. The clients that gatewayClient and watch follow call it.
     */
    public void reportOutcome(int shard, Outcome outcome, @Nullable Integer code) {
        Integer granted = pending.remove(shard);
        if (granted != null) post(shard, outcome, outcome == Outcome.CLOSED ? code : null, granted, 0);
    }

    // POST <queue>/outcome to the queue `first` + `step` of the list; a 502/503/504 or no answer
    // moves on to the next one, each queue of the list being asked once at most.
    private void post(int shard, Outcome outcome, @Nullable Integer code, int first, int step) {
        String base = queues.get((first + step) % queues.size());
        String target = (base.endsWith("/") ? base : base + "/") + "outcome?shard=" + shard + "&result="
            + outcome.query + (code == null ? "" : "&code=" + code);
        HttpRequest.Builder request = HttpRequest.newBuilder(URI.create(target))
            .timeout(REPORT_TIMEOUT)
            .POST(HttpRequest.BodyPublishers.noBody());
        if (token != null) request.header("Authorization", "Bearer " + token);
        http.sendAsync(request.build(), HttpResponse.BodyHandlers.ofString()).whenComplete((response, error) -> {
            int status = response == null ? 0 : response.statusCode();
            if (status >= 200 && status < 300) return;
            if ((response == null || unavailable(status)) && step + 1 < queues.size()) {
                post(shard, outcome, code, first, step + 1);
                return;
            }
            if (warned.add(shard + ":" + outcome.query)) {
                LOG.warn("gateway-queue: shard {}: outcome {} not recorded by {}: {}", shard, outcome.query, base,
                    response == null ? String.valueOf(error) : status + " " + errorText(response.body()));
            }
        });
    }

    /** The `error` text of a queue's JSON answer, or the answer itself when it has none. */
    private static String errorText(String body) {
        Matcher field = ERROR_FIELD.matcher(body);
        if (!field.find()) return body.strip();
        return field.group(1).replaceAll("\\\\(.)", "$1");
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
