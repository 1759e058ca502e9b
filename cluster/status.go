package cluster

import (
	"slices"
	"time"
)

// Stats are the coordinator's figures for metrics: cheap to take.
type Stats struct {
	Members    int  `json:"members"`    // live member keys, leaving ones included
	Eligible   int  `json:"eligible"`   // members that own channels
	LeaseValid bool `json:"leaseValid"` // this instance's key is known to exist
	Leaving    bool `json:"leaving"`
	Wanted     int  `json:"wanted"`    // channels in the wanted set
	Owned      int  `json:"owned"`     // wanted channels this instance owns
	Confirmed  int  `json:"confirmed"` // of those, joined here
	Reading    int  `json:"reading"`   // channels handed to the reader (owned, or not yet handed over)
	JoinQueue  int  `json:"joinQueue"` // owned channels not yet handed to the reader (waiting for the JOIN budget unless GatedReader)
	// Uncovered is the number of wanted channels that no live instance has
	// confirmed: the cluster's gap, as this instance sees it (every
	// instance reports the same figure; do not add them up).
	Uncovered int `json:"uncovered"`
	// Handovers counts channels parted here after their new owners
	// confirmed them; Takeovers counts channels this instance started to
	// own.
	Handovers uint64 `json:"handovers"`
	Takeovers uint64 `json:"takeovers"`
	// Gaps counts the intervals in which a channel that had been covered
	// had no confirmed live reader; GapSeconds is their total length and
	// MaxGapSeconds the longest (closed ones).
	Gaps          uint64  `json:"gaps"`
	GapSeconds    float64 `json:"gapSeconds"`
	MaxGapSeconds float64 `json:"maxGapSeconds"`
	// WatchResets counts restarts of the bucket watches.
	WatchResets uint64       `json:"watchResets"`
	Budget      *BudgetStats `json:"budget,omitempty"` // the shared JOIN budget, when there is one
}

// Status is the coordinator's state for /_debug: the members, and each
// wanted channel's owners and which instances confirmed it. It holds no
// secret.
type Status struct {
	Instance       string          `json:"instance"`
	Replicas       int             `json:"replicas"`
	LeaseTTL       string          `json:"leaseTtl"`
	LeaseExpiresIn float64         `json:"leaseExpiresInSeconds"`
	Loaded         bool            `json:"loaded"`
	Ready          bool            `json:"ready"`
	Stats          Stats           `json:"stats"`
	Members        []MemberStatus  `json:"members"`
	Channels       []ChannelStatus `json:"channels"`
}

// MemberStatus is one live member.
type MemberStatus struct {
	Instance string    `json:"instance"`
	Leaving  bool      `json:"leaving,omitempty"`
	Started  time.Time `json:"started,omitzero"`
	Owns     int       `json:"owns"` // wanted channels it owns
}

// ChannelStatus is one wanted channel.
type ChannelStatus struct {
	Channel   string   `json:"channel"`
	Owners    []string `json:"owners"`
	Confirmed []string `json:"confirmed"` // live instances that have it joined, owners or not
	Covered   bool     `json:"covered"`   // a live instance confirmed it
}

// Ready reports whether this instance is a member and every channel it
// owns is joined here (or refused for good by the server).
func (c *Coordinator) Ready() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.readyLocked()
}

// readyLocked is Ready with c.mu held: the last reconcile's verdict, and
// the lease still valid now (it may have lapsed since).
func (c *Coordinator) readyLocked() bool {
	return c.ready && !c.leaving && time.Now().Before(c.leaseUntil)
}

// Stats returns the figures.
func (c *Coordinator) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.statsLocked()
}

func (c *Coordinator) statsLocked() Stats {
	s := Stats{
		Members:       len(c.live),
		Eligible:      len(c.eligible),
		LeaseValid:    time.Now().Before(c.leaseUntil),
		Leaving:       c.leaving,
		Wanted:        len(c.wanted),
		Owned:         c.ownedN,
		Confirmed:     c.okN,
		Reading:       len(c.added),
		JoinQueue:     len(c.queue),
		Uncovered:     c.uncoveredN,
		Handovers:     c.handovers,
		Takeovers:     c.takeovers,
		Gaps:          c.gaps,
		GapSeconds:    c.gapSeconds,
		MaxGapSeconds: c.maxGap,
		WatchResets:   c.resets,
	}
	if c.budget != nil {
		b := c.budget.Stats()
		s.Budget = &b
	}
	return s
}

// Status returns a snapshot of the cluster as this instance sees it.
func (c *Coordinator) Status() Status {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := Status{
		Instance:       c.me,
		Replicas:       c.o.Replicas,
		LeaseTTL:       c.o.LeaseTTL.String(),
		LeaseExpiresIn: max(0, time.Until(c.leaseUntil).Seconds()),
		Loaded:         c.loaded,
		Ready:          c.readyLocked(),
		Stats:          c.statsLocked(),
		Members:        []MemberStatus{},
		Channels:       []ChannelStatus{},
	}
	owns := map[string]int{}
	for ch, os := range c.owners {
		for _, o := range os {
			owns[o]++
		}
		cs := ChannelStatus{Channel: ch, Owners: slices.Clone(os), Confirmed: []string{}}
		for inst := range c.confs[ch] {
			if c.valid(ch, inst) {
				cs.Confirmed = append(cs.Confirmed, inst)
				cs.Covered = true
			}
		}
		slices.Sort(cs.Confirmed)
		st.Channels = append(st.Channels, cs)
	}
	slices.SortFunc(st.Channels, func(a, b ChannelStatus) int { return cmpStr(a.Channel, b.Channel) })
	for id, m := range c.live {
		st.Members = append(st.Members, MemberStatus{Instance: id, Leaving: m.Leaving, Started: m.Started, Owns: owns[id]})
	}
	slices.SortFunc(st.Members, func(a, b MemberStatus) int { return cmpStr(a.Instance, b.Instance) })
	return st
}

func cmpStr(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
