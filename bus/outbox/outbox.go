// Package outbox is a durable local outbox in front of a remote bus: a
// bus.Driver that stores every batch in a JetStream file store under a data
// directory, and acknowledges it to the bus.Publisher once it is on disk; a
// forwarder then sends the stored messages, in stream order, to the remote
// bus.Driver (natsbus, pubsubbus), with their subject, id, traceparent,
// content type and receive time, and removes them from the store only
// after the remote acknowledged them.
//
// The store is a stream of an in-process nats-server that listens on no
// port (the outbox talks to it over an in-process connection), in
// Dir/jetstream; each batch is one record of it (see record.go). The stream
// itself is the forwarder's cursor: what the remote acknowledged is purged
// from its head, so after a restart (or a crash) forwarding starts again at
// the first record still stored. A message the remote had acknowledged but
// the outbox had not yet purged is sent again with the same Message.MsgID:
// a JetStream stream drops it within its duplicate window, a Pub/Sub
// subscriber drops it by its msgId attribute.
//
// Every stored message ends as exactly one of: acknowledged by the remote
// (Stats.Forwarded); a failure event on Prefix+FailureSubject after a
// permanent error (Stats.FailureEvents); or, when the failure event is
// refused permanently too, logged with its ids and counted (Stats.Lost). A
// remote that is down or answers with a retryable error is retried with
// capped backoff for as long as it takes, in order, while the store keeps
// accepting messages: the outbox is ready while the remote is down, and
// Stats.Remote says "degraded". When the store holds Options.MaxBytes, Send
// waits for the forwarder to make room: backpressure to the publisher and
// its callers, never a drop.
package outbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ingress-egress/ingress-egress/bus"
)

// Errors of the outbox.
var (
	// ErrClosed is the outcome of a Send after Close.
	ErrClosed = errors.New("outbox: closed")
	// ErrLocked is returned by Open when another process holds the
	// directory.
	ErrLocked = errors.New("outbox: the directory is in use by another process")
)

// Stream is the name of the store's stream; Subject the subject its
// records are stored under (each message's own subject is in the record).
// The local server gives no header of a record a meaning: no Nats-Msg-Id,
// so the local stream keeps no deduplication map.
const (
	Stream  = "OUTBOX"
	Subject = "outbox"
)

// Options configure an Outbox. Dir and Remote are required; every other
// field has a default.
type Options struct {
	// Dir holds the store (DATA_DIR/outbox). It is created if missing and
	// locked against a second process.
	Dir string
	// MaxBytes bounds the store (OUTBOX_MAX_BYTES), counted as JetStream
	// counts stored messages (payload, headers and a 30-byte record). When
	// it is reached Send waits for room. Default 1 GiB.
	MaxBytes int64
	// SyncInterval is how often JetStream flushes the store to disk with
	// fsync (OUTBOX_SYNC). Default 2 min (JetStream's). A process crash
	// loses nothing written (the kernel holds it); a machine crash can lose
	// up to one interval.
	SyncInterval time.Duration
	// SyncAlways fsyncs every write (OUTBOX_SYNC=always).
	SyncAlways bool

	// Remote is the bus the outbox forwards to. Required. The outbox owns
	// it: Close closes it.
	Remote bus.Driver
	// Prefix and FailureSubject name where failure events go, as in
	// bus.Options. Defaults "" and bus.Finalize.
	Prefix         string
	FailureSubject string

	// BatchSize and BatchBytes bound one batch sent to the remote. Defaults
	// 256 messages and 1 MiB.
	BatchSize  int
	BatchBytes int
	// MaxInFlight is the number of batches sent to the remote and not yet
	// acknowledged. Default 16 (a window of 4096 messages: keep the remote
	// driver's own pending limit at least that).
	MaxInFlight int
	// RetryBackoff is the first pause after a failed forward, doubling up
	// to MaxBackoff (full jitter). Defaults 100 ms and 5 s.
	RetryBackoff time.Duration
	MaxBackoff   time.Duration
	// FailureEnvelopeMax is the largest original envelope embedded whole
	// in a failure event. Default 64 KiB.
	FailureEnvelopeMax int
	// CloseWait is how long Close waits for the remote's answers to what is
	// in flight, so that fewer messages are sent twice after a restart.
	// Default 1 s.
	CloseWait time.Duration

	// Logger receives state changes and lost messages. Default
	// slog.Default().
	Logger *slog.Logger
}

