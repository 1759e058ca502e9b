// Package consumer reads every envelope a load run published back from the
// bus, for the loss checker: from a core NATS subject, or from a JetStream
// stream through an ordered consumer that starts at the stream's first
// message. A read is bounded: it stops after a count, after an idle period,
// after a hard timeout, or when its context ends, whichever comes first.
package consumer

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ingress-egress/ingress-egress/bench/loss"
)

// Defaults for the zero Options.
const (
	DefaultSubject    = "internal.ingress.v1"
	DefaultIdle       = 2 * time.Second
	DefaultTimeout    = 2 * time.Minute
	DefaultMaxPending = 1 << 20
)

// Options configures a read. The zero value reads core NATS subject
// DefaultSubject until DefaultIdle passes without an envelope (after the
// first one) or DefaultTimeout passes.
type Options struct {
	// Subject to read. Default DefaultSubject. With Stream set, it filters the
	// stream.
	Subject string
	// Stream, when set, reads that JetStream stream from its first message
	// with an ordered consumer; otherwise a core NATS subscription reads only
	// what is published after Start returns.
	Stream string
	// Count stops the read once this many envelopes arrived. 0: no count.
	Count int
	// Idle stops the read when no envelope arrived for this long after the
	// first one. Default DefaultIdle.
	Idle time.Duration
	// Timeout bounds the whole read. Default DefaultTimeout.
	Timeout time.Duration
	// OnEnvelope, when set, is called for every envelope in arrival order,
	// one call at a time and before Wait returns, and Result.Received stays
	// nil; use it to feed a loss.Checker during long runs instead of keeping
	// every record. It must not call the Consumer's methods.
	OnEnvelope func(loss.Received)
	// Validate decodes every envelope with encoding/json (slower) instead of
	// only finding its payload.messageId; an envelope that is not valid JSON
	// then counts as Invalid.
	Validate bool
	// MaxPending bounds the messages a core subscription buffers in the
	// client before it drops them as a slow consumer (reported as Dropped).
	// Default DefaultMaxPending; the byte bound is 1 KiB per message.
	MaxPending int
}

// Stop reasons in Result.Stopped.
const (
	StoppedCount   = "count"
	StoppedIdle    = "idle"
	StoppedTimeout = "timeout"
	StoppedContext = "context"
	StoppedStop    = "stop"
)

// Result is what a read saw.
type Result struct {
	// Received holds every envelope's record in arrival order, unless
	// Options.OnEnvelope was set. An envelope whose messageId could not be
	// read has an empty MessageID (the loss checker counts it unexpected).
	Received []loss.Received `json:"-"`
	// Count is the number of envelopes read.
	Count int `json:"count"`
	// Invalid counts envelopes without a readable payload.messageId (or, with
	// Validate, that are not valid JSON).
	Invalid int `json:"invalid"`
	// Dropped counts messages the core subscription dropped as a slow
	// consumer: a harness failure, not the service's.
	Dropped int `json:"dropped"`
	// Stopped says why the read ended: count, idle, timeout, context or stop.
	Stopped string `json:"stopped"`
}

// Consumer is one running read. Its methods are safe for concurrent use.
type Consumer struct {
	opts    Options
	started time.Time

	mu      sync.Mutex
	res     Result
	first   bool
	counted chan struct{} // closed when Count is reached
	arrived chan struct{} // a token per arrival burst, for the idle timer

	stopOnce sync.Once
	stopped  chan struct{} // closed by Stop
	done     chan struct{} // closed when the read is over
	unsub    func() int    // stops delivery, returns dropped count
	pending  func() int    // messages delivered to the client, not yet handled
}

