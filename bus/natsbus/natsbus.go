// Package natsbus is the NATS transport of bus: JetStream publishes with
// acknowledgements and deduplication (at-least-once, duplicates removed
// within the stream's window), or plain core NATS (at-most-once).
//
// JetStream mode: every message is published asynchronously with
// Nats-Msg-Id = Message.MsgID and a reply subject of its batch, on which the
// stream answers; the number of unanswered publishes is bounded
// (Options.MaxPending) and each batch has an ack timeout
// (Options.AckTimeout). A publish that fails because the connection
// dropped (ErrDisconnected, reported for every publish waiting for its
// answer when the connection drops) or whose ack timed out is published
// again by bus.Publisher with the same id, and the stream drops the
// duplicate. The connection never gives
// up reconnecting (MaxReconnects -1); while it is down, sends are classified
// bus.Unavailable, so the publisher keeps its messages, blocks its callers
// when its queue is full, and delivers when the server is back.
//
// Core mode: messages are written to the connection and counted as
// delivered; nothing confirms that a subscriber, or the server, got them. A
// message in flight when the connection drops may be lost. Use it for speed
// when losing a message is acceptable. Core NATS deduplicates nothing, so
// core messages carry no Nats-Msg-Id header (the envelope's id is in its
// body).
package natsbus

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ingress-egress/ingress-egress/bus"
)

// Mode selects the delivery guarantee.
type Mode int

const (
	// JetStream publishes to a stream and waits for its acknowledgement:
	// at-least-once, deduplicated by Nats-Msg-Id within the stream's window.
	JetStream Mode = iota
	// Core publishes plain NATS messages: at-most-once.
	Core
)

// Header names set on every message (when the value is not empty;
// Nats-Msg-Id in JetStream mode only).
const (
	HeaderMsgID       = "Nats-Msg-Id" // jetstream.MsgIDHeader
	HeaderTraceParent = "traceparent"
	HeaderContentType = "Content-Type"
)

// Options configure a Driver. The zero value connects to nats://127.0.0.1:4222
// in JetStream mode and does not create a stream.
type Options struct {
	// URL is the server URL, or a comma-separated list (NATS_URL).
	// Default nats.DefaultURL ("nats://127.0.0.1:4222").
	URL string
	// Mode is JetStream (default) or Core.
	Mode Mode
	// Name is the connection name shown by the server. Default "ingress-egress".
	Name string

	// CredsFile is a NATS credentials (.creds) file (NATS_CREDS). Default none.
	CredsFile string
	// Token is an auth token (NATS_TOKEN). It is a secret: it is never logged
	// and never appears in Stats or errors of this package.
	Token string
	// TLS is a client TLS configuration; nil uses TLS only for tls:// URLs
	// with the system roots (plus the files below).
	TLS *tls.Config
	// TLSCAFile, TLSCertFile, TLSKeyFile are PEM files for the server's CA
	// and a client certificate (mutual TLS). Default none.
	TLSCAFile, TLSCertFile, TLSKeyFile string

	// AckTimeout is how long a JetStream publish waits for its ack before
	// it fails (and is published again). Default 5 s.
	AckTimeout time.Duration
	// MaxPending bounds the JetStream messages sent whose batch is still
	// waited for; a send beyond it waits (up to 200 ms, then the rest of
	// the batch is retried). Keep it at least the publisher's window
	// (bus.Options.BatchSize*MaxInFlight). Default 4096.
	MaxPending int
	// ReconnectWait is the pause between reconnect attempts (jittered).
	// Default 1 s.
	ReconnectWait time.Duration
	// ReconnectJitter is the random extra pause added to ReconnectWait.
	// Default 100 ms.
	ReconnectJitter time.Duration
	// ReconnectBufSize bounds what the connection buffers while
	// reconnecting; beyond it sends fail and the publisher retries them.
	// Default 8 MiB.
	ReconnectBufSize int
	// PingInterval is how often the client pings an idle server; after 3
	// unanswered pings the connection is declared stale and re-dialled.
	// Default 20 s.
	PingInterval time.Duration

	// Stream, when not nil, is created (or updated) at New, so that the
	// subjects are stored. Off by default: in production the stream belongs
	// to the platform.
	Stream *StreamOptions

	// Logger receives connection state changes.
	// Nil discards, as in every package of the service: main passes its
	// logger.
	Logger *slog.Logger
}

