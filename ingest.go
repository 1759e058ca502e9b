package main

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ingress-egress/ingress-egress/bus"
	"github.com/ingress-egress/ingress-egress/envelope"
	"github.com/ingress-egress/ingress-egress/twitch"
)

// ingest is the twitch.Handler that turns each line into an envelope and
// hands it to the publisher. It is called concurrently by every connection;
// each call borrows an encoder and a buffer from a pool, so the steady state
// allocates only what the publisher's message ids need.
//
// When the publisher's queue is full, Publish blocks and so does the
// connection's reader: backpressure, never a drop.
type ingest struct {
	pub     *bus.Publisher
	subject string
	log     *slog.Logger
	pool    sync.Pool // *encState

	envelopes   atomic.Uint64 // envelopes handed to the publisher
	notEnabled  atomic.Uint64 // lines of kinds that are not published (PING, JOIN, switched off)
	noEnvelope  atomic.Uint64 // lines of a published kind that could not yield an envelope
	publishErrs atomic.Uint64 // Publish refused (closed, too large, context ended)

	// Liveness: encoding is ours and never waits; only a bug can stall it.
	// The wait inside Publish is backpressure from the bus and is not a
	// stall (a bus outage must not make the process look dead).
	encoding     atomic.Int64 // Append calls under way
	lastEncodeAt atomic.Int64 // unix nanos of the last Append that finished, or of the first start
}

type encState struct {
	enc *envelope.Encoder
	buf []byte
	tp  []byte
}

func newIngest(pub *bus.Publisher, subject string, opts *envelope.Options, log *slog.Logger) *ingest {
	in := &ingest{pub: pub, subject: subject, log: log}
	in.pool.New = func() any {
		return &encState{enc: envelope.NewEncoder(opts), buf: make([]byte, 0, 4096), tp: make([]byte, 0, 128)}
	}
	return in
}

// HandleLine implements twitch.Handler.
func (in *ingest) HandleLine(ctx context.Context, l *twitch.Line) error {
	if in.encoding.Add(1) == 1 {
		in.lastEncodeAt.Store(l.Received.UnixNano())
	}
	st := in.pool.Get().(*encState)
	defer in.pool.Put(st)
	var err error
	st.buf, err = st.enc.Append(st.buf[:0], l.Raw, &l.Msg, l.Received)
	in.lastEncodeAt.Store(l.Received.UnixNano())
	in.encoding.Add(-1)
	if err != nil {
		if errors.Is(err, envelope.ErrNotEnabled) {
			in.notEnabled.Add(1)
		} else {
			in.noEnvelope.Add(1)
			in.log.Debug("line yields no envelope", "reason", err.Error(), "command", string(l.Msg.Command))
		}
		return nil
	}
	// The message id and the traceparent share one string: one small
	// allocation per message instead of two (the publisher keeps strings).
	st.tp = st.tp[:0]
	st.tp = append(st.tp, st.enc.TwitchID()...)
	n := len(st.tp)
	st.tp = appendTraceParent(st.tp, st.enc.TraceID())
	ids := string(st.tp)
	err = in.pub.Publish(ctx, bus.Message{
		Subject:     in.subject,
		Data:        st.buf,
		MsgID:       ids[:n],
		TraceParent: ids[n:],
		ContentType: "application/json",
		Received:    l.Received,
	})
	if err != nil {
		// A line that was read but not accepted (reading stopped while the
		// bus held it back, or the publisher refused it) is never dropped
		// silently: it is counted and named.
		in.publishErrs.Add(1)
		in.log.Error("envelope not accepted by the publisher", "msgId", ids[:n], "trace", ids[n+3:n+35], "error", err.Error(),
			"errorCode", "not_accepted")
		return err
	}
	in.envelopes.Add(1)
	if in.log.Enabled(ctx, slog.LevelDebug) { // per message: debug only, never the text
		in.log.LogAttrs(ctx, slog.LevelDebug, "envelope queued", slog.String("msgId", ids[:n]),
			slog.String("channel", strings.TrimPrefix(string(l.Msg.Param(0)), "#")),
			slog.String("userLogin", string(l.Msg.Nick())), slog.Uint64("conn", l.Conn))
	}
	return nil
}

// appendTraceParent appends a W3C traceparent for the envelope's trace id;
// the parent (span) id is the trace id's last 8 bytes.
func appendTraceParent(dst []byte, trace envelope.UUID) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, "00-"...)
	for _, b := range trace {
		dst = append(dst, hex[b>>4], hex[b&15])
	}
	dst = append(dst, '-')
	for _, b := range trace[8:] {
		dst = append(dst, hex[b>>4], hex[b&15])
	}
	return append(dst, "-01"...)
}

// stalled returns how long encoding has been under way without any
// encoding finishing, or 0 when none is under way.
func (in *ingest) stalled() time.Duration {
	if in.encoding.Load() == 0 {
		return 0
	}
	return time.Since(time.Unix(0, in.lastEncodeAt.Load()))
}

type ingestCounters struct {
	Envelopes   uint64 `json:"envelopes"`
	NotEnabled  uint64 `json:"notEnabled"`
	NoEnvelope  uint64 `json:"noEnvelope"`
	PublishErrs uint64 `json:"publishErrors"`
}

func (in *ingest) counters() ingestCounters {
	return ingestCounters{in.envelopes.Load(), in.notEnabled.Load(), in.noEnvelope.Load(), in.publishErrs.Load()}
}
