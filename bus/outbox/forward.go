package outbox

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/ingress-egress/ingress-egress/bus"
)

// item is one stored message on its way to the remote.
type item struct {
	seq     uint64 // sequence of its record in the store
	last    bool   // the last message of its record
	recN    int64  // on the last: messages in the record
	size    int64  // on the last: the record's size as the store counts it
	msg     bus.Message
	event   bool   // msg is the failure event that replaces the stored message
	orig    string // the stored message's subject and id, once msg is its failure event
	origID  string
	sends   int
	lastErr error
}

// fjob is one batch sent to the remote. The remote driver may keep its own
// state in b.State: jobs are reused.
type fjob struct {
	items []item
	b     bus.Batch
}

// forwarder reads the store in order and sends it to the remote: a reader
// goroutine feeds a bounded channel from an ordered consumer; the forward
// loop sends batches (up to MaxInFlight unacknowledged) and settles them in
// order; a purger removes the settled head of the stream.
//
// Order: batches are sent in stream order and settled in that order. When a
// batch fails, nothing new is sent until every batch in flight has its
// answer and every failed message was sent again, in stream order, and
// acknowledged (or became a failure event): a failure reorders at most
// what was in flight with it.
type forwarder struct {
	o      *Outbox
	opts   Options
	remote bus.Driver
	log    *slog.Logger

	ctx    context.Context // the remote calls' context; cancelled CloseWait after stop
	cancel context.CancelFunc
	stopCh chan struct{}
	done   chan struct{} // the forward loop returned

	iter       jetstream.MessagesContext
	in         chan item
	held       *item // taken from in, did not fit the batch
	readerDone chan struct{}

	free     []*fjob
	inflight []*fjob
	pendB    int64 // settled in order, not yet handed to the purger
	pendN    int64

	pmu          sync.Mutex
	purgeTo      uint64 // purge every sequence below
	purgeBytes   int64
	purgeN       int64
	purgeWake    chan struct{}
	purgerStop   chan struct{}
	purgerDone   chan struct{}
	purgedTo     atomic.Uint64 // every sequence below was purged
	settledBelow atomic.Uint64 // every sequence below was settled (forwarded, or a failure event)
	unpurged     atomic.Int64  // settled and not yet purged
	forwarded    atomic.Uint64
	mu           sync.Mutex
	events       uint64
	lost         uint64
	retries      uint64
	unavailable  uint64
	degraded     time.Time
	lastErr      string
	lastErrAt    time.Time
	hist         bus.Histogram
}

func newForwarder(ctx context.Context, o *Outbox) (*forwarder, error) {
	f := &forwarder{
		o: o, opts: o.opts, remote: o.opts.Remote, log: o.log,
		stopCh: make(chan struct{}), done: make(chan struct{}),
		in: make(chan item, o.opts.BatchSize), readerDone: make(chan struct{}),
		purgeWake: make(chan struct{}, 1), purgerStop: make(chan struct{}), purgerDone: make(chan struct{}),
	}
	f.ctx, f.cancel = context.WithCancel(context.Background())
	// An ordered consumer: no acknowledgements, in order, recreated by
	// the client after a gap. It starts at the first record still
	// stored: the purged head is what was forwarded.
	cons, err := o.js.OrderedConsumer(ctx, Stream, jetstream.OrderedConsumerConfig{})
	if err != nil {
		f.cancel()
		return nil, err
	}
	// Records read ahead: at most 64, at most 8 MiB (a record holds up to
	// a batch of messages).
	f.iter, err = cons.Messages(jetstream.PullMaxMessagesWithBytesLimit(64, 8<<20))
	if err != nil {
		f.cancel()
		return nil, err
	}
	if info, err := o.st.Info(ctx); err == nil {
		f.purgedTo.Store(info.State.FirstSeq)
		f.settledBelow.Store(info.State.FirstSeq)
	}
	go f.read()
	go f.purger()
	go f.run()
	return f, nil
}

