package twitch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ingress-egress/ingress-egress/ircv3"
	"github.com/ingress-egress/ingress-egress/twitch/tmi"
)

// Tokens of the PINGs we send.
const (
	pingKeepalive = "keepalive"
	pingDrain     = "drain"
	pingCaughtUp  = "caughtup"
	pingResume    = "resume" // followed by the number of the stall
)

// session is one connection: its transport, a reader goroutine (which
// answers PINGs, follows registration and channel events and calls the
// Handler), a writer goroutine with a bounded queue, and a keepalive
// goroutine.
type session struct {
	m     *Manager
	sl    *slot
	id    uint64
	login string
	tr    transport
	joins *window // the JOIN budget of its identity

	q    chan []byte   // write queue; a full queue blocks send
	stop chan struct{} // closed by fail
	done chan struct{} // closed when every goroutine of the session has ended
	once sync.Once
	err  error // why the session ended; set before stop is closed
	wg   sync.WaitGroup

	registered *event // at 001
	reconnect  *event // at RECONNECT
	drained    *event // when our drain PING was answered
	caughtUp   *event // when our catch-up PING was answered

	startedAt  time.Time
	regAt      atomic.Int64 // unix ns of 001
	lastRead   atomic.Int64 // unix ns of the last line read
	nlines     atomic.Uint64
	pingSentAt atomic.Int64 // unix ns of our last keepalive PING
	rtt        atomic.Int64 // ns, last keepalive round trip
	inHandler  atomic.Int64 // unix ns when the running HandleLine call began; 0: none
	// behindSince is when reading stopped for a stalled HandleLine call
	// (unix ns; 0: not behind). It is cleared when the resume PING sent
	// after the last stall is answered: every line sent before it was read.
	behindSince atomic.Int64
	resumeSeq   atomic.Uint64 // number of the last resume PING

	// Reader goroutine only.
	msg        ircv3.Message
	line       Line
	capPending int

	// Guarded by Manager.mu.
	chans   map[string]*joinState
	parts   []string            // channels to PART at the next sync
	parting map[string]struct{} // PARTs sent whose echo is ours
	gone    bool                // sessionGone was called
	settled bool                // registered and joined every channel once
}

func newSession(m *Manager, sl *slot, id uint64, login string, tr transport, now time.Time) *session {
	return &session{
		m: m, sl: sl, id: id, login: login, tr: tr,
		q:          make(chan []byte, m.o.WriteQueue),
		stop:       make(chan struct{}),
		done:       make(chan struct{}),
		registered: newEvent(),
		reconnect:  newEvent(),
		drained:    newEvent(),
		caughtUp:   newEvent(),
		startedAt:  now,
		chans:      make(map[string]*joinState),
		parting:    make(map[string]struct{}),
		line:       Line{Conn: id},
	}
}

// event is a one-shot signal: set once, waited on by receiving from C.
type event struct {
	once sync.Once
	c    chan struct{}
}

func newEvent() *event { return &event{c: make(chan struct{})} }

// set closes C; later calls do nothing.
func (e *event) set() { e.once.Do(func() { close(e.c) }) }

// C is closed once set was called.
func (e *event) C() <-chan struct{} { return e.c }

// start runs the session's goroutines; done is closed when all have ended.
func (s *session) start(ctx context.Context) {
	s.lastRead.Store(s.startedAt.UnixNano())
	s.wg.Add(3)
	go s.readLoop(ctx)
	go s.writeLoop()
	go s.keepalive()
	go func() {
		s.wg.Wait()
		close(s.done)
	}()
}

// fail ends the session with err (the first error wins) and closes the
// transport, which unblocks the reader and the writer.
func (s *session) fail(err error) {
	s.once.Do(func() {
		s.err = err
		close(s.stop)
		s.tr.Close()
	})
}

// send queues b (whole lines) for the writer, waiting while the queue is
// full. It returns false when the session has ended.
func (s *session) send(b []byte) bool {
	select {
	case s.q <- b:
		return true
	case <-s.stop:
		return false
	}
}

// trySend queues b without waiting; a full queue means that writes no
// longer reach the server, and ends the session. The reader uses it, so
// that reading never waits for a write.
func (s *session) trySend(b []byte) {
	select {
	case s.q <- b:
	case <-s.stop:
	default:
		s.fail(ErrWriteStalled)
	}
}

func (s *session) writeLoop() {
	defer s.wg.Done()
	for {
		select {
		case <-s.stop:
			return
		case b := <-s.q:
			if err := s.tr.WriteLines(b); err != nil {
				s.fail(fmt.Errorf("twitch: write: %w", err))
				return
			}
		}
	}
}

