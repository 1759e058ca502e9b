package bus_test

import (
	"context"
	"log/slog"
	"testing"
	"testing/synctest"
	"time"

	"github.com/ingress-egress/ingress-egress/bus"
	"github.com/ingress-egress/ingress-egress/bus/bustest"
)

// TestStallIsVisible: a bus that takes messages and never answers (frozen,
// its connection up and its driver "ready") makes the publisher not ready
// after StallAfter, with one warning per stall and an info when messages
// settle again, and shows in Stats; the oldest-pending alert's threshold
// (30 s, README) is crossed 30 s in. Fake time.
func TestStallIsVisible(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d := bustest.New()
		d.HoldAcks()
		lg := &logs{}
		p := bus.New(d, bus.Options{Logger: slog.New(lg)}) // StallAfter: default 10 s
		const warning = "WARN bus: no message settled for a while"
		const resumed = "INFO bus: messages settle again"

		start := time.Now()
		for i := range 5 {
			if err := p.Publish(context.Background(), msg(i, envelope(i))); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(10*time.Second - time.Millisecond)
		synctest.Wait()
		if s := p.Stats(); !p.Ready() || !s.Ready || s.Stalled != 0 || !s.StalledSince.IsZero() || lg.count(warning) != 0 {
			t.Errorf("just before StallAfter: ready %v, stats %v/%v/%v, %d warnings; want ready, not stalled",
				p.Ready(), s.Ready, s.Stalled, s.StalledSince, lg.count(warning))
		}
		if !d.Ready() {
			t.Fatal("the driver says it is not ready: the test would prove nothing")
		}

		time.Sleep(time.Millisecond)
		synctest.Wait()
		s := p.Stats()
		if p.Ready() || s.Ready || s.Stalled != 10*time.Second || !s.StalledSince.Equal(start) {
			t.Errorf("at StallAfter: ready %v/%v, stalled %v since %v; want not ready, 10s since %v",
				p.Ready(), s.Ready, s.Stalled, s.StalledSince, start)
		}
		if n := lg.count(warning); n != 1 {
			t.Errorf("%d stall warnings at StallAfter, want 1", n)
		}

		time.Sleep(21 * time.Second) // 31 s in
		synctest.Wait()
		s = p.Stats()
		if s.OldestPending <= 30*time.Second || s.Stalled != 31*time.Second || p.Ready() {
			t.Errorf("31 s in: oldest pending %v, stalled %v, ready %v; want > 30 s, 31 s, false", s.OldestPending, s.Stalled, p.Ready())
		}
		if n := lg.count(warning); n != 1 {
			t.Errorf("%d stall warnings during one stall, want 1", n)
		}

		d.ReleaseAcks()
		synctest.Wait()
		s = p.Stats()
		if !p.Ready() || s.Stalled != 0 || s.Pending != 0 || s.Acked != 5 {
			t.Errorf("after the acks came: ready %v stalled %v pending %d acked %d", p.Ready(), s.Stalled, s.Pending, s.Acked)
		}
		if n := lg.count(resumed); n != 1 {
			t.Errorf("%d resumed infos, want 1", n)
		}

		// Idle is not stalled, however long.
		time.Sleep(time.Minute)
		synctest.Wait()
		if !p.Ready() || lg.count(warning) != 1 {
			t.Errorf("idle for a minute: ready %v, %d warnings", p.Ready(), lg.count(warning))
		}

		// A steady trickle of acks is progress: no stall.
		for i := range 30 {
			p.Publish(context.Background(), msg(100+i, envelope(i)))
			time.Sleep(time.Second)
			synctest.Wait()
		}
		if !p.Ready() || lg.count(warning) != 1 {
			t.Errorf("acked traffic: ready %v, %d warnings", p.Ready(), lg.count(warning))
		}

		// A second stall is reported again.
		d.HoldAcks()
		p.Publish(context.Background(), msg(200, envelope(200)))
		time.Sleep(10 * time.Second)
		synctest.Wait()
		if p.Ready() || lg.count(warning) != 2 {
			t.Errorf("second stall: ready %v, %d warnings, want false and 2", p.Ready(), lg.count(warning))
		}
		d.ReleaseAcks()
		if _, err := p.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		if n := lg.count(resumed); n != 2 {
			t.Errorf("%d resumed infos, want 2", n)
		}
	})
}

// TestStallAfterNegativeNeverStalls: the check can be switched off.
func TestStallAfterNegativeNeverStalls(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d := bustest.New()
		d.HoldAcks()
		lg := &logs{}
		p := bus.New(d, bus.Options{StallAfter: -1, Logger: slog.New(lg)})
		p.Publish(context.Background(), msg(0, envelope(0)))
		time.Sleep(time.Hour)
		synctest.Wait()
		if s := p.Stats(); !p.Ready() || s.Stalled != 0 || len(lg.recs) != 0 {
			t.Errorf("StallAfter -1: ready %v stalled %v logs %v", p.Ready(), s.Stalled, lg.recs)
		}
		d.ReleaseAcks()
		p.Close(context.Background())
	})
}