// read moves stored messages from the consumer to f.in, in order.
func (f *forwarder) read() {
	defer close(f.readerDone)
	var msgs []bus.Message
	for {
		m, err := f.iter.Next()
		if err != nil {
			if errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				return
			}
			// A missed heartbeat or a consumer being recreated: the
			// ordered consumer resumes after the last message it gave.
			select {
			case <-f.stopCh:
				return
			case <-time.After(10 * time.Millisecond):
			}
			continue
		}
		meta, err := m.Metadata()
		if err != nil {
			// Not a JetStream delivery: cannot happen on this consumer.
			// Without its sequence the record cannot be placed; it goes
			// with the next purge, counted lost.
			f.mu.Lock()
			f.lost++
			f.mu.Unlock()
			f.log.Error("outbox: a stored record without metadata; counted lost", "error", err.Error(),
				"errorCode", "outbox_lost")
			continue
		}
		h := m.Headers()
		seq, size := meta.Sequence.Stream, storeSize(h, len(m.Data()))
		msgs, err = decodeRecord(msgs[:0], m.Data())
		if err != nil {
			// Cannot happen (the store checksums its records): the record
			// goes to the remote as a failure event instead of its
			// messages, so that it is reported, and purged once sent.
			f.log.Error("outbox: a stored record does not decode; forwarding a failure event for it",
				"sequence", seq, "bytes", len(m.Data()), "errorCode", "outbox_bad_record")
			bad := item{msg: bus.Message{Subject: Subject, Data: m.Data()}, lastErr: bus.Permanent(err)}
			msgs = append(msgs[:0], f.failureEvent(&bad))
		}
		for i := range msgs {
			it := item{seq: seq, msg: msgs[i], event: err != nil}
			if i == len(msgs)-1 {
				it.last, it.recN, it.size = true, recordCount(h), size
			}
			if it.event {
				it.orig = "record " + strconv.FormatUint(seq, 10)
			}
			select {
			case f.in <- it:
			case <-f.stopCh:
				return
			}
		}
		clear(msgs)
	}
}

func (f *forwarder) stopped() bool {
	select {
	case <-f.stopCh:
		return true
	default:
		return false
	}
}

// stop ends forwarding: no new batch; the answers to what is in flight are
// awaited for at most CloseWait; the settled head is purged.
func (f *forwarder) stop() {
	close(f.stopCh)
	t := time.AfterFunc(f.opts.CloseWait, f.cancel)
	<-f.done
	t.Stop()
	f.cancel()
	f.iter.Stop()
	<-f.readerDone
	close(f.purgerStop)
	<-f.purgerDone
}

func (f *forwarder) job() *fjob {
	if n := len(f.free); n > 0 {
		j := f.free[n-1]
		f.free = f.free[:n-1]
		return j
	}
	return &fjob{}
}

func (f *forwarder) release(j *fjob) {
	clear(j.items)
	j.items = j.items[:0]
	clear(j.b.Msgs)
	j.b.Msgs = j.b.Msgs[:0]
	f.free = append(f.free, j)
}

// take forms the next batch from what the reader has, or returns nil:
// stopped, or nothing there and !block.
func (f *forwarder) take(block bool) *fjob {
	if f.stopped() {
		return nil
	}
	var first item
	switch {
	case f.held != nil:
		first, f.held = *f.held, nil
	case block:
		select {
		case first = <-f.in:
		case <-f.stopCh:
			return nil
		}
	default:
		select {
		case first = <-f.in:
		default:
			return nil
		}
	}
	j := f.job()
	j.items = append(j.items, first)
	bytes := len(first.msg.Data)
	for len(j.items) < f.opts.BatchSize {
		select {
		case it := <-f.in:
			if bytes+len(it.msg.Data) > f.opts.BatchBytes {
				f.held = &it
				return j
			}
			j.items = append(j.items, it)
			bytes += len(it.msg.Data)
			continue
		default:
		}
		break
	}
	return j
}

// send hands j to the remote.
func (f *forwarder) send(j *fjob) {
	j.b.Msgs = j.b.Msgs[:0]
	for i := range j.items {
		j.items[i].sends++
		j.b.Msgs = append(j.b.Msgs, j.items[i].msg)
	}
	if cap(j.b.Errs) < len(j.items) {
		j.b.Errs = make([]error, len(j.items))
	}
	j.b.Errs = j.b.Errs[:len(j.items)]
	clear(j.b.Errs)
	f.remote.Send(f.ctx, &j.b)
}

