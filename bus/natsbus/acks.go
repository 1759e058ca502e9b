package natsbus

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// acks collects JetStream's answers to the driver's publishes per batch,
// through one reply subscription: each message's reply subject is
// <inbox>.<batch>.<index>, where batch numbers every Send. An answer
// settles its message in the batch's state; the batch's last answer wakes
// the goroutine in Wait, once. Compared with nats.go's PublishMsgAsync
// this saves, per message, a future, a timer, two channels, a random reply
// token and the JSON decoding of a positive acknowledgement.
//
// Answers to a batch that Wait has given up on (an ack timeout, a lost
// connection) find no batch and are dropped: the publisher sends those
// messages again with the same Nats-Msg-Id.
type acks struct {
	prefix string // "<inbox>."
	sub    *nats.Subscription

	// sem bounds the messages of batches not yet finished
	// (Options.MaxPending): a slot per message sent, released when its
	// batch's Wait returns.
	sem chan struct{}

	mu       sync.Mutex
	next     uint64
	batches  map[uint64]*batchState
	classify func(error) error // Driver.classifyWaited
}

func newAcks(nc *nats.Conn, maxPending int, classify func(error) error) (*acks, error) {
	a := &acks{
		prefix:   nc.NewInbox() + ".",
		sem:      make(chan struct{}, maxPending),
		batches:  make(map[uint64]*batchState),
		classify: classify,
	}
	sub, err := nc.Subscribe(a.prefix+">", a.handle)
	if err != nil {
		return nil, err
	}
	// Answers are small and must not be dropped as a slow consumer's.
	sub.SetPendingLimits(-1, -1)
	a.sub = sub
	return a, nil
}

// add registers st, a batch of n messages about to be sent, before its
// first publish (an answer can come before PublishMsg returns), and
// builds its reply subjects.
func (a *acks) add(st *batchState, n int) {
	a.mu.Lock()
	a.next++
	st.token = a.next
	a.batches[st.token] = st
	st.pending = n
	st.resize(n)
	a.mu.Unlock()
	// One string for the batch's reply subjects, each a slice of it.
	buf := st.replyBuf[:0]
	for i := range n {
		st.replyAt[i] = len(buf)
		buf = append(buf, a.prefix...)
		buf = strconv.AppendUint(buf, st.token, 10)
		buf = append(buf, '.')
		buf = strconv.AppendInt(buf, int64(i), 10)
	}
	st.replyAt[n] = len(buf)
	st.replyBuf = buf
	st.replies = string(buf)
}

// reply is message i's reply subject.
func (st *batchState) reply(i int) string { return st.replies[st.replyAt[i]:st.replyAt[i+1]] }

// settle records message i's outcome, unless it has one (or the batch is
// no longer waited for), and wakes Wait after the batch's last (or for a
// message to send again).
func (a *acks) settle(st *batchState, token uint64, i int, err error, inProcess bool) {
	a.mu.Lock()
	a.settleLocked(st, token, i, err, inProcess)
	a.mu.Unlock()
}

func (a *acks) settleLocked(st *batchState, token uint64, i int, err error, inProcess bool) {
	if st.token != token || a.batches[token] != st || i >= len(st.answered) || st.answered[i] {
		return
	}
	st.answered[i] = true
	st.errs[i] = err
	st.inProcess[i] = inProcess
	st.pending--
	if st.pending == 0 || inProcess { // a copy "in process" is sent again at once
		select {
		case st.done <- struct{}{}:
		default:
		}
	}
}

// handle is the reply subscription's handler.
func (a *acks) handle(m *nats.Msg) {
	rest, ok := strings.CutPrefix(m.Subject, a.prefix)
	if !ok {
		return
	}
	tok, idx, ok := strings.Cut(rest, ".")
	if !ok {
		return
	}
	token, err1 := strconv.ParseUint(tok, 10, 64)
	i, err2 := strconv.Atoi(idx)
	if err1 != nil || err2 != nil || i < 0 {
		return
	}
	err := ackError(m)
	inProcess := InProcess(err)
	if err != nil {
		err = a.classify(err)
	}
	a.mu.Lock()
	if st := a.batches[token]; st != nil {
		a.settleLocked(st, token, i, err, inProcess)
	}
	a.mu.Unlock()
}

// ackError returns nil for JetStream's acknowledgement, or why the message
// was not stored.
func ackError(m *nats.Msg) error {
	if len(m.Data) == 0 {
		if m.Header.Get("Status") == "503" {
			return nats.ErrNoResponders
		}
		return jetstream.ErrInvalidJSAck
	}
	// The acknowledgement, {"stream":"S","seq":1[,"duplicate":true]}, is
	// recognised without decoding; anything else is decoded.
	if bytes.HasPrefix(m.Data, []byte(`{"stream":`)) && !bytes.Contains(m.Data, []byte(`"error"`)) {
		return nil
	}
	var r struct {
		Error  *jetstream.APIError `json:"error"`
		Stream string              `json:"stream"`
	}
	if err := json.Unmarshal(m.Data, &r); err != nil {
		return jetstream.ErrInvalidJSAck
	}
	if r.Error != nil {
		return r.Error
	}
	if r.Stream == "" {
		return jetstream.ErrInvalidJSAck
	}
	return nil
}

// failAll settles every message still waiting for an answer with err: the
// connection dropped, and nothing sent before can be answered now.
func (a *acks) failAll(err error) {
	a.mu.Lock()
	for token, st := range a.batches {
		for i := range st.answered {
			if !st.answered[i] {
				a.settleLocked(st, token, i, a.classify(err), false)
			}
		}
	}
	a.mu.Unlock()
}

// rearm makes message i of st wait for an answer again (it is published
// once more).
func (a *acks) rearm(st *batchState, i int) {
	a.mu.Lock()
	if st.answered[i] {
		st.answered[i] = false
		st.errs[i] = nil
		st.inProcess[i] = false
		st.pending++
	}
	a.mu.Unlock()
}

// remove ends the batch: later answers are dropped, and its messages'
// room in MaxPending is given back.
func (a *acks) remove(st *batchState) {
	a.mu.Lock()
	delete(a.batches, st.token)
	a.mu.Unlock()
	for ; st.held > 0; st.held-- {
		<-a.sem
	}
	select { // a wake-up left by a batch that ended otherwise
	case <-st.done:
	default:
	}
}

// acquire takes room for one message in MaxPending, waiting up to
// stallWait; false when there was none.
func (a *acks) acquire(st *batchState, t **time.Timer) bool {
	select {
	case a.sem <- struct{}{}:
		st.held++
		return true
	default:
	}
	if *t == nil {
		*t = time.NewTimer(stallWait)
	} else {
		(*t).Reset(stallWait)
	}
	select {
	case a.sem <- struct{}{}:
		st.held++
		return true
	case <-(*t).C:
		return false
	}
}

// stallWait is how long a send waits for room in MaxPending before the
// rest of its batch fails (to be sent again), as nats.go's
// PublishMsgAsync waits.
const stallWait = 200 * time.Millisecond
