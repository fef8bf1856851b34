// A JDA SessionController that starts each shard's session when gateway-queue allows it.
//
//   DefaultShardManagerBuilder.createDefault(token)
//       .setSessionController(new QueueSessionController(
//           "http://127.0.0.1:5000/", System.getenv("QUEUE_AUTH_TOKEN")))
//       .build();
//
// For an active queue and its standbys, pass a list: List.of("http://a:5000/", "http://b:5000/").
//
// Rules: a session starts only after a 2xx; a 503 or an unreachable queue moves on to the next URL
// of the list, and once every URL has been tried the node waits (the longest Retry-After of the
// 503s) before the next round; a 429 means the daily session budget is used up (the budget is
// shared, so another queue would say the same): it is logged and the node waits Retry-After (the
// reset) before asking that queue again, it never connects and never loops. removeSession (shard
// shut down) cancels the node's wait, which aborts its HTTP request (Java 16+): the queue drops
// the shard and the next one of its bucket takes the slot. Written against JDA 5's documented
// SessionController API.
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import net.dv8tion.jda.api.utils.SessionControllerAdapter;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

public final class QueueSessionController extends SessionControllerAdapter {
    private static final Logger LOG = LoggerFactory.getLogger(QueueSessionController.class);
    private static final Duration RETRY_ERROR = Duration.ofSeconds(5);

    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();
    private final List<String> queues; // base URLs without a query, e.g. http://127.0.0.1:5000/
    private final String token; // null: no Authorization header
    private final Map<SessionConnectNode, Future<?>> waiting = new ConcurrentHashMap<>();
    // The URL that granted last: waits start there, so a dead queue is not asked first.
    private final AtomicInteger preferred = new AtomicInteger();

    public QueueSessionController(String queue, String token) {
        this(List.of(queue), token);
    }

    /** Several queues (an active one and its standbys), asked in turn. */
    public QueueSessionController(List<String> queues, String token) {
        if (queues.isEmpty()) throw new IllegalArgumentException("gateway-queue: no queue URL");
        this.queues = List.copyOf(queues);
        this.token = token;
    }

    @Override
    public void appendSession(SessionConnectNode node) {
        // One waiting thread per node: a node's wait must not hold up the other buckets.
        CompletableFuture<Void> task = new CompletableFuture<>();
        waiting.put(node, task);
        Thread thread = new Thread(() -> {
            try {
                waitForIdentify(node.getShardInfo().getShardId(), task);
                waiting.remove(node);
                node.run(true); // connects now; the IDENTIFY follows the gateway's HELLO
            } catch (InterruptedException | java.util.concurrent.CancellationException removed) {
                // removeSession: the shard is gone, its request was aborted
            } finally {
                waiting.remove(node);
            }
        }, "gateway-queue-" + node.getShardInfo().getShardId());
        thread.setDaemon(true);
        thread.start();
    }

    @Override
    public void removeSession(SessionConnectNode node) {
        Future<?> task = waiting.remove(node);
        if (task != null) task.cancel(true);
    }

    /** Returns once a queue allows `shard` to identify; throws when `owner` is cancelled. */
    private void waitForIdentify(int shard, CompletableFuture<Void> owner) throws InterruptedException {
        int index = preferred.get();
        // 503s and unreachable queues since the last wait, and the longest Retry-After among them.
        int tried = 0;
        Duration longest = null;
        while (true) {
            HttpRequest.Builder request = HttpRequest.newBuilder(URI.create(queues.get(index) + "?shard=" + shard)).GET();
            if (token != null) request.header("Authorization", "Bearer " + token);
            CompletableFuture<HttpResponse<String>> call =
                http.sendAsync(request.build(), HttpResponse.BodyHandlers.ofString());
            owner.whenComplete((ignored, error) -> call.cancel(true)); // cancelling aborts the exchange
            if (owner.isCancelled()) throw new InterruptedException("removed");
            HttpResponse<String> response = null;
            try {
                response = call.get();
            } catch (ExecutionException error) {
                if (owner.isCancelled()) throw new InterruptedException("removed"); // the abort's own failure
                LOG.warn("gateway-queue: shard {}: {}: {}", shard, queues.get(index), error.getCause());
            }
            int status = response == null ? 0 : response.statusCode();
            if (status >= 200 && status < 300) {
                preferred.set(index);
                return;
            }
            if (response == null || unavailable(status)) {
                // Unreachable, standby, full or stopping: another queue of the list may be the
                // active one. Once all were tried, wait before the next round.
                if (response != null) {
                    Duration wait = retryAfter(response, Duration.ofSeconds(1));
                    longest = longest == null || wait.compareTo(longest) > 0 ? wait : longest;
                }
                index = (index + 1) % queues.size();
                if (++tried < queues.size()) continue;
                sleep(longest == null ? RETRY_ERROR : longest, owner);
            } else {
                // 429 (the daily budget, shared by every queue of the list), 400, 401: logged and
                // waited out, then the same queue is asked again.
                Duration wait = retryAfter(response, RETRY_ERROR);
                LOG.error("gateway-queue: shard {}: {} {}; not identifying, asking again in {}", shard, status,
                    status == 429 ? "daily session budget exhausted" : response.body().strip(), wait);
                sleep(wait, owner);
            }
            tried = 0;
            longest = null;
        }
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

    // Sleeps, or throws as soon as `owner` is cancelled.
    private static void sleep(Duration time, CompletableFuture<Void> owner) throws InterruptedException {
        try {
            owner.get(time.toMillis(), TimeUnit.MILLISECONDS);
        } catch (java.util.concurrent.TimeoutException elapsed) {
            return;
        } catch (ExecutionException | java.util.concurrent.CancellationException cancelled) {
            throw new InterruptedException("removed");
        }
    }
}
