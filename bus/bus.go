// Package bus publishes encoded envelopes to a message bus without losing
// them: a bounded queue, batching, retries with backoff, failure events, and
// backpressure instead of drops.
//
// The transports live in subpackages that import bus (natsbus, embedded,
// pubsubbus, stdoutbus) and implement Driver; bustest has an in-memory fake.
//
// Every message that Publish accepts ends as exactly one of:
//
//   - acknowledged by the bus (Stats.Acked);
//   - published as a failure event on Options.Prefix + "internal.finalize.v1"
//     after its retries ran out or a permanent error (Stats.FailureEvents);
//   - given up, logged at error level with its id (in entries of bounded
//     size, see Report.Log) and counted, when even the failure event could
//     not be published or Close gave up: as lost (Stats.Lost) when it never
//     reached the bus or the bus refused it, as unknown (Stats.Unknown)
//     when it was sent and no answer came, so that the bus may have
//     stored it.
//
// so that Accepted == Acked + FailureEvents + Lost + Unknown + Pending at
// any moment.
package bus

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"time"
)

// Subjects (topics) of the platform, without the deployment's prefix.
const (
	Ingress  = "internal.ingress.v1"
	Finalize = "internal.finalize.v1"
)

// Message is one encoded envelope and its transport hints.
type Message struct {
	// Subject is the full subject or topic, prefix included.
	Subject string
	// Data is the encoded envelope. Publish copies it: the caller may reuse
	// the buffer as soon as Publish returns.
	Data []byte
	// MsgID is the deduplication key (Nats-Msg-Id, a Pub/Sub attribute): the
	// Twitch message id when there is one. Empty means none.
	MsgID string
	// TraceParent is a W3C traceparent header value, or empty.
	TraceParent string
	// ContentType is the payload's media type, or empty.
	ContentType string
	// Received is when the message was read from its source (the IRC
	// line's receive time); Stats.AckLatency measures from it to the
	// acknowledgement. Zero leaves the message out of the histogram.
	Received time.Time
}

// AckLatencyBuckets are the upper bounds, in seconds, of the buckets of
// Stats.AckLatency.
var AckLatencyBuckets = [...]float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}

// Histogram counts observations in AckLatencyBuckets: Counts[i] holds those
// above bucket i-1's bound and at most bucket i's (not cumulative); those
// above every bound are only in Count.
type Histogram struct {
	Counts [len(AckLatencyBuckets)]uint64
	Count  uint64
	Sum    float64 // seconds
}

func (h *Histogram) observe(sec float64) {
	h.Count++
	h.Sum += sec
	for i, ub := range AckLatencyBuckets {
		if sec <= ub {
			h.Counts[i]++
			return
		}
	}
}

// Batch is the unit a Driver works on. The Publisher owns it and reuses it
// batch after batch; a driver may keep its own per-batch state in State (set
// it once, reuse it: the same *Batch comes back).
type Batch struct {
	// Msgs are the messages, in order. They and their Data are valid until
	// Wait returns.
	Msgs []Message
	// Errs receives each message's outcome (len(Errs) == len(Msgs), all nil
	// on entry to Send): nil means the bus acknowledged it. Failures are
	// classified with Permanent and Unavailable (unclassified: retryable).
	Errs []error
	// State is the driver's, untouched by the Publisher.
	State any
}

// Driver is a transport, in two steps so that order and concurrency do not
// fight: Send puts a batch on the wire in order, Wait collects its
// acknowledgements while later batches are being sent.
type Driver interface {
	// Send submits b.Msgs in order. Calls to Send never overlap, so the
	// order of calls is the order of messages on the wire. Send may block
	// for the transport's flow control; it may also settle some or all of
	// b.Errs itself (a driver without acknowledgements does all its work
	// here).
	Send(ctx context.Context, b *Batch)
	// Wait blocks until every message of b has its outcome in b.Errs. It
	// is called once per Send, concurrently for up to Options.MaxInFlight
	// batches. It must return within the transport's ack timeout, and
	// promptly once ctx is done.
	Wait(ctx context.Context, b *Batch)
	// Close releases the transport. The Publisher calls it once, from
	// Publisher.Close, after draining.
	Close() error
}

