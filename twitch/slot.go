package twitch

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync/atomic"
	"time"
)

// slot is one logical connection of the pool: a set of at most
// ChannelsPerConn wanted channels and the session that serves them. During
// a RECONNECT it has two sessions: cur, the new one, and old, which is read
// until cur has joined every channel.
type slot struct {
	id   int
	kick chan struct{} // poked when wanted channels or joins change
	cnt  counters

	overlap atomic.Bool // old and cur both deliver: deduplicate
	dedup   *dedup

	// Guarded by Manager.mu.
	wanted        map[string]struct{}
	cur, old      *session
	closing       bool
	state         string
	lastReconnect time.Time
	lastReason    string
	lastClass     string            // reasonClass of lastReason
	reconnectsBy  map[string]uint64 // reconnects by reasonClass
	lastErr       string
	connectedAt   time.Time
}

// counters of a slot, over all its sessions.
type counters struct {
	lines, parseErrors, oversized    atomic.Uint64
	reconnects, gaps, dedupHits      atomic.Uint64
	joins, joinRetries, authAttempts atomic.Uint64
	loginFailures                    atomic.Uint64
	handlerNanos                     atomic.Int64
	byCommand                        [numCommands]atomic.Uint64
}

// dedupGrace is the least time deduplication stays on after the old
// connection of a RECONNECT overlap ended.
const dedupGrace = 5 * time.Second

// Slot states in the status.
const (
	stateConnecting   = "connecting"
	stateJoining      = "joining"
	stateReady        = "ready"
	stateReconnecting = "reconnecting"
	stateBackoff      = "backoff"
	stateClosed       = "closed"
)

// newSlot returns a slot; m.mu is held.
func (m *Manager) newSlot() *slot {
	m.nextSlot++
	return &slot{
		id:     m.nextSlot,
		kick:   make(chan struct{}, 1),
		dedup:  newDedup(m.o.DedupMax, m.o.DedupWindow),
		wanted: make(map[string]struct{}),
		state:  stateConnecting,
	}
}

// startSlot runs sl's loop; m.mu is held and the manager is running.
func (m *Manager) startSlot(sl *slot) {
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		m.runSlot(m.ctx, sl)
	}()
}

// poke wakes the slot's loop.
func (sl *slot) poke() {
	select {
	case sl.kick <- struct{}{}:
	default:
	}
}

type dialResult struct {
	s   *session
	err error
}