// StreamOptions describe the stream EnsureStream creates.
type StreamOptions struct {
	// Name of the stream (NATS_STREAM). Default "INGRESS".
	Name string
	// Subjects the stream stores. Required.
	Subjects []string
	// Duplicates is the deduplication window. It must be at least the
	// longest time a message can spend being re-sent: bus.Options.RetrySpan()
	// plus (MaxRetries+1) ack timeouts. Default 2 min (which covers the
	// defaults, 3.1 s + 6×5 s). An outage longer than the window can produce
	// a duplicate for a message whose ack was lost.
	Duplicates time.Duration
	// MaxAge bounds how long messages are kept. Default 0 (forever).
	MaxAge time.Duration
	// MaxBytes bounds the stream's size (oldest messages are discarded).
	// Default -1 (unlimited).
	MaxBytes int64
	// Memory stores the stream in memory instead of files.
	Memory bool
}

func (o *Options) setDefaults() {
	if o.URL == "" {
		o.URL = nats.DefaultURL
	}
	if o.Name == "" {
		o.Name = "ingress-egress"
	}
	if o.AckTimeout <= 0 {
		o.AckTimeout = 5 * time.Second
	}
	if o.MaxPending <= 0 {
		o.MaxPending = 4096
	}
	if o.ReconnectWait <= 0 {
		o.ReconnectWait = time.Second
	}
	if o.ReconnectJitter <= 0 {
		o.ReconnectJitter = 100 * time.Millisecond
	}
	if o.ReconnectBufSize == 0 {
		o.ReconnectBufSize = 8 << 20
	}
	if o.PingInterval <= 0 {
		o.PingInterval = 20 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// Driver publishes to NATS. It implements bus.Driver, bus.Readier and
// bus.SendSettler.
type Driver struct {
	opts Options
	nc   *nats.Conn
	js   jetstream.JetStream // stream management
	acks *acks               // JetStream mode: the publishes' answers
	// acksSet is acks for the connection's callbacks, which may run
	// before New returns.
	acksSet atomic.Pointer[acks]
	log     *slog.Logger
	// up follows the connection's state through its callbacks, so that
	// Ready and error classification never wait for the connection's lock,
	// which nats.go holds while it writes to a slow socket (seconds: a
	// /readyz probe would time out).
	up atomic.Bool
	// streamReady is closed once Options.Stream exists as configured; nil
	// when there is no stream to ensure.
	streamReady chan struct{}
	stopStream  context.CancelFunc // ends ensureStreamLoop (Close)
}

// CheckURL reports whether s, a comma-separated list of server URLs as in
// Options.URL, can be used: each has a scheme nats.go knows (nats, tls, ws,
// wss) and a host. Errors never show user information.
func CheckURL(s string) error {
	for _, p := range strings.Split(s, ",") {
		p = strings.TrimSpace(p)
		u, err := url.Parse(p)
		if err != nil {
			return fmt.Errorf("natsbus: %s is not a URL", RedactURL(p))
		}
		switch u.Scheme {
		case "nats", "tls", "ws", "wss":
		default:
			return fmt.Errorf("natsbus: %s: scheme %q, want nats, tls, ws or wss", RedactURL(p), u.Scheme)
		}
		if u.Hostname() == "" {
			return fmt.Errorf("natsbus: %s has no host", RedactURL(p))
		}
	}
	return nil
}

// RedactURL returns the URL list with any user information removed, for logs.
func RedactURL(s string) string {
	parts := strings.Split(s, ",")
	for i, p := range parts {
		u, err := url.Parse(strings.TrimSpace(p))
		if err != nil {
			parts[i] = "(unparsable url)"
			continue
		}
		if u.User != nil {
			u.User = url.User("REDACTED")
		}
		parts[i] = u.String()
	}
	return strings.Join(parts, ",")
}

// New connects and returns at once: the connection keeps retrying in the
// background if the server is not up yet. With opts.Stream the stream is
// created or updated in the background too, until Close: the driver is not
// Ready, and Send waits, until it exists.
func New(ctx context.Context, opts Options) (*Driver, error) {
	opts.setDefaults()
	d := &Driver{opts: opts, log: opts.Logger.With("component", "natsbus")}
	nopts := []nats.Option{
		nats.Name(opts.Name),
		nats.MaxReconnects(-1),
		nats.RetryOnFailedConnect(true),
		nats.ReconnectWait(opts.ReconnectWait),
		nats.ReconnectJitter(opts.ReconnectJitter, opts.ReconnectJitter),
		nats.ReconnectBufSize(opts.ReconnectBufSize),
		nats.PingInterval(opts.PingInterval),
		nats.MaxPingsOutstanding(3),
		nats.ConnectHandler(func(*nats.Conn) { d.up.Store(true) }),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			d.up.Store(false)
			if a := d.acksSet.Load(); a != nil {
				// What was sent before cannot be answered any more: the
				// publisher sends it again (the stream drops the copies).
				a.failAll(nats.ErrDisconnected)
			}
			if err == nil { // our own Close: not an outage
				d.log.Debug("nats: disconnected by close")
				return
			}
			d.log.Warn("nats: disconnected", "error", errString(err))
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			d.up.Store(true)
			d.log.Info("nats: reconnected", "server", RedactURL(nc.ConnectedUrlRedacted()))
		}),
		// A refused token or credentials must not close the connection
		// for good: the server's side may be fixed (a rotation) and the
		// service must recover without a restart. Every failed attempt
		// is logged (the logger rate-limits repeats).
		nats.IgnoreAuthErrorAbort(),
		nats.ReconnectErrHandler(func(_ *nats.Conn, err error) {
			d.log.Warn("nats: connect failed", "error", errString(err))
		}),
		nats.ClosedHandler(func(nc *nats.Conn) {
			d.up.Store(false)
			if err := nc.LastError(); err != nil {
				d.log.Error("nats: connection closed", "error", errString(err))
				return
			}
			d.log.Info("nats: connection closed")
		}),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			d.log.Warn("nats: async error", "error", errString(err))
		}),
	}
	if opts.CredsFile != "" {
		nopts = append(nopts, nats.UserCredentials(opts.CredsFile))
	}
	if opts.Token != "" {
		nopts = append(nopts, nats.Token(opts.Token))
	}
	if opts.TLS != nil {
		nopts = append(nopts, nats.Secure(opts.TLS))
	}
	if opts.TLSCAFile != "" {
		nopts = append(nopts, nats.RootCAs(opts.TLSCAFile))
	}
	if opts.TLSCertFile != "" || opts.TLSKeyFile != "" {
		nopts = append(nopts, nats.ClientCert(opts.TLSCertFile, opts.TLSKeyFile))
	}
	nc, err := nats.Connect(opts.URL, nopts...)
	if err != nil {
		return nil, fmt.Errorf("natsbus: connect %s: %w", RedactURL(opts.URL), err)
	}
	d.nc = nc
	if nc.IsConnected() {
		d.up.Store(true)
	}
	if opts.Mode == JetStream {
		d.js, err = jetstream.New(nc)
		if err == nil {
			d.acks, err = newAcks(nc, opts.MaxPending, d.classifyWaited)
			d.acksSet.Store(d.acks)
		}
		if err != nil {
			nc.Close()
			return nil, fmt.Errorf("natsbus: jetstream: %w", err)
		}
	}
	if opts.Stream != nil {
		// In the background: a bus that is down at start must not hold the
		// service's start (and its liveness endpoint) back. Until the
		// stream exists the driver is not ready and Send waits.
		d.streamReady = make(chan struct{})
		sctx, cancel := context.WithCancel(context.Background())
		d.stopStream = cancel
		go d.ensureStreamLoop(sctx, *opts.Stream)
	}
	d.log.Info("nats: publisher connecting", "url", RedactURL(opts.URL), "mode", opts.Mode.String())
	return d, nil
}

