// A JDA SessionController that starts each shard's session when gateway-queue allows it, and tells
// the queue how each granted IDENTIFY went.
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
// 503s) before the next round; a 429 (the daily session budget is used up, or the queue found the
// shard looping: granted QUEUE_SHARD_HOURLY_LIMIT times in the last hour) is logged with the body's
// error text and the node waits Retry-After before asking that queue again (another queue of the
// list shares the journal and would say the same); it never connects and never loops.
// removeSession (shard shut down) cancels the node's wait, which aborts its HTTP request (Java
// 16+): the queue drops the shard and the next one of its bucket takes the slot.
//
// Boots: a request carries `initial=true` when JDA appends a starting node (isReconnect() false:
// a JDA instance's first session) for a shard id this controller has not had granted yet; a
// ReconnectNode (a session JDA must identify again after it was invalidated or could not be
// resumed), and a shard restarted by the ShardManager in the same process, omit it.
//
// Outcomes: the controller registers a listener on each shard's JDA (appendSession of its starting
// node) and, after each grant, reports the first of: READY (status LOADING_SUBSYSTEMS, set when
// the READY dispatch arrives) -> `ready`; an Invalid Session (op 9: SessionInvalidateEvent, or the
// close JDA makes for a resumable one) before READY -> `invalid_session`; the connection closed
// before READY (SessionDisconnectEvent, ShutdownEvent) -> `closed&code=C`. One
// `POST <queue>/outcome?shard=N&result=R` per grant, to the URL that granted (the others of the
// list only if that one answers 502/503/504 or is unreachable), fire-and-forget: never waited for
// by a node, never retried, a failure logged once per shard and result. With an event manager that
// neither calls EventListener nor @SubscribeEvent methods, call reportOutcome from your own
// handlers instead. Written against JDA 5's documented SessionController and event API.
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import com.neovisionaries.ws.client.WebSocketFrame;
import net.dv8tion.jda.api.JDA;
import net.dv8tion.jda.api.events.GenericEvent;
import net.dv8tion.jda.api.events.StatusChangeEvent;
import net.dv8tion.jda.api.events.session.SessionDisconnectEvent;
import net.dv8tion.jda.api.events.session.SessionInvalidateEvent;
import net.dv8tion.jda.api.events.session.ShutdownEvent;
import net.dv8tion.jda.api.hooks.EventListener;
import net.dv8tion.jda.api.hooks.SubscribeEvent;
import net.dv8tion.jda.api.utils.SessionControllerAdapter;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

public final class QueueSessionController extends SessionControllerAdapter {
    private static final Logger LOG = LoggerFactory.getLogger(QueueSessionController.class);
    private static final Duration RETRY_ERROR = Duration.ofSeconds(5);
    // An outcome report gives up after this long: it is never worth holding a connection for.
    private static final Duration REPORT_TIMEOUT = Duration.ofSeconds(10);
    // The reason JDA gives the close it makes itself on an Invalid Session (op 9).
    private static final String JDA_INVALIDATE_REASON = "INVALIDATE_SESSION";
    private static final Pattern ERROR_FIELD = Pattern.compile("\"error\"\\s*:\\s*\"((?:[^\"\\\\]|\\\\.)*)\"");

    /** What became of a granted IDENTIFY (POST /outcome's `result`). */
    public enum Outcome {
        READY("ready"), INVALID_SESSION("invalid_session"), CLOSED("closed");

        private final String query;

