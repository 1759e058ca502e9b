package twitch

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"sync/atomic"
	"time"

	"github.com/ingress-egress/ingress-egress/twitch/tmi"
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
	// The JoinGate request in flight (gatedJoins), for the current
	// session; gateRetryAt is when to ask again after the gate failed.
	gate        *gateReq
	gateRetryAt time.Time
	gateFailing bool
}

// counters of a slot, over all its sessions.
type counters struct {
	lines, parseErrors, oversized    atomic.Uint64
	reconnects, gaps, dedupHits      atomic.Uint64
	joins, joinRetries, authAttempts atomic.Uint64
	loginFailures                    atomic.Uint64
	gateDropped                      atomic.Uint64 // JOINs granted by the JoinGate and not needed any more
	handlerNanos                     atomic.Int64
	stalls                           atomic.Uint64 // HandleLine calls that took StallAfter or more
	stallNanos                       atomic.Int64  // their time
	byCommand                        [tmi.NumKinds]atomic.Uint64
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
		newSlotLoop(m, m.ctx, sl).run()
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

// slotLoop keeps one slot connected and joined: it is the goroutine started
// by startSlot, and its fields are that goroutine's state. It owns cur and
// old; the slot's copies of them (guarded by Manager.mu) are for the status
// and for the callbacks of the sessions.
//
// A RECONNECT is make-before-break: the server's RECONNECT on cur starts a
// dial, the new session becomes cur and the previous one old, both deliver
// (deduplicated) until cur has joined every channel, then a drain PING on
// old makes sure every line old received was read before it is closed.
type slotLoop struct {
	m   *Manager
	sl  *slot
	ctx context.Context
	bo  *jitterBackoff

	dial     chan dialResult // the result of the dial in flight
	dialing  bool
	cur, old *session
	// reconnecting: the next dial replaces cur (make-before-break).
	reconnecting bool
	// drainSent: old was sent the drain PING; its answer ends old.
	drainSent bool
	// After old ends, cur may still hold lines that old delivered (the
	// server writes to each connection on its own). Dedup stays on until
	// catchup (cur at that time) answered a catch-up PING sent after old
	// ended, and for at least dedupGrace.
	catchup   *session
	caughtUp  bool
	graceOver bool

	retry    *time.Timer // the next dial after a failure
	joinT    *time.Timer // the next syncJoins
	overlapT *time.Timer // OverlapMax of a RECONNECT overlap
	graceT   *time.Timer // dedupGrace after old ended

	reason        string // why the last session ended
	class         string // reasonClass(reason)
	everConnected bool
}

func newSlotLoop(m *Manager, ctx context.Context, sl *slot) *slotLoop {
	return &slotLoop{
		m: m, sl: sl, ctx: ctx,
		bo:       newJitterBackoff(m.o.ReconnectInitial, m.o.ReconnectMax),
		dial:     make(chan dialResult, 1),
		retry:    stoppedTimer(),
		joinT:    stoppedTimer(),
		overlapT: stoppedTimer(),
		graceT:   stoppedTimer(),
	}
}

// run keeps the slot connected and joined until ctx is done or the slot
// has no channel left.
func (l *slotLoop) run() {
	defer l.stopTimers()
	l.startDial()
	for l.step() {
	}
}

// step waits for the next event and handles it. It returns false when the
// loop has ended.
func (l *slotLoop) step() bool {
	var curDone, oldDone, curReconnect, oldDrained, curCaughtUp <-chan struct{}
	if l.cur != nil {
		curDone = l.cur.done
		if !l.reconnecting && l.old == nil {
			curReconnect = l.cur.reconnect.C()
		}
	}
	if l.catchup != nil && !l.caughtUp {
		curCaughtUp = l.catchup.caughtUp.C()
	}
	if l.old != nil {
		oldDone, oldDrained = l.old.done, l.old.drained.C()
	}
	select {
	case <-l.ctx.Done():
		l.teardown(l.ctx.Err())
		return false
	case r := <-l.dial:
		l.dialDone(r)
	case <-l.retry.C:
		if !l.dialing {
			l.startDial()
		}
	case <-curReconnect:
		l.serverReconnect()
	case <-curDone:
		l.curEnded()
	case <-oldDone:
		l.oldEnded()
	case <-curCaughtUp:
		l.caughtUp = true
		l.maybeDedupOff()
	case <-l.graceT.C:
		l.graceOver = true
		l.maybeDedupOff()
	case <-oldDrained:
		l.endOld()
	case <-l.overlapT.C:
		l.m.log.Warn("reconnect overlap ended before every channel was joined", "slot", l.sl.id)
		l.endOld()
	case <-l.joinT.C:
		l.scheduleJoins()
	case <-l.sl.kick:
		if l.sl.release(l.m) {
			l.teardown(errSlotClosed)
			return false
		}
		l.scheduleJoins()
	}
	return true
}

func (l *slotLoop) stopTimers() {
	l.retry.Stop()
	l.joinT.Stop()
	l.overlapT.Stop()
	l.graceT.Stop()
}

// dialDone takes the result of a dial: a failure schedules the next
// attempt; a new session becomes cur, and during a RECONNECT the previous
// cur becomes old.
func (l *slotLoop) dialDone(r dialResult) {
	m, sl := l.m, l.sl
	l.dialing = false
	if r.err != nil {
		if l.ctx.Err() != nil {
			return
		}
		m.mu.Lock()
		sl.lastErr = r.err.Error()
		m.mu.Unlock()
		d := l.bo.next()
		m.log.Warn("connect failed", "slot", sl.id, "error", r.err.Error(), "retryIn", d.String())
		l.retry.Reset(d)
		l.update()
		return
	}
	s := r.s
	now := time.Now()
	reconnected := l.everConnected
	if reconnected {
		sl.cnt.reconnects.Add(1)
	}
	l.everConnected = true
	m.mu.Lock()
	sl.connectedAt = now
	if l.reason != "" {
		sl.lastReconnect, sl.lastReason, sl.lastClass = now, l.reason, l.class
	}
	if reconnected {
		if sl.reconnectsBy == nil {
			sl.reconnectsBy = map[string]uint64{}
		}
		sl.reconnectsBy[cmp.Or(l.class, "error")]++
	}
	m.mu.Unlock()
	if l.reconnecting && l.cur != nil {
		l.old, l.cur = l.cur, s
		l.catchup, l.caughtUp, l.graceOver = nil, false, false
		l.graceT.Stop()
		sl.overlap.Store(true)
		l.overlapT.Reset(m.o.OverlapMax)
		l.drainSent = false
	} else {
		l.cur = s
	}
	l.reconnecting = false
	m.log.Info("connected", "slot", sl.id, "conn", s.id, "login", s.login, "url", m.ep.public)
	l.scheduleJoins()
}

// serverReconnect starts the replacement of cur after its RECONNECT.
func (l *slotLoop) serverReconnect() {
	l.m.log.Info("server asked to reconnect", "slot", l.sl.id, "conn", l.cur.id)
	l.reason, l.class = ErrServerReconnect.Error(), "server_reconnect"
	l.reconnecting = true
	if !l.dialing {
		l.retry.Stop()
		l.startDial()
	}
}

// curEnded handles the end of cur. During an overlap the old session takes
// over again and is replaced once more; otherwise the next dial follows the
// backoff.
func (l *slotLoop) curEnded() {
	m, sl, cur := l.m, l.sl, l.cur
	now := time.Now()
	m.sessionGone(cur, now)
	l.reason, l.class = cur.err.Error(), reasonClass(cur.err)
	m.mu.Lock()
	sl.lastErr = l.reason
	m.mu.Unlock()
	if errors.Is(cur.err, ErrLoginFailed) {
		sl.cnt.loginFailures.Add(1)
	}
	// Back off on failures to connect, register or join, not on a server
	// that closes connections that worked: one that registered and joined
	// every channel, or stayed up HealthyAfter, starts the backoff over
	// (whose floor, ReconnectInitial/2, still spaces the reconnects).
	m.mu.Lock()
	settled := cur.settled
	m.mu.Unlock()
	if reg := cur.regAt.Load(); reg != 0 && (settled || now.Sub(time.Unix(0, reg)) >= m.o.HealthyAfter) {
		l.bo.reset()
	}
	m.log.Warn("connection lost", "slot", sl.id, "conn", cur.id, "error", cur.err.Error())
	l.cur = nil
	switch {
	case l.old != nil:
		// The new connection died during the overlap: go on with the old
		// one and replace it again. Dedup stays on: old may still deliver
		// what the new one did.
		l.cur, l.old = l.old, nil
		l.overlapT.Stop()
		l.reconnecting = true
		if !l.dialing {
			l.startDial()
		}
	default:
		// Nothing else delivers: no duplicate can follow.
		l.dedupOff()
		if !l.dialing {
			l.retry.Reset(l.bo.next())
		}
	}
	l.joinT.Stop()
	l.update()
	l.scheduleJoins()
}

// oldEnded handles the end of old on its own (the server closed it).
func (l *slotLoop) oldEnded() {
	l.m.sessionGone(l.old, time.Now())
	l.old = nil
	l.endDedupSoon()
	l.overlapT.Stop()
	l.update()
}

// endOld closes old: it was drained, or the overlap lasted too long.
func (l *slotLoop) endOld() {
	if l.old == nil {
		return
	}
	l.old.fail(ErrServerReconnect)
	<-l.old.done
	l.m.sessionGone(l.old, time.Now())
	l.old = nil
	l.endDedupSoon()
	l.overlapT.Stop()
	l.drainSent = false
	l.update()
}

// teardown ends every session of the slot with err, the dial in flight
// included, and marks the slot closed.
func (l *slotLoop) teardown(err error) {
	if l.dialing {
		if r := <-l.dial; r.s != nil {
			r.s.fail(err)
			<-r.s.done
		}
		l.dialing = false
	}
	for _, s := range []*session{l.cur, l.old} {
		if s != nil {
			s.fail(err)
			<-s.done
			l.m.sessionGone(s, time.Now())
		}
	}
	l.cur, l.old = nil, nil
	l.m.mu.Lock()
	l.sl.state, l.sl.cur, l.sl.old = stateClosed, nil, nil
	l.m.mu.Unlock()
}

// setState publishes the loop's sessions and state to the slot. m.mu is
// held.
func (l *slotLoop) setState() {
	st := stateConnecting
	switch {
	case l.old != nil:
		st = stateReconnecting
	case l.cur != nil:
		st = stateJoining
		if l.m.allJoined(l.sl, l.cur) {
			st = stateReady
			l.cur.settled = true
		}
	case !l.dialing:
		st = stateBackoff
	}
	l.sl.state = st
	l.sl.dropGate(l.cur)
	l.sl.cur, l.sl.old = l.cur, l.old
}

func (l *slotLoop) update() {
	l.m.mu.Lock()
	l.setState()
	l.m.mu.Unlock()
}

func (l *slotLoop) startDial() {
	l.dialing = true
	l.update()
	go func(ctx context.Context) {
		s, err := l.m.openSession(ctx, l.sl)
		l.dial <- dialResult{s, err}
	}(l.ctx)
}

// scheduleJoins sends what cur needs of JOINs and PARTs and sets the timer
// for the next round; once cur has joined everything during an overlap, it
// sends old the drain PING.
func (l *slotLoop) scheduleJoins() {
	if l.cur == nil {
		return
	}
	wake := l.m.syncJoins(l.sl, l.cur, time.Now())
	resetTimer(l.joinT, wake)
	l.m.mu.Lock()
	l.setState()
	ready := l.old != nil && !l.drainSent && l.m.allJoined(l.sl, l.cur)
	l.m.mu.Unlock()
	if ready {
		// Every line the server sent on old before it answers this PING
		// arrives before the PONG; then old can go.
		l.drainSent = true
		l.old.send([]byte("PING :" + pingDrain + "\r\n"))
	}
}

func (l *slotLoop) dedupOff() {
	l.sl.overlap.Store(false)
	l.sl.dedup.reset()
	l.catchup, l.caughtUp, l.graceOver = nil, false, false
	l.graceT.Stop()
}

// endDedupSoon ends deduplication once cur has caught up (see catchup).
func (l *slotLoop) endDedupSoon() {
	if l.cur == nil {
		l.dedupOff()
		return
	}
	l.catchup, l.caughtUp, l.graceOver = l.cur, false, false
	l.cur.send([]byte("PING :" + pingCaughtUp + "\r\n"))
	l.graceT.Reset(dedupGrace)
}

func (l *slotLoop) maybeDedupOff() {
	if l.caughtUp && l.graceOver && l.old == nil {
		l.dedupOff()
	}
}

// release reports whether the slot is closing: once its last channel has
// left, it is taken out of the pool and its loop ends.
func (sl *slot) release(m *Manager) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(sl.wanted) == 0 && !sl.closing {
		sl.closing = true
		if i := slices.Index(m.slots, sl); i >= 0 {
			m.slots = slices.Delete(m.slots, i, i+1)
		}
	}
	return sl.closing
}

