// Package gatewayqueue is a disgo IdentifyRateLimiter that waits on gateway-queue and tells the
// queue how each granted IDENTIFY went.
//
//	limiter := gatewayqueue.New("http://127.0.0.1:5000/", os.Getenv("QUEUE_AUTH_TOKEN"))
//	client, err := disgo.New(token,
//		bot.WithLogger(slog.New(limiter.LogHandler(slog.Default().Handler()))), // the outcome reports
//		bot.WithShardManagerConfigOpts(
//			sharding.WithShardCount(shardCount),
//			sharding.WithIdentifyRateLimiter(limiter),
//		))
//
// For an active queue and its standbys, use NewWithURLs([]string{"http://a:5000/", "http://b:5000/"}, token).
//
// Rules: Wait returns nil only after a 2xx; a 503 or an unreachable queue moves on to the next URL
// of the list, and once every URL has been tried Wait waits (the longest Retry-After of the 503s)
// before the next round; a 429 (the daily session budget is used up, or the queue found the shard
// looping: granted QUEUE_SHARD_HOURLY_LIMIT times in the last hour) is logged with the body's
// error text and Wait waits Retry-After before asking that queue again (another queue of the list
// shares the journal and would say the same); it never lets the shard identify and never loops.
// When the shard's context is cancelled (shard closed), the request is cancelled and its
// connection closed: the queue drops the shard and the next one of its bucket takes the slot.
//
// Boots: disgo's Wait(ctx, shardID) does not tell a boot from a reconnect, so a request carries
// initial=true until this Limiter has had that shard granted once (a process start is a boot: use
// one Limiter per process), and omits it afterwards (a reconnect).
//
// Outcomes: after each grant, ReportOutcome sends the first of: READY -> ready; an Invalid Session
// (op 9) before READY -> invalid_session; the connection closed before READY -> closed&code=C. One
// POST <queue>/outcome?shard=N&result=R per grant, to the URL that granted (the others of the list
// only if that one answers 502/503/504 or is unreachable), fire-and-forget: never waited for by
// Wait, never retried, a failure logged once per shard and result. disgo has an event for READY
// only (events.Ready), none for an Invalid Session or a close before READY: LogHandler
// (queue_limiter_slog.go, Go 1.21+) reads all three from disgo's own log lines. A bot can call
// ReportOutcome itself instead. Written against disgo 0.19's documented
// gateway.IdentifyRateLimiter (Close, Wait, Unlock).
package gatewayqueue

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

const (
	retryError = 5 * time.Second
	// An outcome report gives up after this long: it is never worth holding a connection for.
	reportTimeout = 10 * time.Second
)

// Outcome is what became of a granted IDENTIFY (POST /outcome's result).
type Outcome string

const (
	Ready          Outcome = "ready"           // the READY dispatch arrived
	InvalidSession Outcome = "invalid_session" // an Invalid Session (op 9) came before READY
	Closed         Outcome = "closed"          // the connection closed before READY
)

// Limiter implements disgo's gateway.IdentifyRateLimiter over HTTP.
type Limiter struct {
	client *http.Client
	bases  []string
	token  string // empty: no Authorization header
	// The URL that granted last: waits start there, so a dead queue is not asked first.
	preferred atomic.Int64

	mu sync.Mutex
	// Shard ids granted at least once by this Limiter: their requests are not boots.
	booted map[int]bool
	// Shard id -> index of the URL that granted its last request, until that grant's outcome is sent.
	pending map[int]int
	// "shard:result" whose failed report was already logged.
	warned map[string]bool
}

// New returns a Limiter for the queue at base (e.g. "http://127.0.0.1:5000/").
func New(base, token string) *Limiter {
	return NewWithURLs([]string{base}, token)
}

// NewWithURLs returns a Limiter for several queues (an active one and its standbys), asked in
// turn. It panics on an empty list.
func NewWithURLs(bases []string, token string) *Limiter {
	if len(bases) == 0 {
		panic("gateway-queue: no queue URL")
	}
	// No client timeout: a shard behind many others waits minutes. No keep-alive: each wait has
	// its own connection, so cancelling one closes exactly that one.
	transport := &http.Transport{DisableKeepAlives: true}
	return &Limiter{client: &http.Client{Transport: transport}, bases: append([]string(nil), bases...), token: token,
		booted: map[int]bool{}, pending: map[int]int{}, warned: map[string]bool{}}
}

