package natsbus_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ingress-egress/ingress-egress/bus"
	"github.com/ingress-egress/ingress-egress/bus/natsbus"
)

// JetStream's answers, as nats-server writes them (errors.json:
// JSStreamDuplicateMessageConflict, JSStreamWrongLastSequence).
const (
	ackStored    = `{"stream":"S","seq":7}`
	ackDuplicate = `{"stream":"S","seq":7,"duplicate":true}`
	ackInProcess = `{"error":{"code":409,"err_code":10158,"description":"duplicate message id is in process"}}`
	ackWrongSeq  = `{"error":{"code":400,"err_code":10071,"description":"wrong last sequence: 3"}}`
)

// stream answers every message on subject in the place of a stream, from
// a script: answer gets the message's id and how many times it came
// before, and returns the answer ("" for none). It returns the number of
// times each id came.
func stream(t *testing.T, url string, answer func(id string, n int) string) func() map[string]int {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	var mu sync.Mutex
	seen := map[string]int{}
	if _, err := nc.Subscribe(ingress, func(m *nats.Msg) {
		id := m.Header.Get(natsbus.HeaderMsgID)
		mu.Lock()
		n := seen[id]
		seen[id]++
		mu.Unlock()
		if a := answer(id, n); a != "" {
			m.Respond([]byte(a))
		}
	}); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return func() map[string]int {
		mu.Lock()
		defer mu.Unlock()
		out := map[string]int{}
		for k, v := range seen {
			out[k] = v
		}
		return out
	}
}

// sendBatch sends ids as one batch through d and waits for its outcomes.
func sendBatch(d *natsbus.Driver, ids ...string) *bus.Batch {
	b := &bus.Batch{Errs: make([]error, len(ids))}
	for _, id := range ids {
		b.Msgs = append(b.Msgs, bus.Message{Subject: ingress, Data: []byte("{}"), MsgID: id})
	}
	d.Send(context.Background(), b)
	d.Wait(context.Background(), b)
	return b
}

// The driver reads JetStream's answers itself: stored and duplicate acks
// settle, a refusal is classified, a copy "in process" at another replica
// is sent again quietly until its duplicate ack, and a message without an
// answer fails after the ack timeout, as one the stream may have stored.
func TestJetStreamAnswers(t *testing.T) {
	s := startServer(t, -1, t.TempDir())
	seen := stream(t, s.ClientURL(), func(id string, n int) string {
		switch id {
		case "stored":
			return ackStored
		case "duplicate":
			return ackDuplicate
		case "in-process":
			if n < 2 {
				return ackInProcess
			}
			return ackDuplicate
		case "refused":
			return ackWrongSeq
		case "always-in-process":
			return ackInProcess
		}
		return "" // "silent"
	})
	d := newDriver(t, natsbus.Options{URL: s.ClientURL(), AckTimeout: 300 * time.Millisecond})

	b := sendBatch(d, "stored", "in-process", "duplicate", "refused")
	if b.Errs[0] != nil || b.Errs[1] != nil || b.Errs[2] != nil {
		t.Errorf("stored, in process, duplicate: errs %v, want none", b.Errs[:3])
	}
	var api *jetstream.APIError
	if !errors.As(b.Errs[3], &api) || api.ErrorCode != 10071 || !bus.IsPermanent(b.Errs[3]) || bus.IsNoAnswer(b.Errs[3]) {
		t.Errorf("refused: err %v, want the stream's permanent error", b.Errs[3])
	}
	if n := seen(); n["in-process"] != 3 || n["stored"] != 1 || n["refused"] != 1 {
		t.Errorf("publishes per id = %v, want in-process 3, the others 1", n)
	}

	// Unanswered: no answer within the ack timeout. The answer that comes
	// for the first copy of an id "in process" past a timeout is its
	// own, and goes back to the publisher as the stream's error.
	b = sendBatch(d, "silent", "stored", "always-in-process")
	if !bus.IsNoAnswer(b.Errs[0]) || b.Errs[1] != nil {
		t.Errorf("silent, stored: errs %v, want no answer, none", b.Errs[:2])
	}
	if !natsbus.InProcess(b.Errs[2]) || bus.IsPermanent(b.Errs[2]) || bus.IsNoAnswer(b.Errs[2]) {
		t.Errorf("always in process: err %v, want the 409 to retry", b.Errs[2])
	}
	if n := seen()["always-in-process"]; n < 2 {
		t.Errorf("always in process sent %d times, want again after the 409", n)
	}

	// A batch after them is answered as usual: nothing of the earlier
	// batches' late answers is taken for its own.
	b = sendBatch(d, "stored", "duplicate")
	if b.Errs[0] != nil || b.Errs[1] != nil {
		t.Errorf("next batch: errs %v", b.Errs)
	}
}

// Without any subscriber the server answers 503, no responders: the bus
// is unavailable for that subject (the publisher keeps the message).
func TestJetStreamNoResponders(t *testing.T) {
	s := startServer(t, -1, t.TempDir())
	d := newDriver(t, natsbus.Options{URL: s.ClientURL(), AckTimeout: 5 * time.Second})
	b := sendBatch(d, "a", "b")
	for i, err := range b.Errs {
		if !bus.IsUnavailable(err) || bus.IsNoAnswer(err) {
			t.Errorf("msg %d: err %v, want unavailable (no responders)", i, err)
		}
	}
}

func TestInProcess(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{&jetstream.APIError{Code: 409, ErrorCode: 10158, Description: "duplicate message id is in process"}, true},
		{fmt.Errorf("wrapped: %w", &jetstream.APIError{Code: 409, ErrorCode: 10158}), true},
		// The text with another code: a server that numbers it otherwise.
		{&jetstream.APIError{Code: 409, Description: "duplicate message id is in process"}, true},
		{&jetstream.APIError{Code: 400, ErrorCode: 10071, Description: "wrong last sequence: 3"}, false},
		{&jetstream.APIError{Code: 409, ErrorCode: 10999, Description: "something else"}, false},
		{errors.New("duplicate message id is in process"), false}, // not an answer of the stream
		{nats.ErrTimeout, false},
		{nil, false},
	} {
		if got := natsbus.InProcess(c.err); got != c.want {
			t.Errorf("InProcess(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}

// MaxPending bounds the messages sent whose batch is still waited for: a
// send beyond it waits, then the rest of its batch fails as unavailable
// (sent again later, not as a message the stream may hold); the room comes
// back when the batch's Wait returns.
func TestJetStreamMaxPending(t *testing.T) {
	s := startServer(t, -1, t.TempDir())
	stream(t, s.ClientURL(), func(id string, n int) string {
		if id == "silent" {
			return ""
		}
		return ackStored
	})
	d := newDriver(t, natsbus.Options{URL: s.ClientURL(), MaxPending: 2, AckTimeout: 300 * time.Millisecond})
	b := sendBatch(d, "silent", "silent", "stored", "stored")
	for i, err := range b.Errs[:2] {
		if !bus.IsNoAnswer(err) {
			t.Errorf("msg %d: err %v, want no answer", i, err)
		}
	}
	for i, err := range b.Errs[2:] {
		if !errors.Is(err, jetstream.ErrTooManyStalledMsgs) || !bus.IsUnavailable(err) || bus.IsNoAnswer(err) {
			t.Errorf("msg %d: err %v, want unavailable: too many pending", i+2, err)
		}
	}
	b = sendBatch(d, "stored", "stored")
	if b.Errs[0] != nil || b.Errs[1] != nil {
		t.Errorf("after the batch ended: errs %v, want none", b.Errs)
	}
}
