package twitch

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ingress-egress/ingress-egress/ircv3"
)

// maxGaps is how many recent gaps the status keeps.
const maxGaps = 100

// Gap is an interval during which a wanted channel was not joined on any
// live connection, so that its messages could be missed. End is zero while
// the gap is open.
type Gap struct {
	Channel string    `json:"channel"`
	Start   time.Time `json:"start"`
	End     time.Time `json:"end,omitzero"`
}

// channel is a wanted channel. Guarded by Manager.mu.
type channel struct {
	name     string
	sl       *slot
	failed   string    // why it failed (a NOTICE msg-id, "parted"); empty if not
	covered  int       // live sessions on which it is joined
	gapStart time.Time // start of the open gap; zero when none
	joinedAt time.Time // first time it was joined; zero before
}

// joinState is a channel's state on one session. Guarded by Manager.mu.
type joinState struct {
	joined   bool
	sentAt   time.Time // last JOIN sent
	attempts int
}

// MaxChannelLen is the longest Twitch login, and so the longest channel
// name.
const MaxChannelLen = 25

// NormalizeChannel returns the login a channel name stands for. A Twitch
// login is 1 to 25 characters of a-z, 0-9 and '_'; NormalizeChannel also
// accepts upper case (folded to lower) and one leading '#' (dropped).
// Anything else — an empty name, a space, a control character, non-ASCII,
// '.', '/', a second '#' — is refused with an error that wraps
// ErrInvalidChannel and says which character or rule failed, so that
// nothing but a login ever reaches a JOIN line.
func NormalizeChannel(s string) (string, error) {
	name := strings.TrimPrefix(s, "#")
	if name == "" {
		return "", invalidChannel(s, "empty")
	}
	if len(name) > MaxChannelLen {
		return "", invalidChannel(s, fmt.Sprintf("longer than %d characters", MaxChannelLen))
	}
	lower := true
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '_':
		case 'A' <= c && c <= 'Z':
			lower = false
		default:
			r, _ := utf8.DecodeRuneInString(name[i:])
			return "", invalidChannel(s, fmt.Sprintf("%q at byte %d is not a-z, 0-9 or _", r, i+len(s)-len(name)))
		}
	}
	if !lower {
		name = strings.ToLower(name)
	}
	return name, nil
}

// invalidChannel wraps ErrInvalidChannel with the name (quoted, cut to 64
// bytes) and the reason.
func invalidChannel(s, reason string) error {
	if len(s) > 64 {
		s = s[:64] + "…"
	}
	return fmt.Errorf("%w %q: %s (a Twitch login is 1-%d characters of a-z, 0-9 and _)", ErrInvalidChannel, s, reason, MaxChannelLen)
}

// normalizeChannel is NormalizeChannel.
func normalizeChannel(s string) (string, error) { return NormalizeChannel(s) }

// add adds a channel to the wanted set and places it on a slot.
func (m *Manager) add(login string) error {
	name, err := normalizeChannel(login)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	if ch := m.channels[name]; ch != nil {
		if ch.failed != "" {
			ch.failed = ""
			ch.sl.poke()
		}
		return nil
	}
	ch := &channel{name: name}
	var sl *slot
	for _, s := range m.slots {
		if !s.closing && len(s.wanted) < m.o.ChannelsPerConn {
			sl = s
			break
		}
	}
	if sl == nil {
		sl = m.newSlot()
		m.slots = append(m.slots, sl)
		if m.running {
			m.startSlot(sl)
		}
	}
	ch.sl = sl
	sl.wanted[name] = struct{}{}
	m.channels[name] = ch
	sl.poke()
	return nil
}

// remove drops a channel from the wanted set; its sessions part it.
func (m *Manager) remove(name string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	ch := m.channels[name]
	if ch == nil {
		return
	}
	delete(m.channels, name)
	sl := ch.sl
	delete(sl.wanted, name)
	for _, s := range []*session{sl.cur, sl.old} {
		if s == nil {
			continue
		}
		if _, ok := s.chans[name]; ok {
			delete(s.chans, name)
			s.parts = append(s.parts, name)
			s.parting[name] = struct{}{}
		}
	}
	sl.poke()
}