// Readier is implemented by drivers that know whether the bus is reachable.
type Readier interface{ Ready() bool }

// SendSettler is implemented by drivers that may settle every message of a
// batch in Send, with nothing left for Wait (no acknowledgement: core NATS,
// stdout). When SendSettles reports true the publisher settles the batch
// right after Send on the goroutine that sent it (Wait is still called),
// instead of handing it to a sender goroutine: at moderate rates that is
// two goroutine wake-ups less per batch.
type SendSettler interface{ SendSettles() bool }

// Options configure a Publisher. The zero value is usable: every field has a
// default.
type Options struct {
	// Prefix is prepended to the failure subject (BUS_PREFIX). Default "".
	Prefix string
	// FailureSubject is where failure events go, before Prefix.
	// Default Finalize ("internal.finalize.v1").
	FailureSubject string

	// MaxQueue bounds the messages held (accepted, not yet settled).
	// Default 8192.
	MaxQueue int
	// MaxQueueBytes bounds the bytes of Data held; the buffer memory the
	// queue keeps for reuse is bounded by it as well. Default 32 MiB.
	MaxQueueBytes int
	// MaxMessageBytes is the largest Data Publish accepts (ErrTooLarge
	// beyond). Default 1 MiB (NATS's default max_payload); at most
	// MaxQueueBytes.
	MaxMessageBytes int

	// BatchSize is the most messages in one Driver.Send call. Default 256.
	BatchSize int
	// BatchBytes is the most bytes of Data in one batch (a single larger
	// message goes alone). Default 1 MiB.
	BatchBytes int
	// BatchDelay is how long a partial batch waits for more messages
	// (from its first message's acceptance), so that at moderate rates
	// the wake-ups, driver calls and socket flushes of a batch are paid
	// once for many messages. Messages accepted meanwhile do not end the
	// wait unless they fill a batch (BatchSize; a batch full by BatchBytes
	// waits the delay out). Flush and Close end it. Default 1 ms; negative
	// means no wait.
	BatchDelay time.Duration
	// MaxInFlight is the number of batches sent concurrently (the window is
	// BatchSize*MaxInFlight messages). Default 16.
	MaxInFlight int

	// MaxRetries is the number of re-sends after retryable failures before
	// a message becomes a failure event (PUBLISH_MAX_RETRIES). Default 5;
	// negative means none.
	MaxRetries int
	// RetryBackoff is the first backoff step. Default 100 ms.
	RetryBackoff time.Duration
	// MaxBackoff caps the backoff (before full jitter). Default 5 s.
	MaxBackoff time.Duration

	// FailureEnvelopeMax is the largest original envelope embedded whole in
	// a failure event; a larger one is embedded as a truncated string.
	// Default 64 KiB.
	FailureEnvelopeMax int

	// StallAfter is how long messages may be pending without any of them
	// settling (acknowledged, a failure event, given up) before the bus
	// counts as stalled: Ready turns false, a warning is logged (once per
	// stall, and an info when messages settle again), and Stats.Stalled
	// shows it. It catches a bus that takes messages and does not answer
	// (a frozen server) while its connection looks healthy. Default 10 s,
	// twice the NATS ack timeout; negative means never.
	StallAfter time.Duration

	// Logger receives state changes and lost messages.
	// Nil discards, as in every package of the service: main passes its
	// logger.
	Logger *slog.Logger
}

