package main

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/ingress-egress/ingress-egress/bus"
)

// newLogger builds the process logger: JSON in the shape Cloud Logging reads
// (severity, message, time, logging.googleapis.com/trace) or text for
// humans, with repeated warnings and errors rate-limited. Format "auto"
// picks text when w is a terminal (isTerminal, replay.go) and JSON otherwise
// (a pipe, a file, a container's log collector).
func newLogger(w io.Writer, format string, level slog.Level, project string) *slog.Logger {
	var h slog.Handler
	if format == "auto" {
		format = "json"
		if isTerminal(w) {
			format = "text"
		}
	}
	if format == "text" {
		h = slog.NewTextHandler(w, &slog.HandlerOptions{Level: level})
	} else {
		h = slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level, ReplaceAttr: cloudLoggingAttr(project)})
	}
	return slog.New(&rateLimited{next: h, every: 10 * time.Second, burst: 5, state: &rateState{seen: map[string]*rateEntry{}}}).With("service", "ingress-egress")
}

// cloudLoggingAttr renames slog's keys to Cloud Logging's structured
// logging fields.
func cloudLoggingAttr(project string) func([]string, slog.Attr) slog.Attr {
	return func(groups []string, a slog.Attr) slog.Attr {
		if len(groups) > 0 {
			return a
		}
		switch a.Key {
		case slog.LevelKey:
			return slog.String("severity", severity(a.Value.Any().(slog.Level)))
		case slog.MessageKey:
			a.Key = "message"
		case slog.TimeKey:
			a.Value = slog.StringValue(a.Value.Time().UTC().Format(time.RFC3339Nano))
		case "trace":
			if a.Value.String() == "" {
				return slog.Attr{} // no trace known: no field
			}
			a.Key = "logging.googleapis.com/trace"
			if project != "" {
				a.Value = slog.StringValue("projects/" + project + "/traces/" + a.Value.String())
			}
		}
		return a
	}
}

func severity(l slog.Level) string {
	switch {
	case l < slog.LevelInfo:
		return "DEBUG"
	case l < slog.LevelWarn:
		return "INFO"
	case l < slog.LevelError:
		return "WARNING"
	default:
		return "ERROR"
	}
}

// rateLimited passes at most burst records with the same level and message
// per interval for warnings and errors; when a new interval starts, the
// first record carries how many were suppressed. Records logged with a
// context marked by bus.WithoutRateLimit always pass.
type rateLimited struct {
	next  slog.Handler
	every time.Duration
	burst int
	state *rateState
}

type rateState struct {
	mu   sync.Mutex
	seen map[string]*rateEntry
}

type rateEntry struct {
	start      time.Time
	n          int
	suppressed int
}

func (h *rateLimited) Enabled(ctx context.Context, l slog.Level) bool { return h.next.Enabled(ctx, l) }

func (h *rateLimited) Handle(ctx context.Context, r slog.Record) error {
	if r.Level < slog.LevelWarn || bus.RateLimitExempt(ctx) {
		// Exempt: the bus's entries naming undelivered messages, each
		// with other ids, all needed.
		return h.next.Handle(ctx, r)
	}
	key := r.Level.String() + "\x00" + r.Message
	h.state.mu.Lock()
	e := h.state.seen[key]
	if e == nil {
		if len(h.state.seen) > 1000 { // bound the table
			clear(h.state.seen)
		}
		e = &rateEntry{start: r.Time}
		h.state.seen[key] = e
	}
	if r.Time.Sub(e.start) >= h.every {
		if e.suppressed > 0 {
			r.AddAttrs(slog.Int("suppressed", e.suppressed))
		}
		e.start, e.n, e.suppressed = r.Time, 0, 0
	}
	e.n++
	pass := e.n <= h.burst
	if !pass {
		e.suppressed++
	}
	h.state.mu.Unlock()
	if !pass {
		return nil
	}
	return h.next.Handle(ctx, r)
}

func (h *rateLimited) WithAttrs(as []slog.Attr) slog.Handler {
	return &rateLimited{next: h.next.WithAttrs(as), every: h.every, burst: h.burst, state: h.state}
}

func (h *rateLimited) WithGroup(name string) slog.Handler {
	return &rateLimited{next: h.next.WithGroup(name), every: h.every, burst: h.burst, state: h.state}
}
