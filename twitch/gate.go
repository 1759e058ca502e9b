package twitch

import (
	"context"
	"time"

	"github.com/ingress-egress/ingress-egress/ircv3"
)

// gateRetry is the pause before the JoinGate is asked again after it
// failed (the shared budget could not be reached).
const gateRetry = time.Second

// gateReq is a request to the JoinGate for n JOINs, cancelled by cancel.
type gateReq struct {
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
	case n == 0 || sl.gateFor != nil || m.ctx == nil:
		return nil, wake
	case now.Before(sl.gateRetryAt):
		return nil, soonest(wake, sl.gateRetryAt)
	}
	ctx, cancel := context.WithCancel(m.ctx)
	sl.gateFor, sl.gateCancel = s, cancel
	return &gateReq{n: n, ctx: ctx, cancel: cancel}, wake
}

// gatedJoins asks the JoinGate for n JOINs for s and sends those still
// needed at once; a grant s no longer needs (it was replaced, it ended, the
// channels left or were joined meanwhile) is dropped and counted. It runs
// on its own goroutine, started by syncJoins, and pokes the slot when done
// so that the loop asks for the rest. The request is cancelled when s ends
// or stops being the slot's current session (setState).
func (m *Manager) gatedJoins(sl *slot, s *session, r *gateReq) {
	ctx, cancel, n := r.ctx, r.cancel, r.n
	defer cancel()
	go func() {
		select {
		case <-s.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	granted, err := m.o.JoinGate.TakeJoins(ctx, s.login, n)
	granted = min(max(granted, 0), n)
	now := time.Now()
	m.mu.Lock()
	if sl.gateFor == s {
		sl.gateFor, sl.gateCancel = nil, nil
	}
	if err != nil {
		failing := ctx.Err() == nil
		if failing {
			sl.gateRetryAt = now.Add(gateRetry)
			if !sl.gateFailing {
				m.log.Warn("cannot take JOINs from the join gate; retrying", "slot", sl.id, "error", err.Error())
			}
		}
		sl.gateFailing = failing
		m.mu.Unlock()
		sl.poke()
		return
	}
	sl.gateFailing = false
	var send []string
	if sl.cur == s && !s.gone {
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