func (o *Options) setDefaults() {
	if o.MaxBytes <= 0 {
		o.MaxBytes = 1 << 30
	}
	if o.FailureSubject == "" {
		o.FailureSubject = bus.Finalize
	}
	if o.BatchSize <= 0 {
		o.BatchSize = 256
	}
	if o.BatchBytes <= 0 {
		o.BatchBytes = 1 << 20
	}
	if o.MaxInFlight <= 0 {
		o.MaxInFlight = 16
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
	if o.CloseWait <= 0 {
		o.CloseWait = time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

// maxPayload is the local server's largest message: above a record's
// bound (maxRecord) and bus's default MaxMessageBytes (1 MiB, a record of
// its own), so that the store does not refuse what the publisher accepted.
const maxPayload = 8 << 20

// Outbox is the durable outbox. It implements bus.Driver and bus.Readier;
// Send and Wait follow the Driver contract (Send calls do not overlap). Its
// other methods are safe for concurrent use.
type Outbox struct {
	opts Options
	log  *slog.Logger
	ns   *server.Server
	nc   *nats.Conn
	js   jetstream.JetStream
	st   jetstream.Stream
	lock *os.File
	fwd  *forwarder

	mu     sync.Mutex
	used   int64 // bytes stored or being stored, as JetStream counts them
	count  int64 // messages stored or being stored
	closed bool
	roomCh chan struct{} // closed when room is made or at Close; nil when nobody waits
	// roomWanted gets a token when a Send starts waiting for room, so
	// that the purger does not wait for its interval.
	roomWanted chan struct{}
	fullWait   time.Duration
	fulls      uint64

	stored   atomic.Uint64 // messages the store acknowledged
	lastSeq  atomic.Uint64 // highest record sequence the store acknowledged
	dir      string
	markStop chan struct{}
	markDone chan struct{}

	// recovery: what Open found.
	recovered     uint64
	recoveryLost  uint64
	recoveryBytes uint64

	infoMu  sync.Mutex
	headSeq uint64    // the oldest message not yet forwarded, as last asked
	headAt  time.Time // when it was stored
}

// Open starts the store under opts.Dir, recovers what it holds and starts
// forwarding it to opts.Remote. On an error the remote is left open.
func Open(ctx context.Context, opts Options) (_ *Outbox, err error) {
	if opts.Remote == nil {
		return nil, errors.New("outbox: no remote driver")
	}
	if opts.Dir == "" {
		return nil, errors.New("outbox: no directory")
	}
	opts.setDefaults()
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("outbox: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("outbox: cannot create %s: %w", dir, err)
	}
	o := &Outbox{opts: opts, log: opts.Logger.With("component", "outbox"), dir: dir,
		roomWanted: make(chan struct{}, 1)}
	if o.lock, err = lockDir(dir); err != nil {
		return nil, err
	}
	// A store that fills the disk makes JetStream disable itself: the
	// bound stays below what the disk can hold (the store's files
	// included), so that Send waits first.
	if free := diskFree(dir); free > 0 {
		if limit := (free + dirSize(dir)) / 10 * 9; opts.MaxBytes > limit {
			o.log.Warn("outbox: the disk holds less than the outbox's bound; bound lowered",
				"maxBytes", opts.MaxBytes, "lowered", limit, "dir", dir)
			opts.MaxBytes = limit
			o.opts.MaxBytes = limit
		}
	}
	defer func() {
		if err != nil {
			o.shutdownLocal()
		}
	}()
	slack := int64(maxPayload) + 1<<20
	o.ns, err = server.NewServer(&server.Options{
		ServerName:         "ingress-egress-outbox",
		DontListen:         true,
		JetStream:          true,
		StoreDir:           dir,
		JetStreamMaxStore:  opts.MaxBytes + 2*slack,
		JetStreamMaxMemory: 64 << 20,
		MaxPayload:         maxPayload,
		SyncInterval:       opts.SyncInterval,
		SyncAlways:         opts.SyncAlways,
		NoLog:              true,
		NoSigs:             true,
	})
	if err != nil {
		return nil, fmt.Errorf("outbox: nats-server: %w", err)
	}
	go o.ns.Start()
	wait := 10 * time.Second
	if d, ok := ctx.Deadline(); ok {
		wait = time.Until(d)
	}
	if !o.ns.ReadyForConnections(wait) {
		return nil, fmt.Errorf("outbox: the store in %s did not start within %v", dir, wait)
	}
	o.nc, err = nats.Connect("", nats.InProcessServer(o.ns), nats.Name("outbox"),
		nats.MaxReconnects(-1), nats.ReconnectBufSize(-1),
		// Errors of the connection go to the log (the client's default
		// prints them to stderr, outside the service's log format).
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			subject := ""
			if sub != nil {
				subject = sub.Subject
			}
			o.log.Warn("outbox: store connection error", "subject", subject, "error", err.Error())
		}))
	if err != nil {
		return nil, fmt.Errorf("outbox: connect to the store: %w", err)
	}
	o.js, err = jetstream.New(o.nc,
		jetstream.WithPublishAsyncMaxPending(16384),
		jetstream.WithPublishAsyncTimeout(10*time.Second))
	if err != nil {
		return nil, fmt.Errorf("outbox: %w", err)
	}
	// The server's own limit is a backstop above MaxBytes: Send waits
	// before it is reached.
	o.st, err = o.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name: Stream, Subjects: []string{Subject}, Storage: jetstream.FileStorage,
		Retention: jetstream.LimitsPolicy, Discard: jetstream.DiscardNew,
		MaxBytes: opts.MaxBytes + slack, MaxMsgSize: maxPayload,
	})
	if err != nil {
		return nil, fmt.Errorf("outbox: stream: %w", err)
	}
	info, err := o.st.Info(ctx, jetstream.WithDeletedDetails(true))
	if err != nil {
		return nil, fmt.Errorf("outbox: stream: %w", err)
	}
	o.used = int64(info.State.Bytes)
	if o.count, err = o.countStored(ctx, info.State.Msgs); err != nil {
		return nil, fmt.Errorf("outbox: counting the stored messages: %w", err)
	}
	o.recovered = uint64(o.count)
	o.lastSeq.Store(info.State.LastSeq)
	o.reportRecovery(info)
	o.fwd, err = newForwarder(ctx, o)
	if err != nil {
		return nil, err
	}
	o.markStop, o.markDone = make(chan struct{}), make(chan struct{})
	go o.keepMark()
	o.log.Info("outbox open", "dir", dir, "maxBytes", opts.MaxBytes, "messages", o.count,
		"records", info.State.Msgs, "bytes", info.State.Bytes, "syncInterval", syncString(opts))
	return o, nil
}

