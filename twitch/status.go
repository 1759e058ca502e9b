package twitch

import (
	"maps"
	"slices"
	"time"

	"github.com/ingress-egress/ingress-egress/twitch/tmi"
)

// Status is a snapshot of the manager for /_debug/twitch and readiness. It
// holds no secret (no token, no chat text) and marshals to JSON.
type Status struct {
	Ready       bool         `json:"ready"`
	URL         string       `json:"url"`
	Wanted      int          `json:"wanted"`      // channels wanted
	Joined      int          `json:"joined"`      // wanted channels joined on a live connection
	Gaps        uint64       `json:"gaps"`        // gaps closed so far
	GapSeconds  float64      `json:"gapSeconds"`  // their total length
	OpenGaps    []Gap        `json:"openGaps"`    // channels not covered now
	RecentGaps  []Gap        `json:"recentGaps"`  // the last closed gaps, oldest first
	Failed      []Failed     `json:"failed"`      // channels that failed
	Connections []ConnStatus `json:"connections"` // one per pooled connection
	// Stalled is how many connections are not being read now because the
	// Handler waits (bus backpressure) for StallAfter or longer.
	Stalled int `json:"stalled"`
}

// Failed is a channel that could not be joined or was parted by the server.
type Failed struct {
	Channel string `json:"channel"`
	Reason  string `json:"reason"`
}

// ConnStatus is one pooled connection. Counters add up over all the
// connections that served it (across reconnects).
type ConnStatus struct {
	ID                  int       `json:"id"`
	Conn                uint64    `json:"conn"` // the current session's id (Line.Conn)
	State               string    `json:"state"`
	URL                 string    `json:"url"`
	Login               string    `json:"login"`
	Joined              []string  `json:"joined"`
	Pending             []string  `json:"pending"`
	Failed              []Failed  `json:"failed"`
	ConnectedSince      time.Time `json:"connectedSince,omitzero"`
	LastReconnect       time.Time `json:"lastReconnect,omitzero"`
	LastReconnectReason string    `json:"lastReconnectReason,omitempty"`
	// ReconnectsByReason counts reconnects by the kind of failure:
	// server_reconnect, pong_timeout, login_failed, register_timeout,
	// write_stalled, closed_by_server, error.
	ReconnectsByReason map[string]uint64 `json:"reconnectsByReason,omitempty"`
	PingRTTMillis      float64           `json:"pingRttMs"`
	// StalledSince is when reading stopped, while the Handler has been
	// waiting for StallAfter or longer; zero when reading.
	StalledSince time.Time `json:"stalledSince,omitzero"`
	// BehindSince is when reading stopped for the last stall, until the
	// connection is known to have caught up; zero when it has.
	BehindSince time.Time `json:"behindSince,omitzero"`
	LastError   string    `json:"lastError,omitempty"`
	Counters    Counters  `json:"counters"`
}

// Counters of a pooled connection.
type Counters struct {
	Lines         uint64            `json:"lines"`
	ByCommand     map[string]uint64 `json:"byCommand"`
	ParseErrors   uint64            `json:"parseErrors"`
	Oversized     uint64            `json:"oversized"`
	Reconnects    uint64            `json:"reconnects"`
	Gaps          uint64            `json:"gaps"`
	DedupHits     uint64            `json:"dedupHits"`
	Joins         uint64            `json:"joins"`
	JoinRetries   uint64            `json:"joinRetries"`
	AuthAttempts  uint64            `json:"authAttempts"`
	LoginFailures uint64            `json:"loginFailures"`
	// JoinGrantsDropped counts JOINs the JoinGate granted that were no
	// longer needed when the grant came (the connection was replaced, the
	// channel left): spent budget, never sent later.
	JoinGrantsDropped  uint64  `json:"joinGrantsDropped,omitempty"`
	HandlerWaitSeconds float64 `json:"handlerWaitSeconds"` // time the reader spent in the Handler, backpressure included
	Stalls             uint64  `json:"stalls"`             // Handler calls of StallAfter or longer
	StallSeconds       float64 `json:"stallSeconds"`       // their time (a stall still running counts too)
}