// runSlot keeps sl connected and joined until ctx is done or sl has no
// channel left. It owns sl.cur and sl.old.
func (m *Manager) runSlot(ctx context.Context, sl *slot) {
	bo := newJitterBackoff(m.o.ReconnectInitial, m.o.ReconnectMax)
	dialCh := make(chan dialResult, 1)
	dialing := false
	var (
		cur, old     *session
		retry        = stoppedTimer()
		joinT        = stoppedTimer()
		overlapT     = stoppedTimer()
		reconnecting bool // the next dial replaces cur (make-before-break)
		drainSent    bool
		// After the old connection of an overlap ends, the new one may still
		// hold lines the old one delivered (the server writes to each
		// connection on its own). Dedup stays on until the new connection
		// answered a catch-up PING sent after the old one ended, and for at
		// least dedupGrace.
		catchup       *session
		caughtUp      bool
		graceOver     bool
		graceT        = stoppedTimer()
		reason        string // why the last session ended
		class         string // reasonClass(reason)
		everConnected bool
	)
	defer retry.Stop()
	defer joinT.Stop()
	defer overlapT.Stop()
	defer graceT.Stop()

	setState := func() {
		st := stateConnecting
		switch {
		case old != nil:
			st = stateReconnecting
		case cur != nil:
			st = stateJoining
			if m.allJoined(sl, cur) {
				st = stateReady
			}
		case !dialing:
			st = stateBackoff
		}
		sl.state = st
		sl.cur, sl.old = cur, old
	}
	update := func() {
		m.mu.Lock()
		setState()
		m.mu.Unlock()
	}
	startDial := func() {
		dialing = true
		update()
		go func() {
			s, err := m.openSession(ctx, sl)
			dialCh <- dialResult{s, err}
		}()
	}
	scheduleJoins := func() {
		if cur == nil {
			return
		}
		wake := m.syncJoins(sl, cur, time.Now())
		resetTimer(joinT, wake)
		m.mu.Lock()
		setState()
		ready := old != nil && !drainSent && m.allJoined(sl, cur)
		m.mu.Unlock()
		if ready {
			// Every line the server sent on old before it answers this PING
			// arrives before the PONG; then old can go.
			drainSent = true
			old.send([]byte("PING :" + pingDrain + "\r\n"))
		}
	}
	dedupOff := func() {
		sl.overlap.Store(false)
		sl.dedup.reset()
		catchup, caughtUp, graceOver = nil, false, false
		graceT.Stop()
	}
	// endDedupSoon ends deduplication once cur has caught up (see catchup).
	endDedupSoon := func() {
		if cur == nil {
			dedupOff()
			return
		}
		catchup, caughtUp, graceOver = cur, false, false
		cur.send([]byte("PING :" + pingCaughtUp + "\r\n"))
		graceT.Reset(dedupGrace)
	}
	maybeDedupOff := func() {
		if caughtUp && graceOver && old == nil {
			dedupOff()
		}
	}
	endOld := func() {
		if old == nil {
			return
		}
		old.fail(ErrServerReconnect)
		<-old.done
		m.sessionGone(old, time.Now())
		old = nil
		endDedupSoon()
		overlapT.Stop()
		drainSent = false
		update()
	}

	startDial()
	for {
		var curDone, oldDone, curReconnect, oldDrained, curCaughtUp <-chan struct{}
		if cur != nil {
			curDone, curReconnect = cur.done, cur.reconnect
		}
		if catchup != nil && !caughtUp {
			curCaughtUp = catchup.caughtUp
		}
		if old != nil {
			oldDone, oldDrained = old.done, old.drained
		}
		if reconnecting || old != nil {
			curReconnect = nil
		}
		select {
		case <-ctx.Done():
			if dialing {
				if r := <-dialCh; r.s != nil {
					r.s.fail(ctx.Err())
					<-r.s.done
				}
			}
			for _, s := range []*session{cur, old} {
				if s != nil {
					s.fail(ctx.Err())
					<-s.done
					m.sessionGone(s, time.Now())
				}
			}
			m.mu.Lock()
			sl.state, sl.cur, sl.old = stateClosed, nil, nil
			m.mu.Unlock()
			return

		case r := <-dialCh:
			dialing = false
			if r.err != nil {
				if ctx.Err() != nil {
					continue
				}
				m.mu.Lock()
				sl.lastErr = r.err.Error()
				m.mu.Unlock()
				d := bo.next()
				m.log.Warn("connect failed", "slot", sl.id, "error", r.err.Error(), "retry_in", d.String())
				retry.Reset(d)
				update()
				continue
			}
			s := r.s
			now := time.Now()
			reconnected := everConnected
			if reconnected {
				sl.cnt.reconnects.Add(1)
			}
			everConnected = true
			m.mu.Lock()
			sl.connectedAt = now
			if reason != "" {
				sl.lastReconnect, sl.lastReason, sl.lastClass = now, reason, class
			}
			if reconnected {
				if sl.reconnectsBy == nil {
					sl.reconnectsBy = map[string]uint64{}
				}
				sl.reconnectsBy[cmp.Or(class, "error")]++
			}
			m.mu.Unlock()
			if reconnecting && cur != nil {
				old, cur = cur, s
				catchup, caughtUp, graceOver = nil, false, false
				graceT.Stop()
				sl.overlap.Store(true)
				overlapT.Reset(m.o.OverlapMax)
				drainSent = false
			} else {
				cur = s
			}
			reconnecting = false
			m.log.Info("connected", "slot", sl.id, "conn", s.id, "login", s.login, "url", m.ep.public)
			scheduleJoins()

		case <-retry.C:
			if !dialing {
				startDial()
			}

		case <-curReconnect:
			m.log.Info("server asked to reconnect", "slot", sl.id, "conn", cur.id)
			reason, class = ErrServerReconnect.Error(), "server_reconnect"
			reconnecting = true
			if !dialing {
				retry.Stop()
				startDial()
			}

		case <-curDone:
			now := time.Now()
			m.sessionGone(cur, now)
			reason, class = cur.err.Error(), reasonClass(cur.err)
			m.mu.Lock()
			sl.lastErr = reason
			m.mu.Unlock()
			if errors.Is(cur.err, ErrLoginFailed) {
				sl.cnt.loginFailures.Add(1)
			}
			if reg := cur.regAt.Load(); reg != 0 && now.Sub(time.Unix(0, reg)) >= m.o.HealthyAfter {
				bo.reset()
			}
			m.log.Warn("connection lost", "slot", sl.id, "conn", cur.id, "error", cur.err.Error())
			cur = nil
			if old == nil {
				// Nothing else delivers: no duplicate can follow.
				dedupOff()
			}
			if old != nil {
				// The new connection died during the overlap: go on with the
				// old one and replace it again.
				// Dedup stays on: old may still deliver what the new one did.
				cur, old = old, nil
				overlapT.Stop()
				reconnecting = true
				if !dialing {
					startDial()
				}
			} else if !dialing {
				d := bo.next()
				retry.Reset(d)
			}
			joinT.Stop()
			update()
			scheduleJoins()

		case <-oldDone:
			m.sessionGone(old, time.Now())
			old = nil
			endDedupSoon()
			overlapT.Stop()
			update()

		case <-curCaughtUp:
			caughtUp = true
			maybeDedupOff()

		case <-graceT.C:
			graceOver = true
			maybeDedupOff()

		case <-oldDrained:
			endOld()

		case <-overlapT.C:
			m.log.Warn("reconnect overlap ended before every channel was joined", "slot", sl.id)
			endOld()

		case <-joinT.C:
			scheduleJoins()

		case <-sl.kick:
			m.mu.Lock()
			if len(sl.wanted) == 0 && !sl.closing {
				// The last channel left: this connection is no longer needed.
				sl.closing = true
				for i, s := range m.slots {
					if s == sl {
						m.slots = append(m.slots[:i], m.slots[i+1:]...)
						break
					}
				}
			}
			closing := sl.closing
			m.mu.Unlock()
			if closing {
				if dialing {
					if r := <-dialCh; r.s != nil {
						r.s.fail(errSlotClosed)
						<-r.s.done
					}
				}
				for _, s := range []*session{cur, old} {
					if s != nil {
						s.fail(errSlotClosed)
						<-s.done
						m.sessionGone(s, time.Now())
					}
				}
				m.mu.Lock()
				sl.state, sl.cur, sl.old = stateClosed, nil, nil
				m.mu.Unlock()
				return
			}
			scheduleJoins()
		}
	}
}

