package bus

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"time"
)

// FailureType is the envelope type of a failure event.
const FailureType = "internal.publish.failed.v1"

// FailureEvent is the JSON published on the failure subject for a message
// that could not be delivered. It has the platform envelope's shape; its
// payload carries the original envelope, the error and the attempt count.
type FailureEvent struct {
	V             string         `json:"v"`
	ID            string         `json:"id"`
	CorrelationID string         `json:"correlationId,omitempty"`
	TraceID       string         `json:"traceId,omitempty"`
	Timestamp     string         `json:"timestamp"`
	Type          string         `json:"type"`
	Payload       FailurePayload `json:"payload"`
}

// FailurePayload is the payload of a FailureEvent.
type FailurePayload struct {
	Subject  string `json:"subject"`
	MsgID    string `json:"msgId,omitempty"`
	Attempts int    `json:"attempts"` // sends of the message
	Error    string `json:"error"`
	Class    string `json:"class"` // "permanent" or "retries-exhausted"
	// Envelope is the original envelope when it was valid JSON of at most
	// Options.FailureEnvelopeMax bytes.
	Envelope json.RawMessage `json:"envelope,omitempty"`
	// EnvelopeText is the original data otherwise, as a string cut to
	// FailureEnvelopeMax bytes (invalid UTF-8 replaced).
	EnvelopeText string `json:"envelopeText,omitempty"`
	Truncated    bool   `json:"truncated,omitempty"`
}

func (p *Publisher) failureEvent(s *slot) FailureEvent {
	return NewFailureEvent(&s.msg, s.lastErr, s.sends, p.opts.FailureEnvelopeMax)
}

// NewFailureEvent returns the failure event of m, given up after attempts
// sends with err (classed "permanent" when IsPermanent, else
// "retries-exhausted"): the original envelope when it is valid JSON of at
// most envelopeMax bytes, else its text cut to envelopeMax. A driver that
// forwards on its own (the outbox) builds its failure events with it, in
// the shape the Publisher publishes.
func NewFailureEvent(m *Message, err error, attempts, envelopeMax int) FailureEvent {
	class := "retries-exhausted"
	if IsPermanent(err) {
		class = "permanent"
	}
	ev := FailureEvent{
		V: "1", ID: newID(), CorrelationID: m.MsgID,
		TraceID:   traceID(m.TraceParent),
		Timestamp: time.Now().UTC().Format("2006-01-02T15:04:05.000Z07:00"),
		Type:      FailureType,
		Payload: FailurePayload{
			Subject: m.Subject, MsgID: m.MsgID,
			Attempts: attempts, Class: class,
		},
	}
	if err != nil {
		ev.Payload.Error = err.Error()
	}
	data := m.Data
	if len(data) <= envelopeMax && json.Valid(data) {
		ev.Payload.Envelope = json.RawMessage(data)
	} else {
		if len(data) > envelopeMax {
			data = data[:envelopeMax]
			ev.Payload.Truncated = true
		}
		// encoding/json replaces invalid UTF-8 with U+FFFD.
		ev.Payload.EnvelopeText = string(data)
	}
	return ev
}

// traceID returns the trace-id field of a W3C traceparent, or "".
func traceID(tp string) string {
	// version "-" trace-id "-" parent-id "-" flags
	if len(tp) < 55 || tp[2] != '-' || tp[35] != '-' {
		return ""
	}
	return tp[3:35]
}

func newID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	var out [36]byte
	hex.Encode(out[0:8], b[0:4])
	out[8] = '-'
	hex.Encode(out[9:13], b[4:6])
	out[13] = '-'
	hex.Encode(out[14:18], b[6:8])
	out[18] = '-'
	hex.Encode(out[19:23], b[8:10])
	out[23] = '-'
	hex.Encode(out[24:], b[10:])
	return string(out[:])
}

// publishFailures publishes a failure event for each of j.failed, once; a
// failure event that fails too makes its message lost.
func (p *Publisher) publishFailures(j *job) {
	subject := p.opts.Prefix + p.opts.FailureSubject
	j.evBuf = j.evBuf[:0]
	j.evOff = j.evOff[:0]
	j.ev.Msgs = j.ev.Msgs[:0]
	p.mu.Lock()
	for _, seq := range j.failed {
		s := p.slot(seq)
		ev := p.failureEvent(s)
		b, err := json.Marshal(ev)
		if err != nil { // cannot happen: all fields are marshalable
			b = []byte(`{}`)
		}
		j.evOff = append(j.evOff, len(j.evBuf))
		j.evBuf = append(j.evBuf, b...)
		id := ""
		if s.msg.MsgID != "" {
			id = "failed-" + s.msg.MsgID
		}
		j.ev.Msgs = append(j.ev.Msgs, Message{
			Subject: subject, MsgID: id, TraceParent: s.msg.TraceParent,
			ContentType: "application/json",
		})
	}
	p.mu.Unlock()
	j.evOff = append(j.evOff, len(j.evBuf))
	for i := range j.ev.Msgs {
		j.ev.Msgs[i].Data = j.evBuf[j.evOff[i]:j.evOff[i+1]]
	}
	if cap(j.ev.Errs) < len(j.ev.Msgs) {
		j.ev.Errs = make([]error, len(j.ev.Msgs))
	}
	j.ev.Errs = j.ev.Errs[:len(j.ev.Msgs)]
	clear(j.ev.Errs)
	errs := j.ev.Errs
	p.sendMu.Lock()
	p.d.Send(p.ctx, &j.ev)
	p.sendMu.Unlock()
	p.d.Wait(p.ctx, &j.ev)

	p.mu.Lock()
	var lost []Undelivered
	for i, seq := range j.failed {
		if errs[i] == nil {
			p.st.FailureEvents++
			s := p.slot(seq)
			p.log.Warn("bus: message published as failure event",
				"subject", s.msg.Subject, "msgId", s.msg.MsgID, "trace", traceID(s.msg.TraceParent),
				"attempts", s.sends, "error", errString(s.lastErr))
			p.settleLocked(seq)
			continue
		}
		p.noteErrLocked(errs[i])
		if u, ok := p.loseLocked(seq, joinErr(p.slot(seq).lastErr, errs[i])); ok {
			lost = append(lost, u)
		}
	}
	resumed := p.progressLocked(time.Now())
	p.advanceLocked()
	p.kickLocked()
	p.mu.Unlock()
	p.logResumed(resumed)
	clear(j.ev.Msgs)
	j.failed = j.failed[:0]
	// One batch's worth at most: logged at once, in bounded entries that no
	// rate limit drops.
	logUndelivered(p.log, "bus: messages not delivered", "undelivered", lost)
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
