package twitch

import (
	"context"
	"time"

	"github.com/ingress-egress/ingress-egress/ircv3"
)

// gateRetry is the pause before the JoinGate is asked again after it
// failed (the shared budget could not be reached).
const gateRetry = time.Second

// gateReq is a request to the JoinGate for n JOINs for s, cancelled by
// cancel.
type gateReq struct {
	s      *session
	n      int
	ctx    context.Context
	cancel context.CancelFunc
}

// askGate decides whether s, which needs n JOINs, asks the JoinGate now: it
// returns the request to make (nil: none), and wake, moved earlier to the
// next attempt after a failure. One request per slot is in flight at most,
// for its current session; the slot is poked when it returns. m.mu is held.
func (m *Manager) askGate(sl *slot, s *session, n int, now time.Time, wake time.Time) (*gateReq, time.Time) {
	switch {
	case n == 0 || sl.gate != nil || m.ctx == nil:
		return nil, wake
	case now.Before(sl.gateRetryAt):
		return nil, soonest(wake, sl.gateRetryAt)
	}
	ctx, cancel := context.WithCancel(m.ctx)
	sl.gate = &gateReq{s: s, n: n, ctx: ctx, cancel: cancel}
	return sl.gate, wake
}

// dropGate cancels the slot's JoinGate request unless it is for cur: its
// grant would be for a session that joins nothing any more. m.mu is held.
func (sl *slot) dropGate(cur *session) {
	if r := sl.gate; r != nil && r.s != cur {
		r.cancel()
		sl.gate = nil
	}
}

// gatedJoins asks the JoinGate for r.n JOINs for r.s and sends those still
// needed at once; a grant no longer needed (the session was replaced or
// ended, the channels left or were joined meanwhile) is dropped and
// counted. It runs on its own goroutine, started by syncJoins, and pokes
// the slot when done so that the loop asks for the rest. The request is
// cancelled when its session ends or stops being the slot's current one
// (dropGate).
func (m *Manager) gatedJoins(sl *slot, r *gateReq) {
	s := r.s
	defer r.cancel()
	go func() {
		select {
		case <-s.stop:
			r.cancel()
		case <-r.ctx.Done():
		}
	}()
	granted, err := m.o.JoinGate.TakeJoins(r.ctx, s.login, r.n)
	granted = min(max(granted, 0), r.n)
	now := time.Now()
	m.mu.Lock()
	mine := sl.gate == r
	if mine {
		sl.gate = nil
	}
	if err != nil {
		if mine && r.ctx.Err() == nil {
			sl.gateRetryAt = now.Add(gateRetry)
			if !sl.gateFailing {
				m.log.Warn("cannot take JOINs from the join gate; retrying", "slot", sl.id, "error", err.Error())
			}
			sl.gateFailing = true
		}
		m.mu.Unlock()
		sl.poke()
		return
	}
	sl.gateFailing = false
	var send []string
	if mine && !s.gone {
		need, _ := m.joinsNeeded(sl, s, now)
		send = need[:min(granted, len(need))]
		m.markSent(sl, s, send, now)
	}
	m.mu.Unlock()
	if len(send) > 0 {
		buf, _ := ircv3.AppendJoin(nil, hashAll(send)...)
		if s.send(buf) {
			sl.cnt.joins.Add(uint64(len(send)))
		}
	}
	if len(send) < granted {
		sl.cnt.gateDropped.Add(uint64(granted - len(send)))
	}
	sl.poke()
}