// run is the forward loop.
func (f *forwarder) run() {
	defer close(f.done)
	for {
		for len(f.inflight) < f.opts.MaxInFlight {
			j := f.take(len(f.inflight) == 0)
			if j == nil {
				break
			}
			f.send(j)
			f.inflight = append(f.inflight, j)
		}
		if len(f.inflight) == 0 {
			return // stopped
		}
		j := f.inflight[0]
		f.inflight = append(f.inflight[:0], f.inflight[1:]...)
		f.remote.Wait(f.ctx, &j.b)
		if f.settle(j) {
			f.release(j)
			continue
		}
		f.recover(j)
	}
}

// settle settles j if every message was acknowledged, and hands the head
// up to it to the purger.
func (f *forwarder) settle(j *fjob) bool {
	for _, err := range j.b.Errs {
		if err != nil {
			return false
		}
	}
	now := time.Now()
	f.mu.Lock()
	for i := range j.items {
		it := &j.items[i]
		f.doneLocked(it, now)
		if it.last {
			f.pendB += it.size
			f.pendN += it.recN
		}
	}
	f.mu.Unlock()
	f.requestPurge(purgePoint(&j.items[len(j.items)-1]))
	return true
}

// purgePoint is the purge point once every item up to it (in stream order)
// is settled: its record too if it is the record's last message, else only
// the records before.
func purgePoint(it *item) uint64 {
	if it.last {
		return it.seq + 1
	}
	return it.seq
}

// doneLocked counts an acknowledged item.
func (f *forwarder) doneLocked(it *item, now time.Time) {
	if it.event {
		f.events++
		f.log.Warn("outbox: message published as failure event", "subject", it.orig, "msgId", it.origID,
			"attempts", it.sends)
		return
	}
	f.forwarded.Add(1)
	if !it.msg.Received.IsZero() {
		observe(&f.hist, now.Sub(it.msg.Received).Seconds())
	}
}

func observe(h *bus.Histogram, sec float64) {
	h.Count++
	h.Sum += sec
	for i, ub := range bus.AckLatencyBuckets {
		if sec <= ub {
			h.Counts[i]++
			return
		}
	}
}

// requestPurge hands the settled head (every sequence below to) and the
// bytes and messages counted since the last request to the purger.
func (f *forwarder) requestPurge(to uint64) {
	f.pmu.Lock()
	if to > f.purgeTo {
		f.purgeTo = to
	}
	f.purgeBytes += f.pendB
	f.purgeN += f.pendN
	f.unpurged.Add(f.pendN)
	f.settledBelow.Store(max(f.settledBelow.Load(), to))
	f.pendB, f.pendN = 0, 0
	f.pmu.Unlock()
	select {
	case f.purgeWake <- struct{}{}:
	default:
	}
}

// purgeEvery is the shortest interval between two purges (see purger).
const purgeEvery = time.Second

// purger removes the settled head of the stream and returns its room to
// Send. Requests coalesce: one purge covers every batch settled since the
// last.
func (f *forwarder) purger() {
	defer close(f.purgerDone)
	var purged uint64
	var last time.Time
	for {
		stopping := false
		select {
		case <-f.purgeWake:
		case <-f.purgerStop:
			stopping = true
		}
		// At most one purge per purgeEvery: each one rewrites the store's
		// index and writes a tombstone per message of the block it cuts,
		// under the stream's lock; one per batch held the store back from
		// storing (receive → stored took hundreds of milliseconds at 10,000
		// messages/s, against a few with purges a second apart). What was forwarded
		// and not yet purged when the process dies is sent again after the
		// restart, a second's worth, inside the remote's duplicate window.
		// A Send waiting for room does not wait for the interval.
		if d := purgeEvery - time.Since(last); !stopping && d > 0 && !f.o.waitingForRoom() {
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-f.purgerStop:
				stopping = true
			case <-f.o.roomWanted:
			}
			t.Stop()
		}
		last = time.Now()
		f.pmu.Lock()
		to, b, n := f.purgeTo, f.purgeBytes, f.purgeN
		f.purgeBytes, f.purgeN = 0, 0
		f.pmu.Unlock()
		if to > purged {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			err := f.o.st.Purge(ctx, jetstream.WithPurgeSequence(to))
			cancel()
			if err != nil {
				f.pmu.Lock()
				f.purgeBytes += b
				f.purgeN += n
				f.pmu.Unlock()
				f.log.Warn("outbox: cannot remove forwarded messages; retrying", "error", err.Error())
				if stopping {
					return // they are sent again after the next Open, with their ids
				}
				select {
				case <-time.After(100 * time.Millisecond):
				case <-f.purgerStop:
				}
				select {
				case f.purgeWake <- struct{}{}:
				default:
				}
				continue
			}
			purged = to
			f.purgedTo.Store(to)
		}
		if b != 0 || n != 0 {
			// Uncounted as settled first: Messages (count - unpurged)
			// may be high for a moment, never low.
			f.unpurged.Add(-n)
			f.o.release(b, n)
		}
		if stopping {
			return
		}
	}
}

