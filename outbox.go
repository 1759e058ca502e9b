package main

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"time"

	"github.com/ingress-egress/ingress-egress/bus"
	"github.com/ingress-egress/ingress-egress/bus/outbox"
)

// outboxPlan says whether the durable outbox runs in front of the remote
// bus, where, and how large it may grow.
type outboxPlan struct {
	on       bool
	dir      string
	maxBytes int64
}

// planOutbox decides from OUTBOX and the driver whether the outbox runs,
// and checks DATA_DIR: OUTBOX=auto turns it on for nats and pubsub when
// DATA_DIR is writable (off with a warning otherwise); OUTBOX=disk
// requires it. On a memory-backed DATA_DIR (tmpfs: Cloud Run's file
// system) the bound is capped at a quarter of the memory limit, with a
// warning.
func (c *config) planOutbox(log *slog.Logger) (outboxPlan, error) {
	dir := filepath.Join(c.dataDir, "outbox")
	off := func() (outboxPlan, error) {
		if n := outbox.Leftover(dir); n > 0 {
			log.Warn("the outbox is off but DATA_DIR/outbox holds records an earlier run did not forward; they go only with the outbox on (OUTBOX=auto or disk, the same bus)",
				"dir", dir, "records", n)
		}
		return outboxPlan{}, nil
	}
	switch {
	case c.outbox == "off", c.busDriver != "nats" && c.busDriver != "nats-core" && c.busDriver != "pubsub":
		return off()
	case c.outbox == "auto" && c.busDriver == "nats-core":
		return off() // at-most-once by choice
	case c.outbox == "auto" && c.clusterMode == "nats":
		// Replicas cover a crash, and an outbox outlives nothing a
		// rolling deploy replaces: what it holds at shutdown would wait
		// on a disk that no instance opens again.
		return off()
	}
	if c.outbox == "disk" && c.clusterMode == "nats" {
		log.Warn("OUTBOX=disk with CLUSTER=nats: what the outbox holds at shutdown goes only if an instance starts again on this DATA_DIR",
			"dataDir", c.dataDir)
	}
	info, err := outbox.Probe(dir)
	if err != nil {
		if c.outbox == "disk" {
			return outboxPlan{}, fmt.Errorf("OUTBOX=disk: %w", err)
		}
		log.Warn("outbox off: DATA_DIR is not writable, so messages wait in memory only while the bus is down; set DATA_DIR to a writable volume or OUTBOX=off",
			"dataDir", c.dataDir, "error", err.Error())
		return off()
	}
	p := outboxPlan{on: true, dir: dir, maxBytes: int64(c.outboxMaxBytes)}
	if info.Tmpfs {
		if limit := info.MemoryCap(); limit > 0 && p.maxBytes > limit {
			p.maxBytes = limit
		}
		log.Warn("DATA_DIR is in memory (tmpfs): the outbox counts against the memory limit and does not survive the machine; mount a disk volume for DATA_DIR",
			"dataDir", c.dataDir, "outboxMaxBytes", p.maxBytes, "memoryLimit", info.MemoryLimit)
	}
	return p, nil
}

// withOutbox puts the outbox in front of remote when plan says so. The
// outbox owns remote from then on (closing it closes remote).
func (p *pipeline) withOutbox(ctx context.Context, c *config, plan outboxPlan, remote bus.Driver, log *slog.Logger) (bus.Driver, error) {
	if !plan.on {
		return remote, nil
	}
	ob, err := outbox.Open(ctx, outbox.Options{
		Dir: plan.dir, MaxBytes: plan.maxBytes,
		SyncInterval: c.outboxSync, SyncAlways: c.outboxSyncAlways,
		Remote: remote, Prefix: c.busPrefix, Logger: log,
	})
	if err != nil {
		remote.Close()
		return nil, err
	}
	p.outbox = ob
	// The publisher closes the outbox when it closes; this covers a start
	// that fails after it opened (a second Close does nothing).
	p.closers = append(p.closers, func() { ob.Close() })
	return ob, nil
}

// parseOutboxSync reads OUTBOX_SYNC: "always" (fsync every write) or
// JetStream's sync interval as a duration.
func (c *config) parseOutboxSync(v string) error {
	v = strings.TrimSpace(strings.ToLower(v))
	if v == "always" {
		c.outboxSync, c.outboxSyncAlways = 0, true
		return nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return fmt.Errorf("%q is not always or a duration such as 2m", v)
	}
	if d < 10*time.Millisecond || d > time.Hour {
		return fmt.Errorf("%v is outside 10ms..1h", d)
	}
	c.outboxSync, c.outboxSyncAlways = d, false
	return nil
}