func (o *Options) setDefaults() {
	if o.FailureSubject == "" {
		o.FailureSubject = Finalize
	}
	if o.MaxQueue <= 0 {
		o.MaxQueue = 8192
	}
	if o.MaxQueueBytes <= 0 {
		o.MaxQueueBytes = 32 << 20
	}
	if o.MaxMessageBytes <= 0 {
		o.MaxMessageBytes = 1 << 20
	}
	o.MaxMessageBytes = min(o.MaxMessageBytes, o.MaxQueueBytes)
	if o.BatchSize <= 0 {
		o.BatchSize = 256
	}
	o.BatchSize = min(o.BatchSize, o.MaxQueue)
	if o.BatchBytes <= 0 {
		o.BatchBytes = 1 << 20
	}
	if o.BatchDelay == 0 {
		o.BatchDelay = time.Millisecond
	}
	if o.MaxInFlight <= 0 {
		o.MaxInFlight = 16
	}
	if o.MaxRetries == 0 {
		o.MaxRetries = 5
	} else if o.MaxRetries < 0 {
		o.MaxRetries = 0
	}
	if o.RetryBackoff <= 0 {
		o.RetryBackoff = 100 * time.Millisecond
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 5 * time.Second
	}
	o.MaxBackoff = max(o.MaxBackoff, o.RetryBackoff)
	if o.FailureEnvelopeMax <= 0 {
		o.FailureEnvelopeMax = 64 << 10
	}
	if o.StallAfter == 0 {
		o.StallAfter = 10 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// RetrySpan is the longest time a message can spend in retries with these
// options (the sum of the capped backoff steps, before jitter). A
// deduplication window (NATS stream Duplicates) should be at least this plus
// the transport's ack timeout times the attempts.
func (o Options) RetrySpan() time.Duration {
	o.setDefaults()
	var d time.Duration
	for n := range o.MaxRetries {
		d += backoffCap(o.RetryBackoff, o.MaxBackoff, n)
	}
	return d
}

// Stats is a snapshot of a Publisher. It carries no payload and no secret.
type Stats struct {
	Ready         bool          // not closed, not stalled, and the driver (if it can tell) reaches the bus
	Queued        int           // messages held in the queue (≤ MaxQueue)
	QueuedBytes   int64         // bytes of Data held (≤ MaxQueueBytes)
	RetainedBytes int64         // buffer capacity the queue holds, reused across messages
	Pending       int           // accepted and not yet settled
	OldestPending time.Duration // age of the oldest message not yet settled

	// Stalled is how long messages have been pending without one settling,
	// once that is at least Options.StallAfter; 0 otherwise. StalledSince
	// is when the last one settled (or the first of them was accepted),
	// zero when not stalled.
	Stalled      time.Duration
	StalledSince time.Time

	Accepted      uint64 // messages Publish accepted
	Acked         uint64 // acknowledged by the bus
	FailureEvents uint64 // ended as a failure event on the failure subject
	Lost          uint64 // given up, never acknowledged: not sent, or refused by the bus
	Unknown       uint64 // given up, sent without an answer: the bus may have stored it

	Retries          uint64        // re-sends after a retryable failure
	Unavailable      uint64        // sends refused because the bus was down (re-sent, no attempt spent)
	Permanent        uint64        // sends failed with a permanent error
	Batches          uint64        // Driver.Send calls for messages
	Blocked          uint64        // Publish calls that waited for room
	BackpressureWait time.Duration // total time Publish calls waited for room
	LastError        string        // the last send error (bounded, driver text)
	LastErrorAt      time.Time

	// AckLatency is the time from Message.Received to the bus's
	// acknowledgement, for acknowledged messages that carry Received.
	AckLatency Histogram
}

type slot struct {
	msg        Message // Data aliases buf
	buf        []byte
	enqAt      time.Time
	attempts   int // sends that failed retryably
	sends      int // sends in all
	lastErr    error
	settled    bool
	unanswered bool // a send ended without an answer (NoAnswer): it may be stored
}

type job struct {
	seqs   []uint64
	b      Batch
	failed []uint64 // seqs that become failure events

	evBuf []byte
	evOff []int
	ev    Batch
}

// Publisher batches messages to a Driver. It is safe for concurrent use.
type Publisher struct {
	d    Driver
	opts Options
	log  *slog.Logger

	ctx    context.Context // cancelled when Close gives up
	cancel context.CancelFunc

	sendMu sync.Mutex // serializes Driver.Send
	jobs   chan *job
	idle   chan *job
	wake   chan struct{}
	done   chan struct{} // closed when the dispatcher and senders have exited
	wg     sync.WaitGroup

	mu      sync.Mutex
	slots   []slot
	headSeq uint64 // oldest slot still held
	nextSeq uint64 // next new message to dispatch
	tailSeq uint64 // next sequence to assign
	bytes   int64
	retain  int64    // capacity of the slots' buffers and of spare
	spare   [][]byte // buffers of freed slots, reused last-in first-out
	pending int

	retry    []uint64 // seqs waiting for a re-send, sorted
	retryAt  time.Time
	backoffN int
	sleeping bool // the dispatcher waits for wake
	// lingering: the dispatcher sleeps until a deadline of its own (a
	// partial batch waiting out BatchDelay, or re-sends waiting out their
	// backoff). A Publish then wakes it only once a whole batch is
	// waiting: waking it for every message would cost a goroutine
	// wake-up per message at moderate rates, for nothing.
	lingering bool
	// linger is the dispatcher's timer. Publish arms it when a first
	// message arrives while the dispatcher sleeps with nothing to do, so
	// that the dispatcher wakes once, BatchDelay later, for the batch.
	linger *time.Timer
	// syncDriver: the driver settles batches in Send (SendSettler).
	syncDriver bool
	flushers   int
	closed     bool
	aborted    bool
	roomCh     chan struct{} // closed when room is made; nil when nobody waits
	settledCh  chan struct{} // closed when headSeq advances; nil when nobody waits
	lost       []Undelivered
	st         Stats

	progressAt  time.Time // last settlement, or the acceptance that ended an empty queue
	stallWarned bool      // the current stall was logged
}

// New starts a Publisher over d. Close it to drain and release d.
func New(d Driver, opts Options) *Publisher {
	opts.setDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	p := &Publisher{
		d: d, opts: opts, log: opts.Logger,
		ctx: ctx, cancel: cancel,
		jobs:   make(chan *job),
		idle:   make(chan *job, opts.MaxInFlight),
		wake:   make(chan struct{}, 1),
		done:   make(chan struct{}),
		slots:  make([]slot, opts.MaxQueue),
		retry:  make([]uint64, 0, opts.MaxQueue),
		linger: time.NewTimer(time.Hour),
	}
	p.linger.Stop()
	if s, ok := d.(SendSettler); ok {
		p.syncDriver = s.SendSettles()
	}
	for range opts.MaxInFlight {
		p.idle <- &job{
			seqs: make([]uint64, 0, opts.BatchSize),
			b: Batch{
				Msgs: make([]Message, 0, opts.BatchSize),
				Errs: make([]error, 0, opts.BatchSize),
			},
		}
		p.wg.Add(1)
		go p.sender()
	}
	p.wg.Add(1)
	go p.dispatch()
	go func() { p.wg.Wait(); close(p.done) }()
	if opts.StallAfter > 0 {
		go p.watch()
	}
	return p
}

// Publish copies m into the queue and returns without waiting for the
// network. When the queue is full (MaxQueue messages or MaxQueueBytes bytes)
// it blocks until there is room or ctx is done; it never drops. It returns
// ctx's error if ctx ended first, ErrClosed after Close, ErrNoSubject or
// ErrTooLarge for a message it refuses. A nil error means m is accepted and
// will end acknowledged, as a failure event, or counted lost.
func (p *Publisher) Publish(ctx context.Context, m Message) error {
	if m.Subject == "" {
		return ErrNoSubject
	}
	if len(m.Data) > p.opts.MaxMessageBytes {
		return ErrTooLarge
	}
	n := int64(len(m.Data))
	p.mu.Lock()
	var waitStart time.Time
	for {
		if p.closed {
			p.mu.Unlock()
			return ErrClosed
		}
		if int(p.tailSeq-p.headSeq) < len(p.slots) && (p.bytes+n <= int64(p.opts.MaxQueueBytes) || p.tailSeq == p.headSeq) {
			break
		}
		if waitStart.IsZero() {
			waitStart = time.Now()
			p.st.Blocked++
		}
		if p.roomCh == nil {
			p.roomCh = make(chan struct{})
		}
		ch := p.roomCh
		p.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			p.mu.Lock()
			p.st.BackpressureWait += time.Since(waitStart)
			p.mu.Unlock()
			return ctx.Err()
		}
		p.mu.Lock()
	}
	now := time.Now()
	if !waitStart.IsZero() {
		p.st.BackpressureWait += now.Sub(waitStart)
	}
	s := &p.slots[p.tailSeq%uint64(len(p.slots))]
	if s.buf == nil && len(p.spare) > 0 {
		s.buf = p.spare[len(p.spare)-1]
		p.spare[len(p.spare)-1] = nil
		p.spare = p.spare[:len(p.spare)-1]
	}
	oldCap := cap(s.buf)
	s.buf = append(s.buf[:0], m.Data...)
	p.retain += int64(cap(s.buf) - oldCap)
	m.Data = s.buf
	s.msg = m
	s.enqAt = now
	s.attempts = 0
	s.sends = 0
	s.lastErr = nil
	s.settled = false
	s.unanswered = false
	p.tailSeq++
	p.bytes += n
	if p.pending == 0 {
		p.progressAt = now // the stall clock starts with something to wait for
	}
	p.pending++
	p.st.Accepted++
	if p.sleeping && !p.lingering && p.opts.BatchDelay > 0 && p.flushers == 0 && p.tailSeq-p.nextSeq == 1 &&
		len(p.retry) == 0 && p.opts.BatchSize > 1 && len(m.Data) < p.opts.BatchBytes {
		// The first message of a batch while the dispatcher has nothing
		// to do: it would only wake to wait BatchDelay for more. The
		// timer wakes it when that is over.
		p.lingering = true
		p.linger.Reset(p.opts.BatchDelay)
		p.mu.Unlock()
		return nil
	}
	if p.sleeping && (!p.lingering || int(p.tailSeq-p.nextSeq) >= p.opts.BatchSize) {
		p.sleeping = false
		p.mu.Unlock()
		select {
		case p.wake <- struct{}{}:
		default:
		}
		return nil
	}
	p.mu.Unlock()
	return nil
}

// Flush sends what is queued without waiting for BatchDelay and waits until
// every message accepted before the call has settled (acknowledged, failure
// event, or lost), or ctx is done. During an outage it waits for the bus.
func (p *Publisher) Flush(ctx context.Context) error {
	p.mu.Lock()
	target := p.tailSeq
	p.flushers++
	defer func() {
		p.mu.Lock()
		p.flushers--
		p.mu.Unlock()
	}()
	p.kickLocked()
	for p.headSeq < target {
		if p.settledCh == nil {
			p.settledCh = make(chan struct{})
		}
		ch := p.settledCh
		p.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
		p.mu.Lock()
	}
	p.mu.Unlock()
	return nil
}

// Close stops intake (Publish returns ErrClosed, blocked callers too), sends
// everything queued and waits for it until ctx is done. What is still
// unsettled then is given up: counted (Stats.Lost when it never reached
// the bus or was refused, Stats.Unknown when it was sent and unanswered)
// and listed in the Report. Close then closes the driver, and logs every
// message it gave up with Report.Log. It returns ctx's error if it gave
// up, joined with the driver's Close error.
func (p *Publisher) Close(ctx context.Context) (Report, error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return Report{Stats: p.Stats()}, ErrClosed
	}
	p.closed = true
	p.broadcastRoomLocked()
	p.kickLocked()
	p.mu.Unlock()

	ferr := p.Flush(ctx)
	if ferr != nil {
		p.mu.Lock()
		p.aborted = true
		// Everything not in a sender's hands is abandoned now; the senders
		// abandon theirs when the cancelled context returns them.
		for _, seq := range p.retry {
			p.loseLocked(seq, joinErr(p.slot(seq).lastErr, ferr))
		}
		p.retry = p.retry[:0]
		for ; p.nextSeq < p.tailSeq; p.nextSeq++ {
			p.loseLocked(p.nextSeq, ferr)
		}
		p.advanceLocked()
		p.kickLocked()
		p.mu.Unlock()
		p.cancel()
	}
	<-p.done
	p.cancel()
	derr := p.d.Close()
	p.mu.Lock()
	rep := Report{Undelivered: p.lost}
	p.lost = nil
	p.mu.Unlock()
	rep.Stats = p.Stats()
	rep.Log(p.log)
	if ferr != nil || derr != nil {
		return rep, joinErr(ferr, derr)
	}
	return rep, nil
}