// recover handles a batch with failures: it collects the answers of every
// batch in flight, then sends the failed messages again, in stream order,
// with capped backoff, until each is acknowledged or became a failure event
// (or lost), and only then lets new messages go. It returns early when the
// outbox is closed: what is unsettled stays stored.
func (f *forwarder) recover(head *fjob) {
	// settled are the records whose last message settled here.
	type settled struct {
		seq  uint64
		size int64
		n    int64
	}
	var (
		retry []item
		done  []settled
		top   uint64 // purge point once everything taken is settled
	)
	settle := func(it *item) {
		if it.last {
			done = append(done, settled{it.seq, it.size, it.recN})
		}
	}
	collect := func(j *fjob) {
		now := time.Now()
		f.mu.Lock()
		for i := range j.items {
			it := j.items[i]
			top = max(top, purgePoint(&it))
			if err := j.b.Errs[i]; err != nil {
				it.lastErr = err
				f.noteErrLocked(err)
				retry = append(retry, it)
				continue
			}
			f.doneLocked(&it, now)
			settle(&it)
		}
		f.mu.Unlock()
		f.release(j)
	}
	collect(head)
	for _, j := range f.inflight {
		f.remote.Wait(f.ctx, &j.b)
		collect(j)
	}
	clear(f.inflight)
	f.inflight = f.inflight[:0]

	// finish hands the settled head to the purger: everything below the
	// first message still unsettled, or everything taken.
	finish := func() {
		to := top
		if len(retry) > 0 {
			to = retry[0].seq
		}
		for _, s := range done {
			if s.seq < to {
				f.pendB += s.size
				f.pendN += s.n
			}
		}
		f.requestPurge(to)
	}
	defer finish()

	var since time.Time
	backoffN := 0
	for len(retry) > 0 {
		outage := false
		kept := retry[:0]
		for _, it := range retry {
			if !bus.IsPermanent(it.lastErr) {
				outage = true
				kept = append(kept, it)
				continue
			}
			if it.event {
				f.lose(&it)
				settle(&it)
				continue
			}
			it.orig, it.origID = it.msg.Subject, it.msg.MsgID
			it.msg = f.failureEvent(&it)
			it.event, it.sends, it.lastErr = true, 0, nil
			kept = append(kept, it)
		}
		retry = kept
		if len(retry) == 0 {
			break
		}
		if outage {
			if since.IsZero() {
				since = time.Now()
				f.setDegraded(since, retry[0].lastErr, len(retry))
			}
			if f.stopped() || !f.pause(backoffN) {
				return
			}
			backoffN++
		}
		// Send again in order, one batch at a time; at the first batch
		// with a failure the rest waits for the next round.
		next, progress := f.resend(retry, settle)
		retry = next
		if progress {
			backoffN = 0
		}
	}
	if !since.IsZero() {
		f.setDegraded(time.Time{}, nil, 0)
		f.log.Info("outbox: the remote bus takes messages again; forwarding the backlog",
			"outage", time.Since(since).Round(time.Millisecond).String(), "backlog", f.o.Len())
	}
}