// keepalive sends a PING after PingInterval without a line, and ends the
// session when nothing arrives within PongTimeout of it. While the reader
// waits on the Handler, the connection is not judged.
func (s *session) keepalive() {
	defer s.wg.Done()
	o := &s.m.o
	t := time.NewTimer(o.PingInterval)
	defer t.Stop()
	var (
		pingAt    time.Time // when the outstanding PING was sent
		linesAtPg uint64
		warned    int64 // the stalled HandleLine call already logged
	)
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
		now := time.Now()
		if h := s.inHandler.Load(); h != 0 {
			// The reader waits on the Handler (backpressure): the
			// connection is not silent, we are not reading. Judging it by
			// lines read would close a live connection and throw away what
			// it holds. An outstanding PING's answer is queued behind the
			// unread lines.
			if since := time.Unix(0, h); now.Sub(since) >= o.StallAfter && warned != h {
				warned = h
				s.m.log.Warn("reading stalled: the handler is waiting (bus backpressure)", "slot", s.sl.id, "conn", s.id,
					"since", since)
			}
			pingAt = time.Time{}
			t.Reset(min(o.PingInterval, o.StallAfter))
			continue
		}
		if !pingAt.IsZero() {
			if s.nlines.Load() == linesAtPg {
				if wait := pingAt.Add(o.PongTimeout).Sub(now); wait > 0 {
					t.Reset(wait)
					continue
				}
				s.fail(ErrPongTimeout)
				return
			}
			pingAt = time.Time{}
		}
		idle := now.Sub(time.Unix(0, s.lastRead.Load()))
		if idle < o.PingInterval {
			t.Reset(o.PingInterval - idle)
			continue
		}
		pingAt, linesAtPg = now, s.nlines.Load()
		s.pingSentAt.Store(now.UnixNano())
		s.trySend([]byte("PING :" + pingKeepalive + "\r\n"))
		t.Reset(o.PongTimeout)
	}
}

// Login failure NOTICEs, sent before the connection is closed.
var loginFailures = [][]byte{
	[]byte("Login authentication failed"),
	[]byte("Improperly formatted auth"),
	[]byte("Invalid NICK"),
}

// JOIN refusals (NOTICE msg-id) that fail a channel.
func joinRefusal(id []byte) bool {
	switch string(id) {
	case "msg_channel_suspended", "msg_banned", "msg_channel_blocked", "tos_ban":
		return true
	}
	return false
}

func (s *session) readLoop(ctx context.Context) {
	defer s.wg.Done()
	cnt := &s.sl.cnt
	h := s.m.o.Handler
	for {
		raw, err := s.tr.ReadLine()
		if err != nil {
			if err == ircv3.ErrLineTooLong {
				cnt.oversized.Add(1)
				continue
			}
			s.fail(err)
			return
		}
		now := time.Now()
		s.lastRead.Store(now.UnixNano())
		s.nlines.Add(1)
		msg := &s.line.Msg
		if err := msg.Parse(raw); err != nil {
			cnt.parseErrors.Add(1)
			continue
		}
		cnt.lines.Add(1)
		c := tmi.KindOf(msg.Command)
		cnt.byCommand[c].Add(1)
		if c != tmi.KindPrivmsg {
			s.control(c, msg, now)
		}
		if s.sl.overlap.Load() && s.duplicate(c, msg, raw, now) {
			cnt.dedupHits.Add(1)
			continue
		}
		s.line.Raw = raw
		s.line.Received = now
		s.inHandler.Store(now.UnixNano())
		err = h.HandleLine(ctx, &s.line)
		s.inHandler.Store(0)
		waited := time.Since(now)
		cnt.handlerNanos.Add(int64(waited))
		if waited >= s.m.o.StallAfter {
			s.stalled(now, waited)
		}
		if err != nil {
			s.m.fatal(fmt.Errorf("twitch: handler: %w", err))
			s.fail(err)
			return
		}
	}
}

// stalled records that reading stopped for d from start while the Handler
// waited (backpressure). The server went on sending meanwhile: until a PING
// sent now is answered, what it sent may not all arrive (Twitch drops a
// reader that falls behind), so if the connection ends first, the gap of
// its channels starts at start.
func (s *session) stalled(start time.Time, d time.Duration) {
	cnt := &s.sl.cnt
	cnt.stalls.Add(1)
	cnt.stallNanos.Add(int64(d))
	s.behindSince.CompareAndSwap(0, start.UnixNano())
	s.m.log.Info("reading resumed after waiting on the handler", "slot", s.sl.id, "conn", s.id, "waited", d.String())
	n := s.resumeSeq.Add(1)
	s.trySend([]byte("PING :" + pingResume + strconv.FormatUint(n, 10) + "\r\n"))
}