var errSlotClosed = errors.New("twitch: connection no longer needed")

// openSession logs in and registers a new connection for sl.
func (m *Manager) openSession(ctx context.Context, sl *slot) (*session, error) {
	if err := m.authLimit.wait(ctx); err != nil {
		return nil, err
	}
	sl.cnt.authAttempts.Add(1)
	auth := Auth{Anonymous: true}
	if m.o.Auth != nil {
		a, err := m.o.Auth.ChatAuth(ctx, m.o.Login)
		if err != nil {
			return nil, fmt.Errorf("twitch: credentials: %w", err)
		}
		auth = a
	}
	login := auth.Login
	if auth.Anonymous || auth.Token.IsZero() {
		auth.Anonymous = true
		login = anonymousLogin()
	}
	if login == "" {
		login = m.o.Login
	}
	rctx, cancel := context.WithTimeout(ctx, m.o.RegisterTimeout)
	defer cancel()
	tr, err := dialTransport(rctx, m.ep, &m.o)
	if err != nil {
		if ctx.Err() == nil && rctx.Err() != nil {
			return nil, fmt.Errorf("twitch: connect %s: %w", m.ep.public, ErrRegisterTimeout)
		}
		return nil, fmt.Errorf("twitch: connect %s: %w", m.ep.public, err)
	}
	m.mu.Lock()
	m.nextConn++
	id := m.nextConn
	m.mu.Unlock()
	s := newSession(m, sl, id, login, tr, time.Now())
	s.start(ctx)
	if err := s.register(auth); err != nil {
		s.fail(err)
		<-s.done
		return nil, err
	}
	select {
	case <-s.registered:
		return s, nil
	case <-s.done:
	case <-rctx.Done():
		if ctx.Err() != nil {
			s.fail(ctx.Err())
		} else {
			s.fail(ErrRegisterTimeout)
		}
		<-s.done
	}
	if errors.Is(s.err, ErrLoginFailed) && m.o.Auth != nil && !auth.Anonymous {
		m.o.Auth.Invalidate(ctx, auth)
		sl.cnt.loginFailures.Add(1)
	}
	return nil, fmt.Errorf("twitch: register as %s: %w", login, s.err)
}

func stoppedTimer() *time.Timer {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return t
}

// resetTimer sets t to fire at when, or stops it when when is zero.
func resetTimer(t *time.Timer, when time.Time) {
	if when.IsZero() {
		t.Stop()
		return
	}
	t.Reset(max(time.Until(when), 0))
}

// reasonClass names the kind of failure that ended a session, for the
// reconnects-by-reason counter (a small, fixed set of label values).
func reasonClass(err error) string {
	switch {
	case errors.Is(err, ErrServerReconnect):
		return "server_reconnect"
	case errors.Is(err, ErrPongTimeout):
		return "pong_timeout"
	case errors.Is(err, ErrLoginFailed):
		return "login_failed"
	case errors.Is(err, ErrRegisterTimeout):
		return "register_timeout"
	case errors.Is(err, ErrWriteStalled):
		return "write_stalled"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed):
		return "closed_by_server"
	}
	return "error"
}