// syncJoins sends the PARTs and JOINs that s needs for its slot's wanted
// channels, within the rate limit, and returns when it must be called again
// (zero: not before something changes). With a JoinGate the JOINs are
// asked of the gate and sent by gatedJoins.
func (m *Manager) syncJoins(sl *slot, s *session, now time.Time) time.Time {
	m.mu.Lock()
	need, wake := m.joinsNeeded(sl, s, now)
	parts := s.parts
	s.parts = nil
	var taken int
	var ask *gateReq
	if s.joins == nil {
		ask, wake = m.askGate(sl, s, len(need), now, wake)
	} else {
		var retry time.Duration
		taken, retry = s.joins.take(now, len(need))
		if taken < len(need) {
			wake = soonest(wake, now.Add(retry))
		}
		if taken > 0 {
			wake = soonest(wake, now.Add(m.o.JoinTimeout))
		}
		m.markSent(sl, s, need[:taken], now)
	}
	m.mu.Unlock()

	var buf []byte
	if len(parts) > 0 {
		buf, _ = ircv3.AppendPart(buf, hashAll(parts)...)
	}
	if taken > 0 {
		buf, _ = ircv3.AppendJoin(buf, hashAll(need[:taken])...)
		sl.cnt.joins.Add(uint64(taken))
	}
	if len(buf) > 0 {
		s.send(buf)
	}
	if ask != nil {
		// After the PARTs: a channel parted and wanted again is joined
		// after its PART.
		go m.gatedJoins(sl, ask)
	}
	return wake
}

// joinsNeeded returns, sorted, the wanted channels of sl that s must JOIN
// (never sent, or unconfirmed for JoinTimeout), and when the next of the
// others becomes due (zero: none). m.mu is held.
func (m *Manager) joinsNeeded(sl *slot, s *session, now time.Time) (need []string, wake time.Time) {
	for name := range sl.wanted {
		ch := m.channels[name]
		if ch == nil || ch.failed != "" {
			continue
		}
		js := s.chans[name]
		switch {
		case js == nil:
			need = append(need, name)
		case js.joined:
		case !now.Before(js.sentAt.Add(m.o.JoinTimeout)):
			need = append(need, name)
		default:
			wake = soonest(wake, js.sentAt.Add(m.o.JoinTimeout))
		}
	}
	slices.Sort(need)
	return need, wake
}

// markSent records JOINs of names sent on s at now. m.mu is held.
func (m *Manager) markSent(sl *slot, s *session, names []string, now time.Time) {
	for _, name := range names {
		js := s.chans[name]
		if js == nil {
			js = &joinState{}
			s.chans[name] = js
		} else {
			sl.cnt.joinRetries.Add(1)
		}
		js.sentAt = now
		js.attempts++
	}
}

// soonest returns the earlier of wake and t; a zero wake is no time yet.
func soonest(wake, t time.Time) time.Time {
	if wake.IsZero() || t.Before(wake) {
		return t
	}
	return wake
}

func hashAll(names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = "#" + n
	}
	return out
}

// channelName returns a channel parameter's name without its '#'.
func channelName(p []byte) []byte {
	if len(p) > 0 && p[0] == '#' {
		return p[1:]
	}
	return p
}

// isOwn reports whether the message's source is s's own nick.
func (s *session) isOwn(msg *ircv3.Message) bool {
	return bytes.EqualFold(msg.Nick(), []byte(s.login))
}

// onJoined marks name joined on s: a JOIN echo or a ROOMSTATE arrived.
func (m *Manager) onJoined(s *session, name []byte, now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	js := s.chans[string(name)]
	if js == nil || js.joined || s.gone {
		return
	}
	js.joined = true
	ch := m.channels[string(name)]
	if ch == nil {
		return
	}
	if ch.joinedAt.IsZero() {
		ch.joinedAt = now
	}
	ch.covered++
	if ch.covered == 1 && !ch.gapStart.IsZero() {
		m.recordGap(ch, now)
	}
	// Keep the slot's reported state in step with Ready: the slot loop
	// would only get to it after the poke.
	if m.allJoined(s.sl, s) {
		s.settled = true
		if sl := s.sl; sl.cur == s && sl.old == nil && sl.state == stateJoining {
			sl.state = stateReady
		}
	}
	s.sl.poke()
}

// onFailed marks a channel failed for reason (a JOIN refused, a PART by
// the server): it is not joined again until it is added again.
func (m *Manager) onFailed(s *session, name []byte, reason string, now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	ch := m.channels[string(name)]
	if ch == nil || ch.sl != s.sl {
		return
	}
	if js := s.chans[string(name)]; js != nil && js.joined {
		js.joined = false
		ch.covered--
	}
	if ch.failed == "" {
		m.log.Warn("channel failed", "channel", ch.name, "reason", reason)
	}
	ch.failed = reason
	ch.gapStart = time.Time{}
	s.sl.poke()
}