// countStored adds up the message counts of the stream's records from
// their headers alone.
func (o *Outbox) countStored(ctx context.Context, records uint64) (int64, error) {
	if records == 0 {
		return 0, nil
	}
	cons, err := o.js.OrderedConsumer(ctx, Stream, jetstream.OrderedConsumerConfig{HeadersOnly: true})
	if err != nil {
		return 0, err
	}
	var n int64
	for seen := uint64(0); seen < records; {
		batch, err := cons.Fetch(1000, jetstream.FetchMaxWait(time.Second))
		if err != nil {
			return n, err
		}
		got := 0
		for m := range batch.Messages() {
			n += recordCount(m.Headers())
			got++
		}
		if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) {
			return n, err
		}
		if got == 0 {
			break
		}
		seen += uint64(got)
	}
	return n, nil
}

// reportRecovery logs and counts the records the store lost in its
// recovery. The stream is only ever purged from its head, so every record
// missing inside it was lost: JetStream marks a damaged or truncated record
// as deleted (or reports it lost). The mark catches a tail the store no
// longer knows. What a lost record held is gone with it: the report is in
// records (batches of messages) and bytes.
func (o *Outbox) reportRecovery(info *jetstream.StreamInfo) {
	st := info.State
	lost := map[uint64]bool{}
	for _, seq := range st.Deleted {
		if seq >= st.FirstSeq && seq <= st.LastSeq && seq > 0 {
			lost[seq] = true
		}
	}
	var bytes uint64
	if l := st.Lost; l != nil {
		for _, seq := range l.Msgs {
			if seq > 0 {
				lost[seq] = true
			}
		}
		bytes = l.Bytes
	}
	n := uint64(len(lost))
	if len(st.Deleted) == 0 && st.NumDeleted > 0 && st.Msgs > 0 {
		n += uint64(st.NumDeleted) // no details: counted only
	}
	var tornFrom, tornTo, torn uint64
	if m, ok := readMark(o.dir); ok {
		tornFrom, tornTo, torn = lostSince(m, st.LastSeq)
	}
	o.recoveryLost, o.recoveryBytes = n+torn, bytes
	if o.recoveryLost == 0 {
		return
	}
	seqs := make([]uint64, 0, min(len(lost), 100))
	for seq := range lost {
		if len(seqs) == 100 {
			break
		}
		seqs = append(seqs, seq)
	}
	slices.Sort(seqs)
	o.log.Error("outbox: the store lost records in its recovery (a torn or damaged write: a machine crash or a full disk); the messages they held are gone",
		"lostRecords", o.recoveryLost, "sequences", seqs, "lostBytes", bytes,
		"truncatedFrom", tornFrom, "truncatedTo", tornTo, "dir", o.dir, "errorCode", "outbox_recovery_lost")
}