func joinErr(a, b error) error {
	switch {
	case a == nil:
		return b
	case b == nil:
		return a
	}
	return &joined{a, b}
}

type joined struct{ a, b error }

func (j *joined) Error() string   { return j.a.Error() + "; " + j.b.Error() }
func (j *joined) Unwrap() []error { return []error{j.a, j.b} }

// Ready reports whether the publisher accepts messages, is not stalled
// (Options.StallAfter) and, when the driver can tell, reaches the bus.
func (p *Publisher) Ready() bool {
	p.mu.Lock()
	closed := p.closed
	stalled, _ := p.stalledLocked(time.Now())
	p.mu.Unlock()
	if closed || stalled > 0 {
		return false
	}
	if r, ok := p.d.(Readier); ok {
		return r.Ready()
	}
	return true
}

// Stats returns a snapshot of the counters and the queue.
func (p *Publisher) Stats() Stats {
	ready := p.Ready()
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.st
	s.Ready = ready
	s.Queued = int(p.tailSeq - p.headSeq)
	s.QueuedBytes = p.bytes
	s.RetainedBytes = p.retain
	s.Pending = p.pending
	now := time.Now()
	if p.headSeq < p.tailSeq {
		s.OldestPending = now.Sub(p.slot(p.headSeq).enqAt)
	}
	s.Stalled, s.StalledSince = p.stalledLocked(now)
	return s
}