        Outcome(String query) {
            this.query = query;
        }
    }

    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();
    private final List<String> queues; // base URLs without a query, e.g. http://127.0.0.1:5000/
    private final String token; // null: no Authorization header
    private final Map<SessionConnectNode, Future<?>> waiting = new ConcurrentHashMap<>();
    // The URL that granted last: waits start there, so a dead queue is not asked first.
    private final AtomicInteger preferred = new AtomicInteger();
    // Shard ids granted at least once by this controller: their requests are not boots.
    private final Set<Integer> booted = ConcurrentHashMap.newKeySet();
    // Shard id -> index of the URL that granted its last request, until that grant's outcome is sent.
    private final Map<Integer, Integer> pending = new ConcurrentHashMap<>();
    // "shard:result" whose failed report was already logged.
    private final Set<String> warned = ConcurrentHashMap.newKeySet();
    private final OutcomeListener outcomes = new OutcomeListener();

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
        // A starting node comes once per JDA instance (a shard's, or a restarted shard's): its
        // events tell the outcomes. A ReconnectNode reuses the instance and its listener.
        if (!node.isReconnect()) node.getJDA().addEventListener(outcomes);
        int shard = node.getShardInfo().getShardId();
        // One waiting thread per node: a node's wait must not hold up the other buckets.
        CompletableFuture<Void> task = new CompletableFuture<>();
        waiting.put(node, task);
        Thread thread = new Thread(() -> {
            try {
                int granted = waitForIdentify(shard, !node.isReconnect(), task);
                waiting.remove(node);
                booted.add(shard);
                pending.put(shard, granted); // armed before the IDENTIFY can be answered
                node.run(true); // connects now; the IDENTIFY follows the gateway's HELLO
            } catch (InterruptedException | java.util.concurrent.CancellationException removed) {
                // removeSession: the shard is gone, its request was aborted
            } finally {
                waiting.remove(node);
            }
        }, "gateway-queue-" + shard);
        thread.setDaemon(true);
        thread.start();
    }

    @Override
    public void removeSession(SessionConnectNode node) {
        Future<?> task = waiting.remove(node);
        if (task != null) task.cancel(true);
    }

    /**
     * Returns the index of the queue that allowed `shard` to identify, once one did; throws when
     * `owner` is cancelled. `start`: JDA starts the shard's first session (not a reconnect).
     */
    private int waitForIdentify(int shard, boolean start, CompletableFuture<Void> owner) throws InterruptedException {
        int index = preferred.get();
        // 503s and unreachable queues since the last wait, and the longest Retry-After among them.
        int tried = 0;
        Duration longest = null;
        while (true) {
            // A boot until this controller had the shard granted once (asked again on each try: a
            // ShardManager may restart the shard while an earlier node still waits).
            boolean initial = start && !booted.contains(shard);
            HttpRequest.Builder request = HttpRequest.newBuilder(URI.create(
                queues.get(index) + "?shard=" + shard + (initial ? "&initial=true" : ""))).GET();
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
                return index;
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
                // 429 (the daily budget, or this shard looping: the journal is shared by every
                // queue of the list), 400, 401: logged and waited out, then the same queue is
                // asked again.
                Duration wait = retryAfter(response, RETRY_ERROR);
                LOG.error("gateway-queue: shard {}: {} {}; not identifying, asking again in {}", shard, status,
                    errorText(response.body()), wait);
                sleep(wait, owner);
            }
            tried = 0;
            longest = null;
        }
    }

    /**
     * Reports what became of `shard`'s last granted IDENTIFY: `code` is the close code with
     * CLOSED (null: none known). Returns at once; does nothing when that grant's outcome was
     * already reported. The listener this controller registers on each JDA calls it; call it
     * yourself only where that listener cannot run (an event manager that calls neither
     * EventListener nor @SubscribeEvent methods).
     */
    public void reportOutcome(int shard, Outcome outcome, Integer code) {
        Integer granted = pending.remove(shard);
        if (granted != null) post(shard, outcome, outcome == Outcome.CLOSED ? code : null, granted, 0);
    }

    // POST <queue>/outcome to the queue `first` + `step` of the list; a 502/503/504 or no answer
    // moves on to the next one, each queue of the list being asked once at most.
    private void post(int shard, Outcome outcome, Integer code, int first, int step) {
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

    /** Turns a shard's JDA events into outcome reports; registered on each shard's JDA. */
    private final class OutcomeListener implements EventListener {
        @Override
        @SubscribeEvent // for an AnnotatedEventManager
        public void onEvent(GenericEvent event) {
            int shard = event.getJDA().getShardInfo().getShardId();
            if (event instanceof StatusChangeEvent) {
                // JDA enters LOADING_SUBSYSTEMS when the READY dispatch arrives (ReadyEvent comes
                // only once the guilds are loaded).
                if (((StatusChangeEvent) event).getNewStatus() == JDA.Status.LOADING_SUBSYSTEMS)
                    reportOutcome(shard, Outcome.READY, null);
            } else if (event instanceof SessionInvalidateEvent) {
                reportOutcome(shard, Outcome.INVALID_SESSION, null); // op 9, not resumable
            } else if (event instanceof SessionDisconnectEvent) {
                SessionDisconnectEvent closed = (SessionDisconnectEvent) event;
                WebSocketFrame frame = closed.isClosedByServer() ? closed.getServiceCloseFrame() : closed.getClientCloseFrame();
                if (!closed.isClosedByServer() && frame != null && JDA_INVALIDATE_REASON.equals(frame.getCloseReason()))
                    reportOutcome(shard, Outcome.INVALID_SESSION, null); // op 9, resumable
                else
                    reportOutcome(shard, Outcome.CLOSED, frame == null ? null : frame.getCloseCode());
            } else if (event instanceof ShutdownEvent) {
                reportOutcome(shard, Outcome.CLOSED, ((ShutdownEvent) event).getCode());
            }
        }
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