// keepMark rewrites the mark while it changes, until Close.
func (o *Outbox) keepMark() {
	defer close(o.markDone)
	t := time.NewTicker(markEvery)
	defer t.Stop()
	var last mark
	for {
		select {
		case <-t.C:
		case <-o.markStop:
			return
		}
		if m := o.mark(); m != last {
			if err := writeMark(o.dir, m, false); err != nil {
				o.log.Warn("outbox: cannot write the mark file", "error", err.Error())
				continue
			}
			last = m
		}
	}
}

func (o *Outbox) mark() mark {
	return mark{LastSeq: o.lastSeq.Load(), ForwardedBelow: o.fwd.purgedTo.Load()}
}

func syncString(o Options) string {
	if o.SyncAlways {
		return "always"
	}
	if o.SyncInterval == 0 {
		return "2m0s"
	}
	return o.SyncInterval.String()
}

// shutdownLocal stops the local server and releases the lock.
func (o *Outbox) shutdownLocal() {
	if o.nc != nil {
		o.nc.Close()
	}
	if o.ns != nil {
		o.ns.Shutdown()
		o.ns.WaitForShutdown()
	}
	if o.lock != nil {
		unlockDir(o.lock)
		o.lock = nil
	}
}

// storeSize is the size JetStream's file store counts for a record with
// header h and n bytes of data (fileStoreMsgSize: a 22-byte record head,
// the subject, the header with its 4-byte length, the data, an 8-byte hash).
// Send and the forwarder both count with it, so the accounting of MaxBytes
// matches what the store holds.
func storeSize(h nats.Header, n int) int64 {
	hl := 0
	if len(h) > 0 {
		hl = len("NATS/1.0\r\n") + 2
		for k, vs := range h {
			for _, v := range vs {
				hl += len(k) + 2 + len(v) + 2
			}
		}
	}
	if hl == 0 {
		return int64(22 + len(Subject) + n + 8)
	}
	return int64(22 + len(Subject) + 4 + hl + n + 8)
}