// stalledLocked returns how long messages have been pending without a
// settlement and since when, if that is StallAfter or more.
func (p *Publisher) stalledLocked(now time.Time) (time.Duration, time.Time) {
	if p.pending == 0 || p.opts.StallAfter <= 0 {
		return 0, time.Time{}
	}
	if d := now.Sub(p.progressAt); d >= p.opts.StallAfter {
		return d, p.progressAt
	}
	return 0, time.Time{}
}

// progressLocked notes that messages settled at now. When a stall had been
// reported it returns how long it lasted, for the caller to log once the
// lock is released.
func (p *Publisher) progressLocked(now time.Time) (resumedAfter time.Duration) {
	if p.stallWarned {
		p.stallWarned = false
		resumedAfter = now.Sub(p.progressAt)
	}
	p.progressAt = now
	return resumedAfter
}

// logResumed logs the end of a reported stall.
func (p *Publisher) logResumed(after time.Duration) {
	if after > 0 {
		p.log.Info("bus: messages settle again; ready", "stalledSeconds", after.Seconds())
	}
}

// watch logs a stall once when it reaches StallAfter. It wakes when the
// oldest possible stall would be due, and at least every StallAfter.
func (p *Publisher) watch() {
	t := time.NewTimer(p.opts.StallAfter)
	defer t.Stop()
	for {
		select {
		case <-p.done:
			return
		case <-t.C:
		}
		now := time.Now()
		next := p.opts.StallAfter
		p.mu.Lock()
		stalled, since := p.stalledLocked(now)
		warn := stalled > 0 && !p.stallWarned && !p.closed
		if warn {
			p.stallWarned = true
		}
		if stalled == 0 && p.pending > 0 {
			next = p.progressAt.Add(p.opts.StallAfter).Sub(now)
		}
		pending, lastErr := p.pending, p.st.LastError
		var oldest time.Duration
		if p.headSeq < p.tailSeq {
			oldest = now.Sub(p.slot(p.headSeq).enqAt)
		}
		p.mu.Unlock()
		if warn {
			p.log.Warn("bus: no message settled for a while with messages pending; not ready",
				"stalledSeconds", stalled.Seconds(), "stalledSince", since, "pending", pending,
				"oldestPendingSeconds", oldest.Seconds(), "lastError", lastErr, "errorCode", "bus_stalled")
		}
		t.Reset(next)
	}
}