// Start begins a read on nc. For core NATS the subscription is registered
// with the server when Start returns, so publishers started afterwards are
// seen from their first message. Call Wait for the result.
func Start(ctx context.Context, nc *nats.Conn, opts Options) (*Consumer, error) {
	if opts.Subject == "" {
		opts.Subject = DefaultSubject
	}
	if opts.Idle <= 0 {
		opts.Idle = DefaultIdle
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.MaxPending <= 0 {
		opts.MaxPending = DefaultMaxPending
	}
	c := &Consumer{
		opts:    opts,
		started: time.Now(),
		counted: make(chan struct{}),
		arrived: make(chan struct{}, 1),
		stopped: make(chan struct{}),
		done:    make(chan struct{}),
	}
	if opts.Stream == "" {
		sub, err := nc.Subscribe(opts.Subject, func(m *nats.Msg) { c.record(m.Data, time.Now()) })
		if err != nil {
			return nil, fmt.Errorf("consumer: subscribe %s: %w", opts.Subject, err)
		}
		if err := sub.SetPendingLimits(opts.MaxPending, opts.MaxPending*1024); err != nil {
			_ = sub.Unsubscribe()
			return nil, fmt.Errorf("consumer: pending limits: %w", err)
		}
		fctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err = nc.FlushWithContext(fctx)
		cancel()
		if err != nil {
			_ = sub.Unsubscribe()
			return nil, fmt.Errorf("consumer: flush subscription: %w", err)
		}
		c.pending = func() int {
			n, _, _ := sub.Pending()
			return n
		}
		c.unsub = func() int {
			n, _ := sub.Dropped()
			_ = sub.Unsubscribe()
			return n
		}
	} else {
		js, err := jetstream.New(nc)
		if err != nil {
			return nil, fmt.Errorf("consumer: jetstream: %w", err)
		}
		cons, err := js.OrderedConsumer(ctx, opts.Stream, jetstream.OrderedConsumerConfig{
			FilterSubjects: []string{opts.Subject},
			DeliverPolicy:  jetstream.DeliverAllPolicy,
		})
		if err != nil {
			return nil, fmt.Errorf("consumer: ordered consumer on %s: %w", opts.Stream, err)
		}
		cc, err := cons.Consume(func(m jetstream.Msg) { c.record(m.Data(), time.Now()) })
		if err != nil {
			return nil, fmt.Errorf("consumer: consume %s: %w", opts.Stream, err)
		}
		c.unsub = func() int {
			cc.Stop()
			<-cc.Closed()
			return 0
		}
	}
	go c.wait(ctx)
	return c, nil
}

// record handles one envelope; the subscription delivers one at a time.
func (c *Consumer) record(data []byte, now time.Time) {
	id, ok := MessageID(data, c.opts.Validate)
	r := loss.Received{MessageID: id, At: now}
	c.mu.Lock()
	select {
	case <-c.done:
		c.mu.Unlock()
		return // arrived after the read ended; not counted
	default:
	}
	if c.opts.OnEnvelope != nil {
		c.opts.OnEnvelope(r)
	}
	c.res.Count++
	if !ok {
		c.res.Invalid++
	}
	if c.opts.OnEnvelope == nil {
		c.res.Received = append(c.res.Received, r)
	}
	if c.opts.Count > 0 && c.res.Count == c.opts.Count {
		close(c.counted)
	}
	c.mu.Unlock()
	select {
	case c.arrived <- struct{}{}:
	default:
	}
}

func (c *Consumer) wait(ctx context.Context) {
	timeout := time.NewTimer(c.opts.Timeout)
	defer timeout.Stop()
	idle := time.NewTimer(time.Hour)
	idle.Stop()
	defer idle.Stop()
	reason := ""
	for reason == "" {
		select {
		case <-c.arrived:
			idle.Reset(c.opts.Idle)
		case <-idle.C:
			reason = StoppedIdle
		case <-c.counted:
			reason = StoppedCount
		case <-timeout.C:
			reason = StoppedTimeout
		case <-ctx.Done():
			reason = StoppedContext
		case <-c.stopped:
			reason = StoppedStop
		}
	}
	dropped := c.unsub()
	c.mu.Lock()
	c.res.Stopped = reason
	c.res.Dropped = dropped
	close(c.done)
	c.mu.Unlock()
}

// Pending returns the envelopes a core subscription has received from the
// server and not yet handled (the consumer's own backlog); 0 for a stream.
func (c *Consumer) Pending() int {
	if c.pending == nil {
		return 0
	}
	return c.pending()
}

// Stop ends the read early; Wait then returns what was read.
func (c *Consumer) Stop() {
	c.stopOnce.Do(func() { close(c.stopped) })
}

// Wait blocks until the read ends and returns its result. It returns an
// error, with the result, when the read ended other than by reaching Count
// (if Count was set) or when messages were dropped.
func (c *Consumer) Wait() (Result, error) {
	<-c.done
	c.mu.Lock()
	res := c.res
	c.mu.Unlock()
	var err error
	switch {
	case res.Dropped > 0:
		err = fmt.Errorf("consumer: %d messages dropped as a slow consumer", res.Dropped)
	case c.opts.Count > 0 && res.Stopped != StoppedCount:
		err = fmt.Errorf("consumer: read %d of %d envelopes: %w", res.Count, c.opts.Count, ErrIncomplete)
	}
	return res, err
}

// ErrIncomplete is wrapped by Wait's error when Count was not reached.
var ErrIncomplete = errors.New("consumer: stopped before the count")

var messageIDKey = []byte(`"messageId":"`)

// MessageID returns an envelope's payload.messageId and whether it could be
// read. Without validate it finds the first "messageId" key, which in every
// envelope this project's producers write is payload.messageId (payload's
// keys come before raw.tags, and a key can't occur unescaped inside a JSON
// string); it falls back to encoding/json when the id holds an escape. With
// validate, the whole envelope is decoded with encoding/json.
func MessageID(data []byte, validate bool) (string, bool) {
	if !validate {
		if i := bytes.Index(data, messageIDKey); i >= 0 {
			rest := data[i+len(messageIDKey):]
			if j := bytes.IndexByte(rest, '"'); j > 0 && bytes.IndexByte(rest[:j], '\\') < 0 {
				return string(rest[:j]), true
			}
		}
	}
	var env struct {
		Payload struct {
			MessageID string `json:"messageId"`
		} `json:"payload"`
	}
	if err := json.Unmarshal(data, &env); err != nil || env.Payload.MessageID == "" {
		return "", false
	}
	return env.Payload.MessageID, true
}
