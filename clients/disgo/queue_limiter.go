// Package gatewayqueue is a disgo IdentifyRateLimiter that waits on gateway-queue.
//
//	client, err := disgo.New(token, bot.WithShardManagerConfigOpts(
//		sharding.WithShardCount(shardCount),
//		sharding.WithIdentifyRateLimiter(gatewayqueue.New("http://127.0.0.1:5000/", os.Getenv("QUEUE_AUTH_TOKEN"))),
//	))
//
// For an active queue and its standbys, use NewWithURLs([]string{"http://a:5000/", "http://b:5000/"}, token).
//
// Rules: Wait returns nil only after a 2xx; a 503 or an unreachable queue moves on to the next URL
// of the list, and once every URL has been tried Wait waits (the longest Retry-After of the 503s)
// before the next round; a 429 means the daily session budget is used up (the budget is shared,
// so another queue would say the same): it is logged and Wait waits Retry-After (the reset)
// before asking that queue again, it never lets the shard identify and never loops. When the
// shard's context is cancelled (shard closed), the request is cancelled and its connection
// closed: the queue drops the shard and the next one of its bucket takes the slot. Written
// against disgo's documented gateway.IdentifyRateLimiter (Close, Wait, Unlock).
package gatewayqueue

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

const retryError = 5 * time.Second

// Limiter implements disgo's gateway.IdentifyRateLimiter over HTTP.
type Limiter struct {
	client *http.Client
	bases  []string
	token  string // empty: no Authorization header
	// The URL that granted last: waits start there, so a dead queue is not asked first.
	preferred atomic.Int64
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
	return &Limiter{client: &http.Client{Transport: transport}, bases: append([]string(nil), bases...), token: token}
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
			// 429 (the daily budget, shared by every queue of the list), 400, 401: logged and
			// waited out, then the same queue is asked again.
			wait = retryAfter(response, retryError)
			if status == http.StatusTooManyRequests {
				what = "daily session budget exhausted"
			}
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