func (p *Publisher) slot(seq uint64) *slot { return &p.slots[seq%uint64(len(p.slots))] }

func (p *Publisher) kickLocked() {
	if p.sleeping {
		p.sleeping = false
		select {
		case p.wake <- struct{}{}:
		default:
		}
	}
}

func (p *Publisher) broadcastRoomLocked() {
	if p.roomCh != nil {
		close(p.roomCh)
		p.roomCh = nil
	}
}

// dispatch forms batches and hands them to idle senders (or, for a driver
// that settles in Send, settles them itself).
func (p *Publisher) dispatch() {
	defer p.wg.Done()
	defer close(p.jobs)
	var j *job
	for {
		if j == nil {
			j = <-p.idle
		}
		p.mu.Lock()
		if p.closed && p.pending == 0 {
			p.mu.Unlock()
			return
		}
		wait := p.fillLocked(j, time.Now())
		if n := len(j.seqs); n > 0 {
			p.st.Batches++
			p.mu.Unlock()
			j.b.Msgs = j.b.Msgs[:n]
			j.b.Errs = j.b.Errs[:n]
			clear(j.b.Errs)
			p.sendMu.Lock()
			p.d.Send(p.ctx, &j.b)
			p.sendMu.Unlock()
			if p.syncDriver {
				p.settle(j)
				continue
			}
			p.jobs <- j
			j = nil
			continue
		}
		p.sleeping = true
		p.lingering = wait > 0
		if wait > 0 {
			p.linger.Reset(wait)
		}
		p.mu.Unlock()
		select {
		case <-p.wake:
		case <-p.linger.C:
		}
		p.mu.Lock()
		p.linger.Stop()
		p.sleeping = false
		p.lingering = false
		p.mu.Unlock()
	}
}