var errSlotClosed = errors.New("twitch: connection no longer needed")

// chatAuth returns the credentials and the login of a new connection.
func (m *Manager) chatAuth(ctx context.Context) (Auth, string, error) {
	auth := Auth{Anonymous: true}
	if m.o.Auth != nil {
		a, err := m.o.Auth.ChatAuth(ctx, m.o.Login)
		if err != nil {
			return Auth{}, "", fmt.Errorf("twitch: credentials: %w", err)
		}
		auth = a
	}
	login := auth.Login
	if auth.Anonymous || auth.Token.IsZero() {
		auth.Anonymous = true
		login = AnonymousLogin()
	}
	if login == "" {
		login = m.o.Login
	}
	return auth, login, nil
}

// openSession logs in and registers a new connection for sl, within the
// budgets of its identity: an account's logins and JOINs are shared by all
// its connections; an anonymous connection has JOINs of its own, and new
// anonymous connections share ConnectRate.
func (m *Manager) openSession(ctx context.Context, sl *slot) (*session, error) {
	auth, login, err := m.chatAuth(ctx)
	if err != nil {
		return nil, err
	}
	logins, joins := m.anonConnect, (*window)(nil)
	switch {
	case auth.Anonymous:
		joins = newWindow(m.o.JoinRate, m.o.JoinWindow)
	case m.o.JoinGate != nil:
		// The gate grants the account's JOINs (a nil joins).
		logins = m.account(login).logins
	default:
		a := m.account(login)
		logins, joins = a.logins, a.joins
	}
	if err := logins.wait(ctx); err != nil {
		return nil, err
	}
	sl.cnt.authAttempts.Add(1)
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
	s.joins = joins
	s.start(ctx)
	if err := s.register(auth); err != nil {
		s.fail(err)
		<-s.done
		return nil, err
	}
	select {
	case <-s.registered.C():
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
