package cluster

import (
	"context"
	"encoding/json"
	"maps"
	"slices"
	"time"
)

// reconcile compares the wanted assignment with what the reader does and
// acts: newly owned channels go to the join queue, channels no longer owned
// are parted once handed over, and the coverage figures are updated. It
// reports whether a Leave has finished (handed over, or out of time).
func (c *Coordinator) reconcile(ctx context.Context) (done bool) {
	joined, failed := c.r.Channels()
	now := time.Now()
	c.mu.Lock()
	clear(c.joined)
	for _, ch := range joined {
		c.joined[ch] = struct{}{}
	}
	clear(c.failed)
	for _, ch := range failed {
		c.failed[ch] = struct{}{}
	}
	if !c.loaded {
		c.mu.Unlock()
		return false
	}
	leaseOK := now.Before(c.leaseUntil)
	for id := range c.live {
		c.lastSeen[id] = now
	}

	// The members that own channels: live, not leaving; this instance
	// while its own lease holds and it is not leaving, whatever the watch
	// says (it may lag behind the heartbeat, or still show a key that
	// expired).
	elig := make([]string, 0, len(c.live)+1)
	for id, m := range c.live {
		if id != c.me && !m.Leaving {
			elig = append(elig, id)
		}
	}
	isMember := leaseOK && !c.leaving
	if isMember {
		elig = append(elig, c.me)
	}
	slices.Sort(elig)
	if !slices.Equal(elig, c.eligible) {
		c.log.Info("cluster membership changed", "members", elig, "me", isMember)
		c.eligible = elig
		c.dirty = true
	}
	if c.dirty {
		c.owners = make(map[string][]string, len(c.wanted))
		for ch := range c.wanted {
			c.owners[ch] = appendOwners(make([]string, 0, c.o.Replicas), ch, c.eligible, c.o.Replicas)
		}
		c.dirty = false
	}

	queued := false
	if isMember {
		for ch, os := range c.owners {
			if _, ok := c.added[ch]; ok {
				continue
			}
			if _, bad := c.addFailed[ch]; bad {
				continue
			}
			if owns(os, c.me) {
				c.added[ch] = struct{}{}
				c.queue = append(c.queue, ch)
				c.takeovers++
				queued = true
			}
		}
	}
	var remove []string
	for ch := range c.added {
		os, want := c.owners[ch]
		_, j := c.joined[ch]
		switch {
		case !want:
			remove = append(remove, ch)
		case c.leaving:
			// Keep reading until the service stops the reader.
		case isMember && owns(os, c.me):
		case !leaseOK:
			// Cut off from the cluster: whether the others have taken
			// the channel over cannot be known from here, so it is kept
			// (a duplicate is removed downstream, a gap is forever).
			// When the lease is back, the confirmations decide.
		case !j:
			// Not joined here: nothing to hand over.
			remove = append(remove, ch)
		case c.confirmedAll(ch, os):
			remove = append(remove, ch)
			c.handovers++
		}
	}
	for _, ch := range remove {
		delete(c.added, ch)
	}
	for ch := range c.addFailed {
		if _, w := c.wanted[ch]; !w {
			delete(c.addFailed, ch)
		}
	}

	c.ownedN, c.okN = 0, 0
	ready := isMember
	for ch, os := range c.owners {
		if !owns(os, c.me) || !isMember {
			continue
		}
		c.ownedN++
		_, j := c.joined[ch]
		_, f := c.failed[ch]
		if j {
			c.okN++
		}
		if !j && !f {
			ready = false
		}
	}
	c.ready = ready
	c.updateCoverage(now)
	if c.leaving {
		done = c.handedOver() || c.leaveCtx != nil && c.leaveCtx.Err() != nil
		if done && !c.handedOver() {
			c.log.Warn("leaving before every channel was confirmed by its new owners: out of time")
		}
	}
	c.mu.Unlock()

	if len(remove) > 0 {
		c.readerMu.Lock()
		if err := c.r.RemoveChannels(ctx, remove...); err != nil {
			c.log.Warn("cannot part channels", "error", err.Error())
		}
		c.readerMu.Unlock()
	}
	if queued {
		wake(c.joinWake)
	}
	wake(c.confWake)
	return done
}