// fillLocked puts the next batch into j, or returns how long to wait (0:
// until woken).
func (p *Publisher) fillLocked(j *job, now time.Time) time.Duration {
	j.seqs = j.seqs[:0]
	if p.aborted {
		return 0
	}
	bytes := 0
	add := func(seq uint64) bool {
		s := p.slot(seq)
		n := len(s.msg.Data)
		if len(j.seqs) > 0 && (len(j.seqs) == p.opts.BatchSize || bytes+n > p.opts.BatchBytes) {
			return false
		}
		j.b.Msgs = append(j.b.Msgs[:len(j.seqs)], s.msg)
		j.seqs = append(j.seqs, seq)
		s.sends++
		bytes += n
		return true
	}
	if len(p.retry) > 0 {
		// Re-sends go first, and new messages wait behind them, so that a
		// failure does not reorder more than the window in flight.
		if d := p.retryAt.Sub(now); d > 0 {
			return d
		}
		i := 0
		for i < len(p.retry) && add(p.retry[i]) {
			i++
		}
		p.retry = append(p.retry[:0], p.retry[i:]...)
		return 0
	}
	unsent := p.tailSeq - p.nextSeq
	if unsent == 0 {
		return 0
	}
	if p.opts.BatchDelay > 0 && int(unsent) < p.opts.BatchSize && p.flushers == 0 && !p.closed {
		if d := p.opts.BatchDelay - now.Sub(p.slot(p.nextSeq).enqAt); d > 0 {
			ub := 0
			for seq := p.nextSeq; seq < p.tailSeq; seq++ {
				ub += len(p.slot(seq).msg.Data)
			}
			if ub < p.opts.BatchBytes {
				return d
			}
		}
	}
	for p.nextSeq < p.tailSeq && add(p.nextSeq) {
		p.nextSeq++
	}
	return 0
}

// sender waits for a sent batch's acknowledgements and settles it.
func (p *Publisher) sender() {
	defer p.wg.Done()
	for j := range p.jobs {
		p.settle(j)
		p.idle <- j
	}
}

// settle waits for a sent batch's outcomes and settles it.
func (p *Publisher) settle(j *job) {
	p.d.Wait(p.ctx, &j.b)
	p.complete(j)
	clear(j.b.Msgs)
	j.b.Msgs = j.b.Msgs[:0]
}