func (m Mode) String() string {
	if m == Core {
		return "core"
	}
	return "jetstream"
}

// EnsureStream creates the stream, or updates it to s, waiting for the
// connection until ctx is done.
func (d *Driver) EnsureStream(ctx context.Context, s StreamOptions) error {
	if d.js == nil {
		js, err := jetstream.New(d.nc)
		if err != nil {
			return fmt.Errorf("natsbus: jetstream: %w", err)
		}
		d.js = js
	}
	if s.Name == "" {
		s.Name = "INGRESS"
	}
	if s.Duplicates <= 0 {
		s.Duplicates = 2 * time.Minute
	}
	if s.MaxBytes == 0 {
		s.MaxBytes = -1
	}
	cfg := jetstream.StreamConfig{
		Name: s.Name, Subjects: s.Subjects, Duplicates: s.Duplicates,
		MaxAge: s.MaxAge, MaxBytes: s.MaxBytes, Storage: jetstream.FileStorage,
	}
	if s.Memory {
		cfg.Storage = jetstream.MemoryStorage
	}
	for {
		_, err := d.js.CreateOrUpdateStream(ctx, cfg)
		if err == nil {
			return nil
		}
		if !errors.Is(err, nats.ErrConnectionReconnecting) && !errors.Is(err, nats.ErrNoResponders) &&
			!errors.Is(err, nats.ErrTimeout) && !errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("natsbus: stream %s: %w", s.Name, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("natsbus: stream %s: %w (%w)", s.Name, ctx.Err(), err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// streamRetry is the wait before the stream is tried again after a
// refusal (a conflicting configuration an operator may fix).
const streamRetry = 5 * time.Second

// ensureStreamLoop creates or updates the stream until it succeeds or ctx
// is done, then closes streamReady.
func (d *Driver) ensureStreamLoop(ctx context.Context, s StreamOptions) {
	for {
		err := d.EnsureStream(ctx, s)
		if err == nil {
			d.log.Info("nats: stream ready", "stream", cmp.Or(s.Name, "INGRESS"))
			close(d.streamReady)
			return
		}
		if ctx.Err() != nil {
			return
		}
		d.log.Error("nats: cannot create or update the stream; retrying", "error", errString(err),
			"retryIn", streamRetry.String())
		select {
		case <-ctx.Done():
			return
		case <-time.After(streamRetry):
		}
	}
}

// streamOK reports whether the stream to ensure, if any, exists.
func (d *Driver) streamOK() bool {
	if d.streamReady == nil {
		return true
	}
	select {
	case <-d.streamReady:
		return true
	default:
		return false
	}
}

// Conn returns the underlying connection (for tests and status pages).
func (d *Driver) Conn() *nats.Conn { return d.nc }

// Ready reports whether the connection is up and the stream to ensure, if
// any, exists.
func (d *Driver) Ready() bool { return d.up.Load() && d.streamOK() }

// batchState is the driver's per-batch state, kept in bus.Batch.State and
// reused batch after batch: nothing of the per-message work that repeats
// (the nats.Msg, its header map and the map's value slices) is allocated
// again.
type batchState struct {
	// msgs and hdrs (JetStream) are one per message of the batch, kept
	// until Wait returns: a message answered "in process" is published
	// again as it was.
	msgs []nats.Msg
	hdrs []nats.Header
	core nats.Msg    // core mode: one message, written out before the next
	hdr  nats.Header // core mode: its header, reset for every message

	// JetStream answers (acks.go). Guarded by acks.mu while the batch is
	// registered, except done and held, Wait's own.
	token     uint64 // the batch's number in its reply subjects
	pending   int    // messages without an answer
	answered  []bool
	errs      []error // classified outcomes, nil: stored
	inProcess []bool  // the answer was "duplicate message id is in process"
	done      chan struct{}
	held      int // room taken in MaxPending
	sentAt    time.Time

	replies  string // every reply subject of the batch, end to end
	replyAt  []int  // where reply i starts in replies
	replyBuf []byte
}

// resize makes st's answer slices n long and unanswered.
func (st *batchState) resize(n int) {
	if cap(st.answered) < n {
		st.answered = make([]bool, n)
		st.errs = make([]error, n)
		st.inProcess = make([]bool, n)
		st.replyAt = make([]int, n+1)
	}
	st.answered = st.answered[:n]
	st.errs = st.errs[:n]
	st.inProcess = st.inProcess[:n]
	st.replyAt = st.replyAt[:n+1]
	clear(st.answered)
	clear(st.errs)
	clear(st.inProcess)
}

// setHeader sets h (a map reused message after message) to m's headers,
// and returns it, or nil when m has none. Core NATS does not deduplicate:
// withID false leaves Nats-Msg-Id out, where it would only cost bytes on
// the wire and their serialisation; the envelope's deterministic id stays
// in its JSON body either way.
func setHeader(h nats.Header, m *bus.Message, withID bool) nats.Header {
	set := func(key, v string) {
		switch s := h[key]; {
		case v == "":
			delete(h, key)
		case len(s) == 1:
			s[0] = v
		default:
			h[key] = []string{v}
		}
	}
	if withID {
		set(HeaderMsgID, m.MsgID)
	} else {
		delete(h, HeaderMsgID)
	}
	set(HeaderTraceParent, m.TraceParent)
	set(HeaderContentType, m.ContentType)
	if len(h) == 0 {
		return nil
	}
	return h
}

// state returns b's state, grown to n messages.
func (d *Driver) state(b *bus.Batch) *batchState {
	st, _ := b.State.(*batchState)
	if st == nil {
		st = &batchState{hdr: make(nats.Header, 3), done: make(chan struct{}, 1)}
		b.State = st
	}
	if d.opts.Mode == JetStream && len(st.msgs) < len(b.Msgs) {
		n := max(len(b.Msgs), cap(b.Msgs))
		st.msgs = append(st.msgs, make([]nats.Msg, n-len(st.msgs))...)
		for len(st.hdrs) < n {
			st.hdrs = append(st.hdrs, make(nats.Header, 3))
		}
	}
	return st
}

// Send implements bus.Driver.
func (d *Driver) Send(ctx context.Context, b *bus.Batch) {
	st := d.state(b)
	if d.opts.Mode == Core {
		for i := range b.Msgs {
			m := &b.Msgs[i]
			st.core = nats.Msg{Subject: m.Subject, Data: m.Data, Header: setHeader(st.hdr, m, false)}
			b.Errs[i] = d.classify(d.nc.PublishMsg(&st.core))
		}
		st.core = nats.Msg{}
		return
	}
	st.token = 0 // until registered: Wait has nothing to wait for
	if d.streamReady != nil {
		select {
		case <-d.streamReady:
		case <-ctx.Done():
			for i := range b.Msgs {
				b.Errs[i] = bus.Unavailable(ctx.Err())
			}
			return
		}
	}
	n := len(b.Msgs)
	d.acks.add(st, n)
	st.sentAt = time.Now()
	var stall *time.Timer
	stalled := false
	for i := range b.Msgs {
		if err := ctx.Err(); err != nil {
			// The publisher gave up (shutdown deadline): do not write the
			// rest of the batch to a slow connection, where each write can
			// block.
			d.acks.settle(st, st.token, i, bus.Unavailable(err), false)
			continue
		}
		if stalled || !d.acks.acquire(st, &stall) {
			// MaxPending messages await their answers: the rest of the
			// batch is sent again later.
			stalled = true
			d.acks.settle(st, st.token, i, bus.Unavailable(jetstream.ErrTooManyStalledMsgs), false)
			continue
		}
		m := &b.Msgs[i]
		st.msgs[i] = nats.Msg{Subject: m.Subject, Reply: st.reply(i), Data: m.Data, Header: setHeader(st.hdrs[i], m, true)}
		if err := d.nc.PublishMsg(&st.msgs[i]); err != nil {
			d.acks.settle(st, st.token, i, d.classify(err), false)
		}
	}
	if stall != nil {
		stall.Stop()
	}
}

// SendSettles implements bus.SendSettler: in core mode Send settles every
// message (nothing acknowledges them), so the publisher settles a batch
// without handing it to another goroutine.
func (d *Driver) SendSettles() bool { return d.opts.Mode == Core }

// Wait implements bus.Driver: it waits until JetStream answered every
// message of the batch, for at most the ack timeout. The batch's last
// answer wakes it, once. In core mode there is nothing to wait for.
//
// "Duplicate message id is in process" (409, error code 10158) means that
// a clustered stream is storing another copy of the same Nats-Msg-Id at
// this moment: several replicas of the service publish every message. It
// is not a failure of this copy: Wait publishes it again after a short
// pause, quietly, until the stream answers with the stored copy's
// duplicate ack, for at most one more ack timeout (then the error goes to
// the publisher, which retries as for any other).
func (d *Driver) Wait(ctx context.Context, b *bus.Batch) {
	st, _ := b.State.(*batchState)
	if d.opts.Mode == Core || st == nil || st.token == 0 {
		return
	}
	defer d.acks.remove(st)
	deadline := st.sentAt.Add(d.opts.AckTimeout)
	var inProcessUntil time.Time
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	var why error // why some messages have no answer
wait:
	for {
		select {
		case <-st.done:
		case <-t.C:
			why = d.classifyWaited(jetstream.ErrAsyncPublishTimeout)
			break wait
		case <-ctx.Done():
			// Written and unanswered: the stream may have stored them.
			why = bus.NoAnswer(bus.Unavailable(ctx.Err()))
			break wait
		}
		again, pending := d.inProcess(st)
		if len(again) == 0 {
			if pending == 0 {
				break
			}
			continue
		}
		now := time.Now()
		if inProcessUntil.IsZero() {
			inProcessUntil = now.Add(d.opts.AckTimeout)
		} else if now.After(inProcessUntil) {
			break
		}
		p := time.NewTimer(inProcessRetry)
		select {
		case <-p.C:
		case <-ctx.Done():
			p.Stop()
			why = bus.NoAnswer(bus.Unavailable(ctx.Err()))
			break wait
		}
		for _, i := range again {
			d.acks.rearm(st, i)
			if err := d.nc.PublishMsg(&st.msgs[i]); err != nil {
				d.acks.settle(st, st.token, i, d.classify(err), false)
			}
		}
		t.Reset(time.Until(now.Add(inProcessRetry + d.opts.AckTimeout)))
	}
	if why == nil {
		// Given up on retrying a copy "in process" with others still
		// unanswered: they count as timed out.
		why = d.classifyWaited(jetstream.ErrAsyncPublishTimeout)
	}
	d.acks.mu.Lock()
	for i := range b.Msgs {
		if st.answered[i] {
			b.Errs[i] = st.errs[i]
		} else {
			b.Errs[i] = why
		}
	}
	d.acks.mu.Unlock()
	// The messages' data belongs to the publisher's queue: do not hold it
	// past the batch (the header maps stay, for the next batch).
	clear(st.msgs)
}

// inProcess returns the messages of st answered "in process", and how
// many have no answer.
func (d *Driver) inProcess(st *batchState) (again []int, pending int) {
	d.acks.mu.Lock()
	defer d.acks.mu.Unlock()
	for i, ok := range st.inProcess {
		if ok && st.answered[i] {
			again = append(again, i)
		}
	}
	return again, st.pending
}

// inProcessRetry is the pause before a publish that JetStream answered
// "duplicate message id is in process" is sent again.
const inProcessRetry = 20 * time.Millisecond

// codeInProcess is JetStream's error code for "duplicate message id is in
// process" (JSStreamDuplicateMessageConflict).
const codeInProcess = 10158

// InProcess reports whether err is JetStream's answer that another publish
// of the same Nats-Msg-Id is being stored right now (409, code 10158):
// the message is not refused, its other copy is on its way.
func InProcess(err error) bool {
	var api *jetstream.APIError
	if !errors.As(err, &api) {
		return false
	}
	return api.ErrorCode == codeInProcess ||
		(api.Code == 409 && strings.Contains(api.Description, "duplicate message id is in process"))
}

// Close closes the connection. In core mode it first flushes what the
// connection buffered (nothing else confirms those messages). In JetStream
// mode there is nothing to flush: by the time the publisher closes the
// driver every message is settled, acknowledged or given up on, and a flush
// through a slow or dead link would only hold the shutdown past its
// deadline.
func (d *Driver) Close() error {
	if d.stopStream != nil {
		d.stopStream()
	}
	if d.opts.Mode == Core && d.up.Load() {
		d.nc.FlushTimeout(d.opts.AckTimeout)
	}
	d.nc.Close()
	return nil
}

// classifyWaited classifies the failure of a message that was written to
// the connection: unless the server answered (a JetStream API error, or no
// responders: nobody took it), it failed without an answer — an ack
// timeout, the connection lost after the write — and the stream may have
// stored it.
func (d *Driver) classifyWaited(err error) error {
	var api *jetstream.APIError
	if errors.As(err, &api) || errors.Is(err, nats.ErrNoResponders) || errors.Is(err, jetstream.ErrNoStreamResponse) {
		return d.classify(err)
	}
	return bus.NoAnswer(d.classify(err))
}

// classify sorts NATS errors into bus's classes.
func (d *Driver) classify(err error) error {
	if err == nil {
		return nil
	}
	var api *jetstream.APIError
	switch {
	case errors.Is(err, nats.ErrHeadersNotSupported) && !d.up.Load():
		// Before the first connection the client does not know the
		// server yet and refuses every header: the bus is down, not the
		// message wrong.
		return bus.Unavailable(err)
	case errors.Is(err, nats.ErrMaxPayload), errors.Is(err, nats.ErrBadSubject),
		errors.Is(err, nats.ErrHeadersNotSupported), errors.Is(err, nats.ErrPermissionViolation),
		errors.Is(err, nats.ErrInvalidMsg):
		return bus.Permanent(err)
	case errors.Is(err, nats.ErrDisconnected), errors.Is(err, nats.ErrConnectionClosed),
		errors.Is(err, nats.ErrConnectionReconnecting), errors.Is(err, nats.ErrReconnectBufExceeded),
		errors.Is(err, nats.ErrNoResponders), errors.Is(err, jetstream.ErrNoStreamResponse),
		errors.Is(err, jetstream.ErrTooManyStalledMsgs), errors.Is(err, nats.ErrConnectionDraining):
		return bus.Unavailable(err)
	case errors.As(err, &api):
		switch api.ErrorCode {
		case jetstream.JSErrCodeStreamMessageExceedsMaximum,
			jetstream.JSErrCodeStreamWrongLastSequence,
			jetstream.JSErrCodeStreamWrongLastSequenceConstant:
			return bus.Permanent(err)
		case 10077: // JSStreamStoreFailedF: "maximum messages/bytes exceeded" with discard new
			if strings.Contains(api.Description, "exceeded") {
				return bus.Permanent(err)
			}
		case jetstream.JSErrCodeJetStreamNotEnabled, jetstream.JSErrCodeJetStreamNotEnabledForAccount:
			return bus.Unavailable(err)
		}
		if api.Code == 503 {
			return bus.Unavailable(err)
		}
		return err
	}
	if !d.up.Load() {
		// An ack timeout (or anything else) while the link is down says
		// nothing about the message.
		return bus.Unavailable(err)
	}
	return err
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