// confirmedAll reports whether every one of owners has confirmed ch;
// c.mu is held.
func (c *Coordinator) confirmedAll(ch string, owners []string) bool {
	for _, o := range owners {
		if !c.valid(ch, o) {
			return false
		}
	}
	return true
}

// valid reports whether inst's confirmation of ch counts: inst is live and
// confirmed under its current lease epoch. c.mu is held.
func (c *Coordinator) valid(ch, inst string) bool {
	e, ok := c.confs[ch][inst]
	if !ok {
		return false
	}
	m, live := c.live[inst]
	return live && m.Epoch == e
}

// handedOver reports whether every channel joined here is confirmed by all
// its owners, computed without this instance (it is leaving); a channel
// with no other member to own it counts as handed over. c.mu is held.
func (c *Coordinator) handedOver() bool {
	for ch := range c.added {
		if _, j := c.joined[ch]; !j {
			continue
		}
		os := c.owners[ch]
		if len(os) > 0 && !c.confirmedAll(ch, os) {
			return false
		}
	}
	return true
}

// updateCoverage counts the wanted channels that no live instance has
// confirmed, and the gaps: intervals in which a channel that had been
// covered was not. c.mu is held.
func (c *Coordinator) updateCoverage(now time.Time) {
	n := 0
	for ch := range c.wanted {
		covered := false
		var lastBeat time.Time // the latest sign of life of the instances that confirmed it
		for inst := range c.confs[ch] {
			if c.valid(ch, inst) {
				covered = true
				break
			}
			lastBeat = maxTime(lastBeat, c.lastBeat[inst])
		}
		if covered {
			c.everCovered[ch] = struct{}{}
			if s, open := c.uncoveredSince[ch]; open {
				d := now.Sub(s).Seconds()
				c.gaps++
				c.gapSeconds += d
				c.maxGap = max(c.maxGap, d)
				delete(c.uncoveredSince, ch)
			}
			continue
		}
		n++
		if _, ever := c.everCovered[ch]; ever {
			if _, open := c.uncoveredSince[ch]; !open {
				// The readers it had may have stopped any time after their
				// last heartbeat: the gap is counted from then, an upper
				// bound.
				start := now
				if !lastBeat.IsZero() && lastBeat.Before(now) {
					start = lastBeat
				}
				c.uncoveredSince[ch] = start
			}
		}
	}
	maps.DeleteFunc(c.uncoveredSince, func(ch string, _ time.Time) bool { _, w := c.wanted[ch]; return !w })
	maps.DeleteFunc(c.everCovered, func(ch string, _ struct{}) bool { _, w := c.wanted[ch]; return !w })
	c.uncoveredN = n
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// joinBatch is the most channels handed to the reader at once when the
// coordinator does not take them from the shared budget itself (the reader
// has its own limit, or takes its JOINs through TakeJoins).
const joinBatch = 500

// joiner hands queued channels to the reader until ctx ends, through the
// shared JOIN budget when there is one and the reader does not take its
// JOINs from it itself.
func (c *Coordinator) joiner(ctx context.Context) {
	budget := c.budget
	if c.o.GatedReader {
		budget = nil
	}
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.joinWake:
		}
		for ctx.Err() == nil {
			limit := joinBatch
			if budget != nil {
				limit = c.o.JoinRate
			}
			c.mu.Lock()
			var batch []string
			for len(c.queue) > 0 && len(batch) < limit {
				ch := c.queue[0]
				c.queue = c.queue[1:]
				if _, ok := c.added[ch]; ok {
					batch = append(batch, ch)
				}
			}
			c.mu.Unlock()
			if len(batch) == 0 {
				break
			}
			if budget != nil {
				n, err := budget.Take(ctx, len(batch))
				if err != nil {
					c.requeue(batch)
					if ctx.Err() != nil {
						return
					}
					if !failing {
						c.log.Warn("cannot take JOINs from the shared budget; retrying", "error", err.Error())
						failing = true
					}
					select {
					case <-ctx.Done():
						return
					case <-time.After(time.Second):
					}
					continue
				}
				failing = false
				c.requeue(batch[n:])
				batch = batch[:n]
			}
			c.readerMu.Lock()
			c.mu.Lock()
			batch = slices.DeleteFunc(batch, func(ch string) bool { _, ok := c.added[ch]; return !ok })
			c.mu.Unlock()
			if len(batch) > 0 {
				if err := c.r.AddChannels(ctx, batch...); err != nil {
					// One bad channel refuses the lot: add them one by one.
					for _, ch := range batch {
						if err := c.r.AddChannels(ctx, ch); err != nil {
							c.log.Warn("the reader refused a channel", "channel", ch, "error", err.Error())
							c.mu.Lock()
							delete(c.added, ch)
							c.addFailed[ch] = struct{}{}
							c.mu.Unlock()
						}
					}
				}
			}
			c.readerMu.Unlock()
		}
	}
}