// complete settles a finished batch: acks, re-sends, failure events.
func (p *Publisher) complete(j *job) {
	n := len(j.seqs)
	now := time.Now()
	p.mu.Lock()
	j.failed = j.failed[:0]
	allOK := true
	settled := 0
	for i, seq := range j.seqs {
		err := j.b.Errs[i]
		s := p.slot(seq)
		if err == nil {
			settled++
			p.st.Acked++
			if !s.msg.Received.IsZero() {
				p.st.AckLatency.observe(now.Sub(s.msg.Received).Seconds())
			}
			p.settleLocked(seq)
			continue
		}
		allOK = false
		p.noteErrLocked(err)
		s.lastErr = err
		if IsNoAnswer(err) {
			s.unanswered = true
		}
		if p.aborted {
			p.loseLocked(seq, err)
			settled++
			continue
		}
		switch classOf(err) {
		case classPermanent:
			p.st.Permanent++
			j.failed = append(j.failed, seq)
		case classUnavailable:
			p.st.Unavailable++
			p.retry = append(p.retry, seq)
		default:
			s.attempts++
			if s.attempts > p.opts.MaxRetries {
				j.failed = append(j.failed, seq)
			} else {
				p.st.Retries++
				p.retry = append(p.retry, seq)
			}
		}
	}
	if allOK && n > 0 {
		p.backoffN = 0
	}
	if len(p.retry) > 0 && !p.aborted {
		slices.Sort(p.retry)
		if !p.retryAt.After(time.Now()) {
			d := backoffCap(p.opts.RetryBackoff, p.opts.MaxBackoff, p.backoffN)
			p.backoffN++
			p.retryAt = time.Now().Add(time.Duration(rand.Int64N(int64(d)) + 1))
		}
	}
	var resumed time.Duration
	if settled > 0 {
		resumed = p.progressLocked(now)
	}
	p.advanceLocked()
	if p.closed || len(p.retry) > 0 {
		// Something for the dispatcher to do: re-sends to schedule, or a
		// close to finish. New messages wake it themselves.
		p.kickLocked()
	}
	p.mu.Unlock()
	p.logResumed(resumed)
	if len(j.failed) > 0 {
		p.publishFailures(j)
	}
}

func backoffCap(base, limit time.Duration, n int) time.Duration {
	if n > 30 {
		return limit
	}
	return min(limit, base<<n)
}

func (p *Publisher) noteErrLocked(err error) {
	msg := err.Error()
	if len(msg) > 256 {
		msg = msg[:256]
	}
	if msg != p.st.LastError {
		p.st.LastError = msg
	}
	p.st.LastErrorAt = time.Now()
}

// settleLocked marks seq finished. The slot is freed when it reaches the head.
func (p *Publisher) settleLocked(seq uint64) {
	s := p.slot(seq)
	if s.settled {
		return
	}
	s.settled = true
	p.pending--
}

// advanceLocked frees settled slots at the head of the queue.
func (p *Publisher) advanceLocked() {
	moved := false
	for p.headSeq < p.tailSeq && p.headSeq < p.nextSeq {
		s := p.slot(p.headSeq)
		if !s.settled {
			break
		}
		p.bytes -= int64(len(s.msg.Data))
		// The buffer goes to spare, where the next Publish finds it: the
		// slots of the ring are reused only once per lap, so buffers kept
		// in them would hold the whole ring's worth of memory (12 MB at
		// 8,192 envelopes) however shallow the queue. Spare keeps as many
		// as the queue holds now plus two batches, so a steady deep queue
		// (JetStream's window of pending acks) does not churn; the rest is
		// left to the collector.
		if s.buf != nil {
			if keep := 2*p.opts.BatchSize + int(p.tailSeq-p.headSeq); len(p.spare) < keep && p.retain <= int64(p.opts.MaxQueueBytes) {
				p.spare = append(p.spare, s.buf)
			} else {
				p.retain -= int64(cap(s.buf))
			}
			s.buf = nil
		}
		s.msg = Message{}
		s.lastErr = nil
		p.headSeq++
		moved = true
	}
	if moved {
		p.broadcastRoomLocked()
		if p.settledCh != nil {
			close(p.settledCh)
			p.settledCh = nil
		}
	}
}

// loseLocked gives seq up after err: counted as lost or unknown (see
// Undelivered.Unknown) and settled. While the publisher is closed the
// message goes to Close's report; otherwise it is returned, for the caller
// to log once its lock is released.
func (p *Publisher) loseLocked(seq uint64, err error) (u Undelivered, log bool) {
	s := p.slot(seq)
	if s.settled {
		return Undelivered{}, false
	}
	u = undelivered(s, err, time.Now(), false)
	if u.Unknown {
		p.st.Unknown++
	} else {
		p.st.Lost++
	}
	p.settleLocked(seq)
	if p.closed {
		p.lost = append(p.lost, u)
		return Undelivered{}, false
	}
	return u, true
}