// Status returns a snapshot.
func (m *Manager) Status() Status {
	m.mu.Lock()
	defer m.mu.Unlock()
	st := Status{
		Ready:       m.running && !m.ctxDone(),
		URL:         m.ep.public,
		Wanted:      len(m.channels),
		Gaps:        m.gapTotal,
		GapSeconds:  m.gapSeconds,
		RecentGaps:  append([]Gap{}, m.gaps...),
		OpenGaps:    []Gap{},
		Failed:      []Failed{},
		Connections: []ConnStatus{},
	}
	for _, ch := range m.channels {
		switch {
		case ch.failed != "":
			st.Failed = append(st.Failed, Failed{ch.name, ch.failed})
		case ch.covered > 0:
			st.Joined++
		default:
			st.Ready = false
			if !ch.gapStart.IsZero() {
				st.OpenGaps = append(st.OpenGaps, Gap{Channel: ch.name, Start: ch.gapStart})
			}
		}
	}
	slices.SortFunc(st.Failed, func(a, b Failed) int { return cmpString(a.Channel, b.Channel) })
	slices.SortFunc(st.OpenGaps, func(a, b Gap) int { return cmpString(a.Channel, b.Channel) })
	for _, sl := range m.slots {
		cs := m.slotStatus(sl)
		if !cs.StalledSince.IsZero() {
			st.Stalled++
		}
		st.Connections = append(st.Connections, cs)
	}
	return st
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// slotStatus; m.mu is held.
func (m *Manager) slotStatus(sl *slot) ConnStatus {
	cs := ConnStatus{
		ID:                  sl.id,
		State:               sl.state,
		URL:                 m.ep.public,
		Joined:              []string{},
		Pending:             []string{},
		Failed:              []Failed{},
		LastReconnect:       sl.lastReconnect,
		LastReconnectReason: sl.lastReason,
		ReconnectsByReason:  maps.Clone(sl.reconnectsBy),
		LastError:           sl.lastErr,
	}
	s := sl.cur
	if s != nil {
		cs.Conn = s.id
		cs.Login = s.login
		cs.ConnectedSince = sl.connectedAt
		cs.PingRTTMillis = float64(s.rtt.Load()) / 1e6
	}
	for name := range sl.wanted {
		ch := m.channels[name]
		switch {
		case ch == nil:
		case ch.failed != "":
			cs.Failed = append(cs.Failed, Failed{name, ch.failed})
		case s != nil && s.chans[name] != nil && s.chans[name].joined:
			cs.Joined = append(cs.Joined, name)
		default:
			cs.Pending = append(cs.Pending, name)
		}
	}
	slices.Sort(cs.Joined)
	slices.Sort(cs.Pending)
	slices.SortFunc(cs.Failed, func(a, b Failed) int { return cmpString(a.Channel, b.Channel) })
	c := &sl.cnt
	cs.Counters = Counters{
		Lines:              c.lines.Load(),
		ByCommand:          map[string]uint64{},
		ParseErrors:        c.parseErrors.Load(),
		Oversized:          c.oversized.Load(),
		Reconnects:         c.reconnects.Load(),
		Gaps:               c.gaps.Load(),
		DedupHits:          c.dedupHits.Load(),
		Joins:              c.joins.Load(),
		JoinRetries:        c.joinRetries.Load(),
		AuthAttempts:       c.authAttempts.Load(),
		LoginFailures:      c.loginFailures.Load(),
		JoinGrantsDropped:  c.gateDropped.Load(),
		HandlerWaitSeconds: time.Duration(c.handlerNanos.Load()).Seconds(),
		Stalls:             c.stalls.Load(),
		StallSeconds:       time.Duration(c.stallNanos.Load()).Seconds(),
	}
	// A call still running (a blocked bus) counts too.
	now := time.Now()
	for _, s := range []*session{sl.cur, sl.old} {
		if s == nil {
			continue
		}
		if b := s.behindSince.Load(); b != 0 && (cs.BehindSince.IsZero() || b < cs.BehindSince.UnixNano()) {
			cs.BehindSince = time.Unix(0, b)
		}
		since := s.inHandler.Load()
		if since == 0 {
			continue
		}
		waited := now.Sub(time.Unix(0, since))
		cs.Counters.HandlerWaitSeconds += waited.Seconds()
		if waited >= m.o.StallAfter {
			cs.Counters.StallSeconds += waited.Seconds()
			if cs.StalledSince.IsZero() || since < cs.StalledSince.UnixNano() {
				cs.StalledSince = time.Unix(0, since)
			}
			if cs.BehindSince.IsZero() || since < cs.BehindSince.UnixNano() {
				cs.BehindSince = time.Unix(0, since)
			}
		}
	}
	for i := range c.byCommand {
		if n := c.byCommand[i].Load(); n > 0 {
			cs.Counters.ByCommand[tmi.Kind(i).String()] = n
		}
	}
	return cs
}
