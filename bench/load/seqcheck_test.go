package load

import (
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/ingress-egress/ingress-egress/bench/loss"
)

// TestSeqCheckerMatchesLoss feeds the same records to seqChecker and
// loss.Checker (delivered, duplicated, lost, not received inside and
// outside a gap, envelopes before their line's record, foreign and empty
// ids) and wants the same Result.
func TestSeqCheckerMatchesLoss(t *testing.T) {
	channels := []string{"a", "b", "c"}
	const prefix = 0x1234abcd
	rng := rand.New(rand.NewPCG(1, 2))
	base := time.Unix(1_900_000_000, 0)
	want := loss.NewChecker(loss.Options{Slack: time.Second})
	got := newSeqChecker(prefix, channels, time.Second)
	both := func(r loss.Received) { want.Received(r); got.Received(r) }
	gap := loss.Gap{Channel: "b", From: base.Add(100 * time.Second), To: base.Add(200 * time.Second)}
	want.Gap(gap)
	got.Gap(gap)
	id := func(n uint64) string {
		b := make([]byte, 36)
		putID(b, prefix, n)
		return string(b)
	}
	for n := uint64(0); n < 3000; n++ {
		ch := int32(n % 3)
		at := base.Add(time.Duration(n) * 100 * time.Millisecond)
		connected := rng.IntN(10) > 0
		copies := 0
		switch k := rng.IntN(20); {
		case k == 0:
			copies = 0
		case k == 1:
			copies = 2 + rng.IntN(3)
		default:
			copies = 1
		}
		early := rng.IntN(5) == 0 // the envelope before the sender's record
		recv := func() {
			for range copies {
				both(loss.Received{MessageID: id(n), At: at.Add(time.Duration(1+rng.IntN(50)) * time.Millisecond)})
			}
		}
		if early {
			recv()
		}
		want.Sent(loss.Sent{ID: id(n), Channel: channels[ch], At: at, Connected: connected})
		got.sent(n, ch, at, connected)
		if !early {
			recv()
		}
	}
	both(loss.Received{MessageID: id(5000), At: base}) // never sent
	both(loss.Received{MessageID: "not-an-id", At: base})
	both(loss.Received{MessageID: "ffffffff-0000-4000-8000-000000000001", At: base}) // another run's
	both(loss.Received{At: base})
	w, g := want.Result(), got.Result()
	if !reflect.DeepEqual(w, g) {
		t.Errorf("seqChecker result\n%+v\nloss.Checker result\n%+v", g, w)
	}
	if w.Lost == 0 || w.Duplicated == 0 || w.NotReceived == 0 || w.Unreported == 0 || w.Unexpected != 4 {
		t.Errorf("the records do not exercise every class: %+v", w)
	}
}

// BenchmarkChecker records one line sent and its envelope read back, per
// op: the loss checker's cost per line in a run (seqChecker in every run
// now; loss.Checker for comparison).
func BenchmarkChecker(b *testing.B) {
	const prefix = 0x1234abcd
	channels := []string{"a", "b", "c"}
	now := time.Unix(1_900_000_000, 0)
	id := make([]byte, 36)
	b.Run("seq", func(b *testing.B) {
		c := newSeqChecker(prefix, channels, 0)
		b.ReportAllocs()
		n := uint64(0)
		for b.Loop() {
			putID(id, prefix, n)
			c.sent(n, int32(n%3), now, true)
			c.Received(loss.Received{MessageID: string(id), At: now})
			n++
		}
	})
	b.Run("loss", func(b *testing.B) {
		c := loss.NewChecker(loss.Options{})
		b.ReportAllocs()
		n := uint64(0)
		for b.Loop() {
			putID(id, prefix, n)
			c.Sent(loss.Sent{ID: string(id), Channel: channels[n%3], At: now, Connected: true})
			c.Received(loss.Received{MessageID: string(id), At: now})
			n++
		}
	})
}
