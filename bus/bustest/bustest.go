// Package bustest is an in-memory bus.Driver for tests: it records what it
// acknowledges, fails on a script, and can stall like a bus that stopped
// answering.
package bustest

import (
	"context"
	"sync"

	"github.com/ingress-egress/ingress-egress/bus"
)

// Delivered is a message the Driver acknowledged, with its own copy of Data.
type Delivered struct {
	Subject     string
	Data        []byte
	MsgID       string
	TraceParent string
	ContentType string
}

// Driver is a scriptable in-memory bus.Driver. The zero value is not usable:
// call New. It is safe for concurrent use.
type Driver struct {
	mu        sync.Mutex
	fail      func(m bus.Message, attempt int) error
	attempts  map[string]int // by subject+msgid+data, for the script
	delivered []Delivered
	calls     int
	sends     int
	stall     chan struct{} // non-nil while stalled; closed on Resume
	hold      chan struct{} // non-nil while acks are held; closed on ReleaseAcks
	notReady  bool
	closed    bool
	record    bool
}

// New returns a Driver that acknowledges everything and records it.
func New() *Driver {
	return &Driver{attempts: make(map[string]int), record: true}
}

// SetRecord turns recording of acknowledged messages on or off (off keeps a
// benchmark's or allocation guard's memory flat). Default on.
func (d *Driver) SetRecord(on bool) {
	d.mu.Lock()
	d.record = on
	d.mu.Unlock()
}

// SetFail installs a script: f is asked for every message sent, with how many
// times the same message (subject, id and data) was sent before (0 the first
// time); a non-nil error fails that send. nil removes the script.
func (d *Driver) SetFail(f func(m bus.Message, attempt int) error) {
	d.mu.Lock()
	d.fail = f
	d.mu.Unlock()
}

// Stall makes Send block (until Resume or its ctx ends) before it looks at
// its messages, like a bus whose flow control stopped the sender.
func (d *Driver) Stall() {
	d.mu.Lock()
	if d.stall == nil {
		d.stall = make(chan struct{})
	}
	d.mu.Unlock()
}

// Resume releases a Stall.
func (d *Driver) Resume() {
	d.mu.Lock()
	if d.stall != nil {
		close(d.stall)
		d.stall = nil
	}
	d.mu.Unlock()
}

// HoldAcks makes the bus take messages and not answer: Send returns at
// once, and Wait blocks until ReleaseAcks (then it settles the batch as an
// unheld Send would have) or until its ctx ends (then every message of the
// batch fails as bus.NoAnswer: sent, no answer). Like a server that was
// frozen (SIGSTOP) with the connection open.
func (d *Driver) HoldAcks() {
	d.mu.Lock()
	if d.hold == nil {
		d.hold = make(chan struct{})
	}
	d.mu.Unlock()
}

// ReleaseAcks ends a HoldAcks: the held batches are answered.
func (d *Driver) ReleaseAcks() {
	d.mu.Lock()
	if d.hold != nil {
		close(d.hold)
		d.hold = nil
	}
	d.mu.Unlock()
}

type heldBatch struct{ hold chan struct{} }

// SetReady sets what Ready reports. Default true.
func (d *Driver) SetReady(ok bool) {
	d.mu.Lock()
	d.notReady = !ok
	d.mu.Unlock()
}

// Ready implements bus.Readier.
func (d *Driver) Ready() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return !d.notReady && !d.closed
}

// Send implements bus.Driver: it decides every outcome (in order) at once.
func (d *Driver) Send(ctx context.Context, b *bus.Batch) {
	msgs, errs := b.Msgs, b.Errs
	d.mu.Lock()
	d.calls++
	stall := d.stall
	hold := d.hold
	d.mu.Unlock()
	if hold != nil {
		b.State = heldBatch{hold}
		return
	}
	b.State = nil
	if stall != nil {
		select {
		case <-stall:
		case <-ctx.Done():
			for i := range errs {
				errs[i] = bus.Unavailable(ctx.Err())
			}
			return
		}
	}
	d.settle(msgs, errs)
}

// settle decides the outcome of msgs, in order.
func (d *Driver) settle(msgs []bus.Message, errs []error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for i, m := range msgs {
		d.sends++
		if d.fail != nil {
			key := m.Subject + "\x00" + m.MsgID + "\x00" + string(m.Data)
			n := d.attempts[key]
			d.attempts[key] = n + 1
			if err := d.fail(m, n); err != nil {
				errs[i] = err
				continue
			}
		}
		errs[i] = nil
		if d.record {
			d.delivered = append(d.delivered, Delivered{
				Subject: m.Subject, Data: append([]byte(nil), m.Data...),
				MsgID: m.MsgID, TraceParent: m.TraceParent, ContentType: m.ContentType,
			})
		}
	}
}

// Wait implements bus.Driver. Send has settled everything, unless the batch
// was sent while acks were held (HoldAcks).
func (d *Driver) Wait(ctx context.Context, b *bus.Batch) {
	h, ok := b.State.(heldBatch)
	if !ok {
		return
	}
	b.State = nil
	select {
	case <-h.hold:
		d.settle(b.Msgs, b.Errs)
	case <-ctx.Done():
		for i := range b.Errs {
			b.Errs[i] = bus.NoAnswer(bus.Unavailable(ctx.Err()))
		}
	}
}

// Close implements bus.Driver.
func (d *Driver) Close() error {
	d.mu.Lock()
	d.closed = true
	d.mu.Unlock()
	return nil
}

// Delivered returns the acknowledged messages in the order they were
// acknowledged.
func (d *Driver) Delivered() []Delivered {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]Delivered(nil), d.delivered...)
}

// Calls returns how many times Send was called.
func (d *Driver) Calls() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.calls
}

// Sends returns how many messages Send was given in all.
func (d *Driver) Sends() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.sends
}

// Closed reports whether Close was called.
func (d *Driver) Closed() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.closed
}
