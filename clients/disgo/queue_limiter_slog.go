//go:build go1.21

package gatewayqueue

import (
	"context"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
)

// LogHandler returns a slog.Handler that hands every record to next, as next would have had it,
// and reports the outcome of each granted IDENTIFY from disgo's own log lines: disgo has no event
// for an Invalid Session before READY, nor for a connection closed before READY (its gateway only
// logs them and connects again). Give it to the bot's logger, which disgo passes to every shard:
//
//	bot.WithLogger(slog.New(limiter.LogHandler(slog.Default().Handler())))
//
// It reads the lines of disgo 0.19 (gateway/gateway.go, sharding/shard_manager.go):
//
//	"successfully identified" (debug, the READY dispatch)       -> Ready
//	"received invalid session" (warn, op 9)                     -> InvalidSession
//	"failed to reconnect gateway", "failed to reopen gateway",
//	"failed to open shard" (error, an open that failed; err)    -> Closed with the close code of
//	                                                               err ("websocket: close 4004 ..."),
//	                                                               InvalidSession when err says so
//
// each for the shard of its "shard_id" attribute. A grant is reported once, on its first line.
// Should a disgo release word these lines otherwise, nothing is reported (the waits are not
// affected): report from your own handlers with ReportOutcome then.
func (l *Limiter) LogHandler(next slog.Handler) slog.Handler {
	return &logHandler{limiter: l, next: next, shard: -1}
}

type logHandler struct {
	limiter *Limiter
	next    slog.Handler
	shard   int  // from a "shard_id" attribute of the logger (disgo's gateways have one); -1: none
	grouped bool // under a group: later attributes are not disgo's top-level ones
}

var closeCode = regexp.MustCompile(`websocket: close (\d+)`)

func (h *logHandler) Enabled(ctx context.Context, level slog.Level) bool {
	// A shard's logger is read down to debug ("successfully identified"); other loggers only
	// for the errors.
	return h.next.Enabled(ctx, level) || level >= slog.LevelError ||
		(h.shard >= 0 && !h.grouped && level >= slog.LevelDebug)
}

func (h *logHandler) Handle(ctx context.Context, record slog.Record) error {
	h.observe(record)
	if !h.next.Enabled(ctx, record.Level) {
		return nil
	}
	return h.next.Handle(ctx, record)
}

func (h *logHandler) observe(record slog.Record) {
	shard, failure := h.shard, ""
	record.Attrs(func(attr slog.Attr) bool {
		switch attr.Key {
		case "shard_id":
			if id, ok := intValue(attr.Value); ok {
				shard = id
			}
		case "err":
			failure = attr.Value.String()
		}
		return true
	})
	if shard < 0 || h.grouped {
		return
	}
	switch record.Message {
	case "successfully identified":
		h.limiter.ReportOutcome(shard, Ready, 0)
	case "received invalid session":
		h.limiter.ReportOutcome(shard, InvalidSession, 0)
	case "failed to reconnect gateway", "failed to reopen gateway", "failed to open shard":
		if strings.Contains(failure, "invalid session") {
			h.limiter.ReportOutcome(shard, InvalidSession, 0)
		} else if match := closeCode.FindStringSubmatch(failure); match != nil {
			code, _ := strconv.Atoi(match[1])
			h.limiter.ReportOutcome(shard, Closed, code)
		} else {
			h.limiter.ReportOutcome(shard, Closed, 0)
		}
	}
}

func (h *logHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	derived := *h
	derived.next = h.next.WithAttrs(attrs)
	if !h.grouped {
		for _, attr := range attrs {
			if id, ok := intValue(attr.Value); ok && attr.Key == "shard_id" {
				derived.shard = id
			}
		}
	}
	return &derived
}

func (h *logHandler) WithGroup(name string) slog.Handler {
	derived := *h
	derived.next = h.next.WithGroup(name)
	derived.grouped = derived.grouped || name != ""
	return &derived
}

func intValue(value slog.Value) (int, bool) {
	switch value.Kind() {
	case slog.KindInt64:
		return int(value.Int64()), true
	case slog.KindUint64:
		return int(value.Uint64()), true
	}
	return 0, false
}