// Wait returns nil once a queue allows shardID to identify, or ctx's error.
func (l *Limiter) Wait(ctx context.Context, shardID int) error {
	index := int(l.preferred.Load())
	// 503s and unreachable queues since the last wait, and the longest Retry-After among them
	// (0: none).
	tried, longest := 0, time.Duration(0)
	for {
		target, err := url.Parse(l.bases[index])
		if err != nil {
			return fmt.Errorf("gateway-queue url: %w", err)
		}
		query := target.Query()
		query.Set("shard", strconv.Itoa(shardID))
		l.mu.Lock()
		if !l.booted[shardID] { // a boot until this Limiter had the shard granted once
			query.Set("initial", "true")
		}
		l.mu.Unlock()
		target.RawQuery = query.Encode()
		request, err := http.NewRequestWithContext(ctx, http.MethodGet, target.String(), nil)
		if err != nil {
			return err
		}
		if l.token != "" {
			request.Header.Set("Authorization", "Bearer "+l.token)
		}
		status, wait, what := 0, time.Duration(0), ""
		response, err := l.client.Do(request)
		if err == nil {
			body, _ := io.ReadAll(io.LimitReader(response.Body, 4096))
			response.Body.Close()
			status, what = response.StatusCode, strings.TrimSpace(string(body))
		} else if ctx.Err() != nil {
			return ctx.Err()
		} else {
			log.Printf("gateway-queue: shard %d: %s: %v", shardID, target.Host, err)
		}
		switch {
		case status >= 200 && status < 300:
			l.preferred.Store(int64(index))
			l.mu.Lock()
			l.booted[shardID] = true
			l.pending[shardID] = index // armed before the IDENTIFY is sent
			l.mu.Unlock()
			return nil
		case status == 0 || unavailable(status):
			// Unreachable, standby, full or stopping: another queue of the list may be the active
			// one. Once all were tried, wait before the next round.
			if status != 0 {
				if wait := retryAfter(response, time.Second); wait > longest {
					longest = wait
				}
			}
			index = (index + 1) % len(l.bases)
			if tried++; tried < len(l.bases) {
				continue
			}
			wait = longest
			if wait == 0 {
				wait = retryError
			}
		default:
			// 429 (the daily budget, or this shard looping: the journal is shared by every queue
			// of the list), 400, 401: logged and waited out, then the same queue is asked again.
			wait = retryAfter(response, retryError)
			what = errorText(what)
			log.Printf("gateway-queue: shard %d: %d %s; not identifying, asking again in %v", shardID, status, what, wait)
		}
		if err := sleep(ctx, wait); err != nil {
			return err
		}
		tried, longest = 0, 0
	}
}

// Unlock does nothing: the queue spaces grants itself, from the moment it grants.
func (l *Limiter) Unlock(shardID int) {}

// Close closes idle connections; waits in flight end with their contexts.
func (l *Limiter) Close(ctx context.Context) { l.client.CloseIdleConnections() }

// ReportOutcome reports what became of shardID's last granted IDENTIFY; code is the close code
// with Closed (0: none known). It returns at once and does nothing when that grant's outcome was
// already reported. LogHandler calls it; call it yourself from your own handlers otherwise, e.g.
// bot.WithEventListenerFunc(func(e *events.Ready) { limiter.ReportOutcome(e.ShardID(), gatewayqueue.Ready, 0) }).
func (l *Limiter) ReportOutcome(shardID int, outcome Outcome, code int) {
	l.mu.Lock()
	granted, ok := l.pending[shardID]
	delete(l.pending, shardID)
	l.mu.Unlock()
	if !ok {
		return
	}
	if outcome != Closed {
		code = 0
	}
	go l.post(shardID, outcome, code, granted)
}

// post sends POST <queue>/outcome to the queue that granted (index first); a 502/503/504 or no
// answer moves on to the next one, each queue of the list being asked once at most.
func (l *Limiter) post(shardID int, outcome Outcome, code int, first int) {
	failure := ""
	for step := 0; step < len(l.bases); step++ {
		target, err := url.Parse(l.bases[(first+step)%len(l.bases)])
		if err != nil {
			failure = err.Error()
			break
		}
		target.Path = strings.TrimSuffix(target.Path, "/") + "/outcome"
		query := url.Values{}
		query.Set("shard", strconv.Itoa(shardID))
		query.Set("result", string(outcome))
		if code != 0 {
			query.Set("code", strconv.Itoa(code))
		}
		target.RawQuery = query.Encode()
		status, what := l.send(target.String())
		if status >= 200 && status < 300 {
			return
		}
		failure = target.Host + ": " + what
		if status != 0 && !unavailable(status) {
			break
		}
	}
	key := strconv.Itoa(shardID) + ":" + string(outcome)
	l.mu.Lock()
	logIt := !l.warned[key]
	l.warned[key] = true
	l.mu.Unlock()
	if logIt {
		log.Printf("gateway-queue: shard %d: outcome %s not recorded: %s", shardID, outcome, failure)
	}
}

// send POSTs to target; it returns the status (0: no answer) and what to log about the answer.
func (l *Limiter) send(target string) (int, string) {
	ctx, cancel := context.WithTimeout(context.Background(), reportTimeout)
	defer cancel()
	request, err := http.NewRequestWithContext(ctx, http.MethodPost, target, nil)
	if err != nil {
		return 0, err.Error()
	}
	if l.token != "" {
		request.Header.Set("Authorization", "Bearer "+l.token)
	}
	response, err := l.client.Do(request)
	if err != nil {
		return 0, err.Error()
	}
	body, _ := io.ReadAll(io.LimitReader(response.Body, 4096))
	response.Body.Close()
	return response.StatusCode, strconv.Itoa(response.StatusCode) + " " + errorText(strings.TrimSpace(string(body)))
}

// errorText is the error text of a queue's JSON answer, or the answer itself when it has none.
func errorText(body string) string {
	var answer struct {
		Error string `json:"error"`
	}
	if json.Unmarshal([]byte(body), &answer) == nil && answer.Error != "" {
		return answer.Error
	}
	return body
}

func retryAfter(response *http.Response, fallback time.Duration) time.Duration {
	seconds, err := strconv.Atoi(strings.TrimSpace(response.Header.Get("Retry-After")))
	if err != nil || seconds < 0 {
		return fallback
	}
	return time.Duration(seconds) * time.Second
}

func sleep(ctx context.Context, d time.Duration) error {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// unavailable: what a queue answers while it cannot serve (503), and what a load balancer in
// front of the queues answers when the one it reached went away (502) or timed out (504).
func unavailable(status int) bool {
	return status == http.StatusBadGateway || status == http.StatusServiceUnavailable ||
		status == http.StatusGatewayTimeout
}