type sendState struct {
	recs []sentRecord
	bufs [][]byte // record buffers, reused batch after batch (valid until Wait returns)
}

// sentRecord is one record of a batch: b.Msgs[from:to].
type sentRecord struct {
	fut      jetstream.PubAckFuture // nil when it was not sent
	from, to int
	size     int64
}

// Send implements bus.Driver: it stores b.Msgs in order, as one record (or
// a few, above maxRecord bytes), waiting for room when the store is full
// (until ctx is done: the rest of the batch then fails as unavailable, and
// the publisher keeps it).
func (o *Outbox) Send(ctx context.Context, b *bus.Batch) {
	st, _ := b.State.(*sendState)
	if st == nil {
		st = &sendState{}
		b.State = st
	}
	st.recs = st.recs[:0]
	for from := 0; from < len(b.Msgs); {
		to, n := from, 0
		for to < len(b.Msgs) && (to == from || n+recordMsgSize(&b.Msgs[to]) <= maxRecord) {
			n += recordMsgSize(&b.Msgs[to])
			to++
		}
		i := len(st.recs)
		if i == len(st.bufs) {
			st.bufs = append(st.bufs, nil)
		}
		buf := appendRecordHead(st.bufs[i][:0], to-from)
		for k := from; k < to; k++ {
			buf = appendRecordMsg(buf, &b.Msgs[k])
		}
		st.bufs[i] = buf
		h := recordHeader(to - from)
		r := sentRecord{from: from, to: to, size: storeSize(h, len(buf))}
		if err := o.reserve(ctx, r.size, int64(to-from)); err != nil {
			for k := from; k < to; k++ {
				b.Errs[k] = bus.Unavailable(err)
			}
		} else if f, err := o.js.PublishMsgAsync(&nats.Msg{Subject: Subject, Header: h, Data: buf}); err != nil {
			o.release(r.size, int64(to-from))
			for k := from; k < to; k++ {
				b.Errs[k] = classify(err)
			}
		} else {
			r.fut = f
		}
		st.recs = append(st.recs, r)
		from = to
	}
}

// Wait implements bus.Driver: it waits for the store's acknowledgements.
func (o *Outbox) Wait(ctx context.Context, b *bus.Batch) {
	st, _ := b.State.(*sendState)
	if st == nil {
		return
	}
	var n uint64
	for i := range st.recs {
		r := &st.recs[i]
		if r.fut == nil {
			continue
		}
		var err error
		select {
		case ack := <-r.fut.Ok():
			n += uint64(r.to - r.from)
			for {
				cur := o.lastSeq.Load()
				if ack.Sequence <= cur || o.lastSeq.CompareAndSwap(cur, ack.Sequence) {
					break
				}
			}
			continue
		case e := <-r.fut.Err():
			err = classify(e)
		case <-ctx.Done():
			err = bus.Unavailable(ctx.Err())
		}
		for k := r.from; k < r.to; k++ {
			b.Errs[k] = err
		}
		// Not stored (as far as we know): the room goes back. A store
		// that did keep it (an ack lost in the process) is counted again
		// when the forwarder purges it, which only makes Send wait early.
		o.release(r.size, int64(r.to-r.from))
	}
	o.stored.Add(n)
	clear(st.recs)
}