// onPart handles a PART of our own nick.
func (m *Manager) onPart(s *session, name []byte, now time.Time) {
	m.mu.Lock()
	if _, ok := s.parting[string(name)]; ok {
		delete(s.parting, string(name))
		m.mu.Unlock()
		return
	}
	m.mu.Unlock()
	m.onFailed(s, name, "parted by server", now)
}

// sessionGone updates coverage when s has ended: its channels start a gap
// unless another live session still has them.
func (m *Manager) sessionGone(s *session, now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s.gone = true
	// The gap starts when the connection last delivered: a half-open
	// connection is noticed only PingInterval + PongTimeout after its last
	// line, and what the server sent meanwhile never arrived. When reading
	// had not caught up after a stall, it starts when reading stopped.
	gapAt := now
	if r := s.lastRead.Load(); r != 0 && r < gapAt.UnixNano() {
		gapAt = time.Unix(0, r)
	}
	if b := s.behindSince.Load(); b != 0 && b < gapAt.UnixNano() {
		gapAt = time.Unix(0, b)
	}
	for name, js := range s.chans {
		if !js.joined {
			continue
		}
		ch := m.channels[name]
		if ch == nil || ch.sl != s.sl {
			continue
		}
		ch.covered--
		switch {
		case ch.covered != 0 || ch.failed != "":
		case !m.ctxDone():
			ch.gapStart = gapAt
		default: // shutdown: Run reports the gap it leaves
			if m.stopReadAt.IsZero() || gapAt.Before(m.stopReadAt) {
				m.stopReadAt = gapAt
			}
			m.stopReadChans++
		}
	}
	clear(s.chans)
}

func (m *Manager) ctxDone() bool { return m.ctx != nil && m.ctx.Err() != nil }

// recordGap closes ch's open gap at end. m.mu is held.
func (m *Manager) recordGap(ch *channel, end time.Time) {
	g := Gap{Channel: ch.name, Start: ch.gapStart, End: end}
	ch.gapStart = time.Time{}
	if len(m.gaps) == maxGaps {
		copy(m.gaps, m.gaps[1:])
		m.gaps = m.gaps[:maxGaps-1]
	}
	m.gaps = append(m.gaps, g)
	m.gapTotal++
	m.gapSeconds += g.End.Sub(g.Start).Seconds()
	ch.sl.cnt.gaps.Add(1)
	m.log.Info("gap closed", "channel", ch.name, "start", g.Start, "end", g.End, "duration", g.End.Sub(g.Start).String())
}

// allJoined reports whether s has joined every wanted, not failed channel
// of its slot. m.mu is held.
func (m *Manager) allJoined(sl *slot, s *session) bool {
	for name := range sl.wanted {
		ch := m.channels[name]
		if ch == nil || ch.failed != "" {
			continue
		}
		if js := s.chans[name]; js == nil || !js.joined {
			return false
		}
	}
	return true
}

// Joined returns the wanted channels that are joined on a live connection
// (confirmed by a JOIN echo or ROOMSTATE), sorted.
func (m *Manager) Joined() []string {
	joined, _ := m.Channels()
	return joined
}

// Channels returns a snapshot of the wanted channels' state, each list
// sorted: joined are those joined on a live connection (confirmed by a JOIN
// echo or ROOMSTATE), failed those the server refused or parted (banned,
// suspended), which are not joined again until added again. The others are
// being joined. It takes the manager's lock once and builds nothing per
// connection: cheap enough to poll (the cluster coordinator reads it twice
// a second), unlike Status.
func (m *Manager) Channels() (joined, failed []string) {
	m.mu.Lock()
	joined = make([]string, 0, len(m.channels))
	for name, ch := range m.channels {
		switch {
		case ch.failed != "":
			failed = append(failed, name)
		case ch.covered > 0:
			joined = append(joined, name)
		}
	}
	m.mu.Unlock()
	slices.Sort(joined)
	slices.Sort(failed)
	return joined, failed
}

// Ready reports whether the manager is running and every wanted channel
// that has not failed is joined on a live connection. Failed channels
// (suspended, banned) are reported in the status but do not hold readiness
// back.
func (m *Manager) Ready() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.running || m.ctxDone() {
		return false
	}
	for _, ch := range m.channels {
		if ch.failed == "" && ch.covered == 0 {
			return false
		}
	}
	return true
}