// requeue puts chs back at the front of the queue.
func (c *Coordinator) requeue(chs []string) {
	if len(chs) == 0 {
		return
	}
	c.mu.Lock()
	c.queue = append(slices.Clone(chs), c.queue...)
	c.mu.Unlock()
}

// confirmer writes this instance's confirmations: one per channel that the
// reader has joined and that is still handed to it, and removes the
// others; it also removes the confirmations of instances gone for two
// lease TTLs (the first owner of a channel does it for that channel).
func (c *Coordinator) confirmer(ctx context.Context) {
	t := time.NewTicker(c.o.LeaseTTL / 2)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.confWake:
		case <-t.C:
		}
		c.mu.Lock()
		if !c.loaded {
			c.mu.Unlock()
			continue
		}
		now := time.Now()
		ttl := c.o.LeaseTTL
		sentRecently := func(key string) bool {
			if s, ok := c.confSent[key]; ok && now.Sub(s) < ttl/2 {
				return true
			}
			c.confSent[key] = now
			return false
		}
		var puts, dels []string
		for ch := range c.joined {
			_, a := c.added[ch]
			_, w := c.wanted[ch]
			e, ok := c.confs[ch][c.me]
			if a && w && (!ok || e != c.epoch) && !sentRecently("put "+ch+"."+c.me) {
				puts = append(puts, ch+"."+c.me)
			}
		}
		var first []string
		for ch, insts := range c.confs {
			if _, mine := insts[c.me]; mine {
				_, j := c.joined[ch]
				_, a := c.added[ch]
				_, w := c.wanted[ch]
				if !(j && a && w) && !sentRecently("del "+ch+"."+c.me) {
					dels = append(dels, ch+"."+c.me)
				}
			}
			first = appendOwners(first[:0], ch, c.eligible, 1)
			if len(first) == 0 || first[0] != c.me {
				continue
			}
			for inst := range insts {
				if _, ok := c.live[inst]; ok || inst == c.me {
					continue
				}
				seen := c.lastSeen[inst]
				if seen.Before(c.loadedAt) {
					seen = c.loadedAt
				}
				if now.Sub(seen) > 2*ttl && !sentRecently("del "+ch+"."+inst) {
					dels = append(dels, ch+"."+inst)
				}
			}
		}
		maps.DeleteFunc(c.confSent, func(_ string, s time.Time) bool { return now.Sub(s) >= ttl })
		val, _ := json.Marshal(confirmation{Epoch: c.epoch, At: now.UTC()})
		c.mu.Unlock()
		if len(puts)+len(dels) == 0 {
			continue
		}
		parallel(ctx, puts, func(ctx context.Context, k string) error { _, err := c.confirmed.Put(ctx, k, val); return err })
		parallel(ctx, dels, c.unconfirm)
	}
}