// classify sorts the local store's errors into bus's classes. The store is
// in the process: what fails is a full disk, a store that is shutting down,
// or a message it cannot hold.
func classify(err error) error {
	var api *jetstream.APIError
	switch {
	case errors.Is(err, nats.ErrMaxPayload), errors.Is(err, nats.ErrBadSubject):
		return bus.Permanent(err)
	case errors.Is(err, nats.ErrConnectionClosed), errors.Is(err, nats.ErrDisconnected),
		errors.Is(err, nats.ErrNoResponders), errors.Is(err, jetstream.ErrNoStreamResponse),
		errors.Is(err, jetstream.ErrTooManyStalledMsgs):
		return bus.Unavailable(err)
	case errors.As(err, &api):
		if api.ErrorCode == jetstream.JSErrCodeStreamMessageExceedsMaximum {
			return bus.Permanent(err)
		}
		// A full store (the backstop above MaxBytes, or the disk) or an
		// unavailable JetStream: keep the message and wait.
		return bus.Unavailable(err)
	}
	return err
}

// reserve waits until size bytes fit under MaxBytes (a record alone in an
// empty store always fits) and counts them, and the record's n messages.
func (o *Outbox) reserve(ctx context.Context, size, n int64) error {
	o.mu.Lock()
	var waitStart time.Time
	for {
		if o.closed {
			o.mu.Unlock()
			return ErrClosed
		}
		if o.used+size <= o.opts.MaxBytes || o.used == 0 {
			break
		}
		if waitStart.IsZero() {
			waitStart = time.Now()
			o.fulls++
			if o.fulls == 1 || o.fulls%1000 == 0 {
				o.log.Warn("outbox: full; the publisher waits for the remote bus to take messages",
					"bytes", o.used, "maxBytes", o.opts.MaxBytes, "messages", o.count, "fullWaits", o.fulls)
			}
		}
		if o.roomCh == nil {
			o.roomCh = make(chan struct{})
			select {
			case o.roomWanted <- struct{}{}:
			default:
			}
		}
		ch := o.roomCh
		o.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			o.mu.Lock()
			o.fullWait += time.Since(waitStart)
			o.mu.Unlock()
			return ctx.Err()
		}
		o.mu.Lock()
	}
	if !waitStart.IsZero() {
		o.fullWait += time.Since(waitStart)
	}
	o.used += size
	o.count += n
	o.mu.Unlock()
	return nil
}

func (o *Outbox) waitingForRoom() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.roomCh != nil
}

// release returns room: n messages of size bytes in all left the store (or
// never entered it).
func (o *Outbox) release(size int64, n int64) {
	o.mu.Lock()
	o.used -= size
	o.count -= n
	if o.used < 0 || o.count <= 0 {
		o.used = max(o.used, 0)
		o.count = max(o.count, 0)
	}
	if o.roomCh != nil {
		close(o.roomCh)
		o.roomCh = nil
	}
	o.mu.Unlock()
}

// Drain waits until every message stored so far was forwarded (or
// settled as a failure event), or ctx is done. Call it after the
// publisher's Flush, when nothing else is being stored: for a command that
// must not exit with messages left in the outbox.
func (o *Outbox) Drain(ctx context.Context) error {
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for {
		n := o.Len()
		if n == 0 {
			return nil
		}
		select {
		case <-t.C:
		case <-ctx.Done():
			return fmt.Errorf("outbox: %d messages not forwarded: %w", n, ctx.Err())
		}
	}
}

// Len is the number of messages stored (or being stored) and not yet
// forwarded.
func (o *Outbox) Len() int {
	o.mu.Lock()
	n := o.count
	o.mu.Unlock()
	if o.fwd != nil {
		n -= o.fwd.unpurged.Load()
	}
	return int(max(n, 0))
}

// Ready implements bus.Readier: the store accepts messages. It does not
// depend on the remote: while the remote is down the outbox does its job.
func (o *Outbox) Ready() bool {
	o.mu.Lock()
	closed := o.closed
	o.mu.Unlock()
	return !closed && o.ns.Running() && o.nc.IsConnected()
}

