package natsbus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ingress-egress/ingress-egress/bus"
)

// inProcessErr is the answer nats-server gives (errors.json,
// JSStreamDuplicateMessageConflict) while a clustered stream stores
// another publish of the same Nats-Msg-Id.
func inProcessErr() error {
	return &jetstream.APIError{Code: 409, ErrorCode: codeInProcess, Description: "duplicate message id is in process"}
}

func TestInProcess(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{inProcessErr(), true},
		{fmt.Errorf("wrapped: %w", inProcessErr()), true},
		// The text with an unknown code: a server that numbers it otherwise.
		{&jetstream.APIError{Code: 409, Description: "duplicate message id is in process"}, true},
		{&jetstream.APIError{Code: 400, ErrorCode: jetstream.JSErrCodeStreamWrongLastSequence, Description: "wrong last sequence: 3"}, false},
		{&jetstream.APIError{Code: 409, ErrorCode: 10999, Description: "something else"}, false},
		{errors.New("duplicate message id is in process"), false}, // not an answer of the stream
		{nats.ErrTimeout, false},
		{nil, false},
	} {
		if got := InProcess(c.err); got != c.want {
			t.Errorf("InProcess(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}

// future is a PubAckFuture that is already answered.
type future struct {
	ok  chan *jetstream.PubAck
	err chan error
	msg *nats.Msg
}

func answered(m *nats.Msg, err error) *future {
	f := &future{ok: make(chan *jetstream.PubAck, 1), err: make(chan error, 1), msg: m}
	if err != nil {
		f.err <- err
	} else {
		f.ok <- &jetstream.PubAck{Stream: "S", Duplicate: true}
	}
	return f
}

func (f *future) Ok() <-chan *jetstream.PubAck { return f.ok }
func (f *future) Err() <-chan error            { return f.err }
func (f *future) Msg() *nats.Msg               { return f.msg }

// republisher answers the publishes of Wait's retries: in process for the
// first inProcess of them, then acknowledged (or always refused with
// other).
type republisher struct {
	jetstream.JetStream // only PublishMsgAsync is called
	inProcess           int
	other               error
	calls               []string // Nats-Msg-Id of each publish
}

func (r *republisher) PublishMsgAsync(m *nats.Msg, _ ...jetstream.PublishOpt) (jetstream.PubAckFuture, error) {
	r.calls = append(r.calls, m.Header.Get(HeaderMsgID))
	switch {
	case r.other != nil:
		return answered(m, r.other), nil
	case len(r.calls) <= r.inProcess:
		return answered(m, inProcessErr()), nil
	}
	return answered(m, nil), nil
}

// waitBatch runs Wait over a batch of two messages whose first publishes
// were answered first and second.
func waitBatch(t *testing.T, js *republisher, first, second error) *bus.Batch {
	t.Helper()
	d := &Driver{opts: Options{Mode: JetStream, AckTimeout: 5 * time.Second}, js: js, log: slog.New(slog.DiscardHandler)}
	d.up.Store(true)
	b := &bus.Batch{
		Msgs: []bus.Message{{Subject: "s", Data: []byte("a"), MsgID: "id-a"}, {Subject: "s", Data: []byte("b"), MsgID: "id-b"}},
		Errs: make([]error, 2),
	}
	st := d.state(b)
	for i := range b.Msgs {
		st.msgs[i] = nats.Msg{Subject: "s", Data: b.Msgs[i].Data, Header: setHeader(st.hdrs[i], &b.Msgs[i], true)}
	}
	st.futs = []jetstream.PubAckFuture{answered(&st.msgs[0], first), answered(&st.msgs[1], second)}
	d.Wait(context.Background(), b)
	return b
}

// A copy of a message that another replica is storing is asked again,
// quietly, until the duplicate ack: no error reaches the publisher.
func TestWaitRetriesInProcess(t *testing.T) {
	js := &republisher{inProcess: 2}
	b := waitBatch(t, js, nil, inProcessErr())
	if b.Errs[0] != nil || b.Errs[1] != nil {
		t.Fatalf("errs = %v, want none", b.Errs)
	}
	if len(js.calls) != 3 || js.calls[0] != "id-b" || js.calls[2] != "id-b" {
		t.Fatalf("republished %v, want id-b three times", js.calls)
	}
}

// Any other answer of the stream goes to the publisher as before, without
// a republish.
func TestWaitOtherErrorNotRetried(t *testing.T) {
	wrong := &jetstream.APIError{Code: 400, ErrorCode: jetstream.JSErrCodeStreamWrongLastSequence, Description: "wrong last sequence: 3"}
	js := &republisher{}
	b := waitBatch(t, js, wrong, nil)
	if !errors.Is(b.Errs[0], wrong) || !bus.IsPermanent(b.Errs[0]) || b.Errs[1] != nil {
		t.Fatalf("errs = %v, want the first permanent", b.Errs)
	}
	if len(js.calls) != 0 {
		t.Fatalf("republished %v", js.calls)
	}
}

// A retry answered by another error ends the retries with that error.
func TestWaitInProcessThenRefused(t *testing.T) {
	refused := &jetstream.APIError{Code: 503, ErrorCode: jetstream.JSErrCodeJetStreamNotEnabled, Description: "jetstream not enabled"}
	js := &republisher{other: refused}
	b := waitBatch(t, js, inProcessErr(), nil)
	if !errors.Is(b.Errs[0], refused) || !bus.IsUnavailable(b.Errs[0]) || b.Errs[1] != nil {
		t.Fatalf("errs = %v, want the first unavailable", b.Errs)
	}
	if len(js.calls) != 1 {
		t.Fatalf("republished %v, want once", js.calls)
	}
}
