// A JDA SessionController that starts each shard's session when gateway-queue allows it.
//
//   DefaultShardManagerBuilder.createDefault(token)
//       .setSessionController(new QueueSessionController(
//           "http://127.0.0.1:5000/", System.getenv("QUEUE_AUTH_TOKEN")))
//       .build();
//
// Rules: a session starts only after a 2xx; a 503 is retried after its Retry-After; a 429 means the
// daily session budget is used up: it is logged and the node waits Retry-After (the reset) before
// asking again, it never connects and never loops. removeSession (shard shut down) cancels the
// node's wait, which aborts its HTTP request (Java 16+): the queue drops the shard and the next
// one of its bucket takes the slot. Written against JDA 5's documented SessionController API.
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import net.dv8tion.jda.api.utils.SessionControllerAdapter;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

public final class QueueSessionController extends SessionControllerAdapter {
    private static final Logger LOG = LoggerFactory.getLogger(QueueSessionController.class);
    private static final Duration RETRY_ERROR = Duration.ofSeconds(5);

    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();
    private final String queue; // base URL without a query, e.g. http://127.0.0.1:5000/
    private final String token; // null: no Authorization header
    private final Map<SessionConnectNode, Future<?>> waiting = new ConcurrentHashMap<>();

    public QueueSessionController(String queue, String token) {
        this.queue = queue;
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

    /** Returns once the queue allows `shard` to identify; throws when `owner` is cancelled. */
    private void waitForIdentify(int shard, CompletableFuture<Void> owner) throws InterruptedException {
        HttpRequest.Builder request = HttpRequest.newBuilder(URI.create(queue + "?shard=" + shard)).GET();
        if (token != null) request.header("Authorization", "Bearer " + token);
        while (true) {
            CompletableFuture<HttpResponse<String>> call =
                http.sendAsync(request.build(), HttpResponse.BodyHandlers.ofString());
            owner.whenComplete((ignored, error) -> call.cancel(true)); // cancelling aborts the exchange
            if (owner.isCancelled()) throw new InterruptedException("removed");
            HttpResponse<String> response;
            try {
                response = call.get();
            } catch (ExecutionException error) {
                if (owner.isCancelled()) throw new InterruptedException("removed"); // the abort's own failure
                LOG.warn("gateway-queue: shard {}: {}; asking again in {}", shard, error.getCause(), RETRY_ERROR);
                sleep(RETRY_ERROR, owner);
                continue;
            }
            int status = response.statusCode();
            if (status >= 200 && status < 300) return;
            if (status == 503) {
                sleep(retryAfter(response, Duration.ofSeconds(1)), owner);
                continue;
            }
            Duration wait = retryAfter(response, RETRY_ERROR);
            LOG.error("gateway-queue: shard {}: {} {}; not identifying, asking again in {}", shard, status,
                status == 429 ? "daily session budget exhausted" : response.body().strip(), wait);
            sleep(wait, owner);
        }
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