// Close stops the forwarder (after at most CloseWait for the answers to
// what is in flight), closes the remote driver, and stops the store with
// everything it holds on disk, for the next Open. Sends after Close fail.
func (o *Outbox) Close() error {
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		return nil
	}
	o.closed = true
	if o.roomCh != nil {
		close(o.roomCh)
		o.roomCh = nil
	}
	o.mu.Unlock()
	o.fwd.stop()
	close(o.markStop)
	<-o.markDone
	if err := writeMark(o.dir, o.mark(), true); err != nil {
		o.log.Warn("outbox: cannot write the mark file", "error", err.Error())
	}
	err := o.opts.Remote.Close()
	left := o.Len()
	o.shutdownLocal()
	if left > 0 {
		o.log.Warn("outbox closed with messages not yet forwarded: they stay on disk and go at the next start",
			"left", left, "dir", o.dir, "forwarded", o.fwd.forwarded.Load())
	} else {
		o.log.Info("outbox closed", "left", 0, "forwarded", o.fwd.forwarded.Load())
	}
	return err
}

// Stats is a snapshot of the outbox. It carries no payload and no secret.
type Stats struct {
	Ready       bool   // the store accepts messages
	Remote      string // "ok", "degraded" (down or failing: forwarding retries) or "closed"
	RemoteReady bool   // the remote driver reports its bus reachable (true when it cannot tell)

	Messages  uint64        // stored (or being stored), not yet forwarded
	Bytes     uint64        // their size as the store counts it
	MaxBytes  int64         // the bound (OUTBOX_MAX_BYTES, after any cap)
	OldestAge time.Duration // age of the oldest stored message

	Stored        uint64        // messages stored since Open
	Forwarded     uint64        // acknowledged by the remote since Open
	FailureEvents uint64        // ended as a failure event (a permanent error of the remote)
	Lost          uint64        // failure event refused too: logged and counted
	Retries       uint64        // re-sends to the remote after a failure
	Unavailable   uint64        // sends the remote refused as down
	FullWaits     uint64        // Sends that waited for room
	FullWait      time.Duration // total time Sends waited for room
	DegradedSince time.Time     // when the current failure of the remote began; zero when ok
	LastError     string
	LastErrorAt   time.Time

	Recovered           uint64 // messages found in the store at Open
	RecoveryLostRecords uint64 // records (stored batches) the store lost in its recovery at Open (torn writes)
	RecoveryLostBytes   uint64

	// ForwardLatency is the time from Message.Received to the remote's
	// acknowledgement.
	ForwardLatency bus.Histogram
}

// Stats returns a snapshot.
func (o *Outbox) Stats() Stats {
	s := Stats{Ready: o.Ready(), MaxBytes: o.opts.MaxBytes, Stored: o.stored.Load(),
		Recovered: o.recovered, RecoveryLostRecords: o.recoveryLost, RecoveryLostBytes: o.recoveryBytes}
	o.mu.Lock()
	s.FullWaits, s.FullWait = o.fulls, o.fullWait
	count, used := o.count, o.used
	closed := o.closed
	o.mu.Unlock()
	o.fwd.stats(&s)
	// Forwarded messages stay stored until the next purge (a second at
	// most): they count in Bytes, not in Messages.
	s.Messages, s.Bytes = uint64(max(count-o.fwd.unpurged.Load(), 0)), uint64(max(used, 0))
	if closed {
		s.Remote = "closed"
	} else if s.Messages > 0 {
		if t := o.storedAt(o.fwd.settledBelow.Load()); !t.IsZero() {
			s.OldestAge = time.Since(t)
		}
	}
	return s
}

// storedAt is when the record seq was stored: that of the oldest message
// not yet forwarded, when seq is the forwarder's settled point. It asks the store
// once per sequence; zero when the message is not there (yet).
func (o *Outbox) storedAt(seq uint64) time.Time {
	o.infoMu.Lock()
	defer o.infoMu.Unlock()
	if seq == o.headSeq && !o.headAt.IsZero() {
		return o.headAt
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	m, err := o.st.GetMsg(ctx, seq)
	if err != nil {
		return time.Time{}
	}
	o.headSeq, o.headAt = seq, m.Time
	return m.Time
}