// resend sends retry again in order, one batch at a time. At the first
// batch with a failure it stops: what failed and what was not sent yet are
// returned, in order, for the next round. settle is called for each
// message the remote took; progress reports whether there was one.
func (f *forwarder) resend(retry []item, settle func(*item)) (next []item, progress bool) {
	next = retry[:0:0]
	for start := 0; start < len(retry); {
		end := start + 1
		bytes := len(retry[start].msg.Data)
		for end < len(retry) && end-start < f.opts.BatchSize && bytes+len(retry[end].msg.Data) <= f.opts.BatchBytes {
			bytes += len(retry[end].msg.Data)
			end++
		}
		j := f.job()
		j.items = append(j.items, retry[start:end]...)
		f.send(j)
		f.remote.Wait(f.ctx, &j.b)
		failed := false
		now := time.Now()
		f.mu.Lock()
		for i := range j.items {
			it := j.items[i]
			if !it.event || it.sends > 1 {
				f.retries++
			}
			if err := j.b.Errs[i]; err != nil {
				it.lastErr = err
				f.noteErrLocked(err)
				next = append(next, it)
				failed = true
				continue
			}
			progress = true
			f.doneLocked(&it, now)
			settle(&it)
		}
		f.mu.Unlock()
		f.release(j)
		start = end
		if failed {
			next = append(next, retry[start:]...)
			break
		}
	}
	return next, progress
}

// pause waits the n-th backoff step (full jitter), or until a remote that
// can tell becomes reachable again. It returns false when stopped.
func (f *forwarder) pause(n int) bool {
	d := f.opts.RetryBackoff << min(n, 30)
	if d <= 0 || d > f.opts.MaxBackoff {
		d = f.opts.MaxBackoff
	}
	d = time.Duration(rand.Int64N(int64(d)) + 1)
	t := time.NewTimer(d)
	defer t.Stop()
	r, ok := f.remote.(bus.Readier)
	if !ok || r.Ready() {
		select {
		case <-t.C:
			return true
		case <-f.stopCh:
			return false
		}
	}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-t.C:
			return true
		case <-tick.C:
			if r.Ready() {
				return true
			}
		case <-f.stopCh:
			return false
		}
	}
}

func (f *forwarder) setDegraded(since time.Time, err error, n int) {
	f.mu.Lock()
	f.degraded = since
	f.mu.Unlock()
	if !since.IsZero() {
		f.log.Warn("outbox: cannot forward to the remote bus; keeping messages on disk and retrying",
			"error", errString(err), "unavailable", bus.IsUnavailable(err), "failed", n, "backlog", f.o.Len())
	}
}

func (f *forwarder) noteErrLocked(err error) {
	if bus.IsUnavailable(err) {
		f.unavailable++
	}
	msg := err.Error()
	if len(msg) > 256 {
		msg = msg[:256]
	}
	f.lastErr, f.lastErrAt = msg, time.Now()
}

// lose settles an item whose failure event was refused permanently: it is
// logged with its ids and counted.
func (f *forwarder) lose(it *item) {
	f.mu.Lock()
	f.lost++
	f.mu.Unlock()
	f.log.Error("outbox: message lost: its failure event was refused", "msgId", it.origID,
		"subject", it.orig, "error", errString(it.lastErr), "errorCode", "outbox_lost")
}

func (f *forwarder) stats(s *Stats) {
	f.mu.Lock()
	s.FailureEvents, s.Lost, s.Retries, s.Unavailable = f.events, f.lost, f.retries, f.unavailable
	s.DegradedSince, s.LastError, s.LastErrorAt = f.degraded, f.lastErr, f.lastErrAt
	s.ForwardLatency = f.hist
	f.mu.Unlock()
	s.Forwarded = f.forwarded.Load()
	s.RemoteReady = true
	if r, ok := f.remote.(bus.Readier); ok {
		s.RemoteReady = r.Ready()
	}
	s.Remote = "ok"
	if !s.RemoteReady || !s.DegradedSince.IsZero() {
		s.Remote = "degraded"
	}
}

// failureEvent is the failure event of a stored message that the remote
// refused permanently, in the shape bus.Publisher publishes.
func (f *forwarder) failureEvent(it *item) bus.Message {
	m := &it.msg
	ev := bus.NewFailureEvent(m, it.lastErr, it.sends, f.opts.FailureEnvelopeMax)
	b, err := json.Marshal(ev)
	if err != nil { // cannot happen: every field marshals
		b = []byte(`{}`)
	}
	id := ""
	if m.MsgID != "" {
		id = "failed-" + m.MsgID
	}
	return bus.Message{Subject: f.opts.Prefix + f.opts.FailureSubject, Data: b, MsgID: id,
		TraceParent: m.TraceParent, ContentType: "application/json", Received: m.Received}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