// resumed handles the answer to a resume PING: when it answers the last
// one, reading has caught up.
func (s *session) resumed(token []byte) {
	n, err := strconv.ParseUint(string(token[len(pingResume):]), 10, 64)
	if err == nil && n == s.resumeSeq.Load() {
		s.behindSince.Store(0)
	}
}

// duplicate reports whether a line was already delivered by the other
// connection of an overlap. The key is the id tag; lines without one that
// Twitch sends to every member of a channel (CLEARCHAT, CLEARMSG) are keyed
// by their whole text. Connection-specific lines are never duplicates.
func (s *session) duplicate(c tmi.Kind, msg *ircv3.Message, raw []byte, now time.Time) bool {
	if id, ok := msg.Tag("id"); ok && len(id) > 0 {
		return s.sl.dedup.check(id, now)
	}
	switch c {
	case tmi.KindClearchat, tmi.KindClearmsg, tmi.KindUsernotice, tmi.KindHosttarget:
		return s.sl.dedup.check(raw, now)
	}
	return false
}

// control follows the protocol: PING, PONG, registration, RECONNECT and
// channel membership.
func (s *session) control(c tmi.Kind, msg *ircv3.Message, now time.Time) {
	switch c {
	case tmi.KindPing:
		pong, err := ircv3.AppendPong(nil, msg.Trailing())
		if err == nil {
			s.trySend(pong)
		}
	case tmi.KindPong:
		switch string(msg.Trailing()) {
		case pingKeepalive:
			if at := s.pingSentAt.Load(); at != 0 {
				s.rtt.Store(now.UnixNano() - at)
			}
		case pingDrain:
			s.drained.set()
		case pingCaughtUp:
			s.caughtUp.set()
		default:
			if t := msg.Trailing(); bytes.HasPrefix(t, []byte(pingResume)) {
				s.resumed(t)
			}
		}
	case tmi.KindReconnect:
		s.reconnect.set()
	case tmi.KindCap:
		// CAP * ACK :caps / CAP * NAK :caps; CAP END once every REQ is answered.
		if sub := msg.Param(1); string(sub) == "ACK" || string(sub) == "NAK" {
			s.capPending--
			if s.capPending == 0 {
				s.trySend(ircv3.AppendCapEnd(nil))
			}
		}
	case tmi.KindNumeric:
		if string(msg.Command) == "001" {
			s.regAt.Store(now.UnixNano())
			s.registered.set()
		}
	case tmi.KindError:
		s.fail(fmt.Errorf("twitch: server closed the link: %.200s", msg.Trailing()))
	case tmi.KindNotice:
		if id, ok := msg.Tag("msg-id"); ok && joinRefusal(id) {
			s.m.onFailed(s, channelName(msg.Param(0)), string(id), now)
			return
		}
		if s.regAt.Load() == 0 {
			for _, f := range loginFailures {
				if bytes.Contains(msg.Trailing(), f) {
					s.fail(ErrLoginFailed)
					return
				}
			}
		}
	case tmi.KindJoin:
		if s.isOwn(msg) {
			s.m.onJoined(s, channelName(msg.Param(0)), now)
		}
	case tmi.KindRoomstate:
		s.m.onJoined(s, channelName(msg.Param(0)), now)
	case tmi.KindPart:
		if s.isOwn(msg) {
			s.m.onPart(s, channelName(msg.Param(0)), now)
		}
	}
}

// register queues the registration lines: one CAP REQ per capability, PASS
// (unless anonymous), NICK and USER (which generic servers need and Twitch
// ignores).
func (s *session) register(a Auth) error {
	var b []byte
	var err error
	for _, c := range s.m.o.Caps {
		if b, err = ircv3.AppendCapReq(b, c); err != nil {
			return fmt.Errorf("twitch: cap %q: %w", c, err)
		}
	}
	s.capPending = len(s.m.o.Caps)
	if !a.Anonymous && !a.Token.IsZero() {
		if b, err = ircv3.AppendPass(b, "oauth:"+a.Token.Reveal()); err != nil {
			return errors.New("twitch: token cannot be sent in PASS")
		}
	}
	if b, err = ircv3.AppendNick(b, s.login); err != nil {
		return fmt.Errorf("twitch: nick %q: %w", s.login, err)
	}
	if b, err = ircv3.AppendUser(b, s.login, s.login); err != nil {
		return fmt.Errorf("twitch: user %q: %w", s.login, err)
	}
	s.send(b)
	return nil
}
