// Package gatewayqueue is a disgo IdentifyRateLimiter that waits on gateway-queue.
//
//	client, err := disgo.New(token, bot.WithShardManagerConfigOpts(
//		sharding.WithShardCount(shardCount),
//		sharding.WithIdentifyRateLimiter(gatewayqueue.New("http://127.0.0.1:5000/", os.Getenv("QUEUE_AUTH_TOKEN"))),
//	))
//
// Rules: Wait returns nil only after a 2xx; a 503 is retried after its Retry-After; a 429 means the
// daily session budget is used up: it is logged and Wait waits Retry-After (the reset) before
// asking again, it never lets the shard identify and never loops. When the shard's context is
// cancelled (shard closed), the request is cancelled and its connection closed: the queue drops
// the shard and the next one of its bucket takes the slot. Written against disgo's documented
// gateway.IdentifyRateLimiter (Close, Wait, Unlock).
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
	"time"
)

const retryError = 5 * time.Second

// Limiter implements disgo's gateway.IdentifyRateLimiter over HTTP.
type Limiter struct {
	client *http.Client
	base   string
	token  string // empty: no Authorization header
}

// New returns a Limiter for the queue at base (e.g. "http://127.0.0.1:5000/").
func New(base, token string) *Limiter {
	// No client timeout: a shard behind many others waits minutes. No keep-alive: each wait has
	// its own connection, so cancelling one closes exactly that one.
	transport := &http.Transport{DisableKeepAlives: true}
	return &Limiter{client: &http.Client{Transport: transport}, base: base, token: token}
}

// Wait returns nil once the queue allows shardID to identify, or ctx's error.
func (l *Limiter) Wait(ctx context.Context, shardID int) error {
	target, err := url.Parse(l.base)
	if err != nil {
		return fmt.Errorf("gateway-queue url: %w", err)
	}
	query := target.Query()
	query.Set("shard", strconv.Itoa(shardID))
	target.RawQuery = query.Encode()
	for {
		request, err := http.NewRequestWithContext(ctx, http.MethodGet, target.String(), nil)
		if err != nil {
			return err
		}
		if l.token != "" {
			request.Header.Set("Authorization", "Bearer "+l.token)
		}
		response, err := l.client.Do(request)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			log.Printf("gateway-queue: shard %d: %v; asking again in %v", shardID, err, retryError)
			if err := sleep(ctx, retryError); err != nil {
				return err
			}
			continue
		}
		body, _ := io.ReadAll(io.LimitReader(response.Body, 4096))
		response.Body.Close()
		switch {
		case response.StatusCode >= 200 && response.StatusCode < 300:
			return nil
		case response.StatusCode == http.StatusServiceUnavailable:
			err = sleep(ctx, retryAfter(response, time.Second))
		default:
			wait := retryAfter(response, retryError)
			what := strings.TrimSpace(string(body))
			if response.StatusCode == http.StatusTooManyRequests {
				what = "daily session budget exhausted"
			}
			log.Printf("gateway-queue: shard %d: %d %s; not identifying, asking again in %v",
				shardID, response.StatusCode, what, wait)
			err = sleep(ctx, wait)
		}
		if err != nil {
			return err
		}
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
