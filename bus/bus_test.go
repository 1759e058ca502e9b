package bus_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/ingress-egress/ingress-egress/bus"
	"github.com/ingress-egress/ingress-egress/bus/bustest"
)

const subject = "test.internal.ingress.v1"

// logs captures records for assertions.
type logs struct {
	mu   sync.Mutex
	recs []string
}

func (l *logs) Enabled(context.Context, slog.Level) bool { return true }
func (l *logs) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *logs) WithGroup(string) slog.Handler            { return l }
func (l *logs) Handle(ctx context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Level.String() + " " + r.Message)
	r.Attrs(func(a slog.Attr) bool { fmt.Fprintf(&b, " %s=%v", a.Key, a.Value); return true })
	if bus.RateLimitExempt(ctx) {
		b.WriteString(" (rate limit exempt)")
	}
	l.mu.Lock()
	l.recs = append(l.recs, b.String())
	l.mu.Unlock()
	return nil
}
func (l *logs) count(prefix string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, r := range l.recs {
		if strings.HasPrefix(r, prefix) {
			n++
		}
	}
	return n
}

// undeliveredIDs returns how often each id was logged in the publisher's
// entries of undelivered ids with the given outcome ("lost", "unknown"),
// and fails the test for such an entry that a rate limit could drop.
func (l *logs) undeliveredIDs(t *testing.T, outcome string) map[string]int {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	ids := map[string]int{}
	for _, r := range l.recs {
		if !strings.HasPrefix(r, "ERROR bus: undelivered message ids ") {
			continue
		}
		if !strings.HasSuffix(r, " (rate limit exempt)") {
			t.Errorf("entry of ids logged without the rate limit exemption: %.200s", r)
		}
		if !strings.Contains(r, " outcome="+outcome+" ") {
			continue
		}
		_, list, _ := strings.Cut(r, " msgIds=[")
		list, _, _ = strings.Cut(list, "]")
		for _, id := range strings.Fields(list) {
			ids[id]++
		}
	}
	return ids
}

func envelope(i int) []byte {
	return fmt.Appendf(nil, `{"v":"1","id":"%d","payload":{"text":"hello %d"}}`, i, i)
}

func msg(i int, data []byte) bus.Message {
	return bus.Message{Subject: subject, Data: data, MsgID: fmt.Sprintf("m%d", i),
		TraceParent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}
}

// settlesInSend is bustest's driver declared to settle batches in Send
// (bus.SendSettler), as core NATS does: the publisher then settles each
// batch on the goroutine that sent it. Its Wait is still called, so the
// outcomes are the same.
type settlesInSend struct{ *bustest.Driver }

func (settlesInSend) SendSettles() bool { return true }

// drivers are the two ways the publisher settles batches: on sender
// goroutines, and at once after Send.
var drivers = []struct {
	name string
	wrap func(*bustest.Driver) bus.Driver
}{
	{"senders", func(d *bustest.Driver) bus.Driver { return d }},
	{"settled in send", func(d *bustest.Driver) bus.Driver { return settlesInSend{d} }},
}

// checkSum asserts that every accepted message ended in exactly one state.
func checkSum(t *testing.T, s bus.Stats) {
	t.Helper()
	if got := s.Acked + s.FailureEvents + s.Lost + s.Unknown + uint64(s.Pending); got != s.Accepted {
		t.Errorf("Acked %d + FailureEvents %d + Lost %d + Unknown %d + Pending %d = %d, want Accepted %d",
			s.Acked, s.FailureEvents, s.Lost, s.Unknown, s.Pending, got, s.Accepted)
	}
}

func TestPublishCopiesAndDeliversInOrder(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts bus.Options
		n    int
	}{
		{"defaults", bus.Options{}, 1000},
		{"tiny batches", bus.Options{BatchSize: 1, MaxInFlight: 1}, 50},
		{"small queue", bus.Options{MaxQueue: 4, BatchSize: 2, MaxInFlight: 1}, 200},
		{"byte bound", bus.Options{MaxQueueBytes: 200, BatchBytes: 100, MaxInFlight: 1, BatchDelay: -1}, 100},
	} {
		for _, dr := range drivers {
			t.Run(tc.name+"/"+dr.name, func(t *testing.T) {
				d := bustest.New()
				p := bus.New(dr.wrap(d), tc.opts)
				buf := make([]byte, 0, 256)
				for i := range tc.n {
					buf = append(buf[:0], envelope(i)...)
					if err := p.Publish(context.Background(), msg(i, buf)); err != nil {
						t.Fatalf("Publish(%d) = %v", i, err)
					}
					copy(buf, "XXXXXXXX") // the caller reuses its buffer
				}
				rep, err := p.Close(context.Background())
				if err != nil {
					t.Fatalf("Close = %v", err)
				}
				got := d.Delivered()
				if len(got) != tc.n {
					t.Fatalf("delivered %d, want %d", len(got), tc.n)
				}
				for i, m := range got {
					if want := envelope(i); !bytes.Equal(m.Data, want) || m.MsgID != fmt.Sprintf("m%d", i) || m.Subject != subject {
						t.Fatalf("delivered[%d] = %q %q %q, want %q m%d", i, m.Subject, m.MsgID, m.Data, want, i)
					}
				}
				s := rep.Stats
				if s.Accepted != uint64(tc.n) || s.Acked != uint64(tc.n) || s.Pending != 0 || s.Queued != 0 || s.QueuedBytes != 0 {
					t.Errorf("stats = %+v, want all %d acked and nothing queued", s, tc.n)
				}
				checkSum(t, s)
				if !d.Closed() {
					t.Error("driver not closed by Close")
				}
				if p.Ready() {
					t.Error("Ready() after Close = true")
				}
			})
		}
	}
}

func TestPublishRefuses(t *testing.T) {
	d := bustest.New()
	p := bus.New(d, bus.Options{MaxMessageBytes: 10})
	for _, tc := range []struct {
		name string
		m    bus.Message
		want error
	}{
		{"no subject", bus.Message{Data: []byte("{}")}, bus.ErrNoSubject},
		{"too large", bus.Message{Subject: "s", Data: make([]byte, 11)}, bus.ErrTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := p.Publish(context.Background(), tc.m); !errors.Is(err, tc.want) {
				t.Errorf("Publish = %v, want %v", err, tc.want)
			}
		})
	}
	if _, err := p.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := p.Publish(context.Background(), bus.Message{Subject: "s"}); !errors.Is(err, bus.ErrClosed) {
		t.Errorf("Publish after Close = %v, want ErrClosed", err)
	}
	if _, err := p.Close(context.Background()); !errors.Is(err, bus.ErrClosed) {
		t.Errorf("second Close = %v, want ErrClosed", err)
	}
	if s := p.Stats(); s.Accepted != 0 {
		t.Errorf("Accepted = %d, want 0 (refused messages are not counted)", s.Accepted)
	}
}

var errFlaky = errors.New("flaky: no ack")

// TestRetriesAndFailureEvents drives the script classes through the publisher
// in fake time and checks where each message ends.
func TestRetriesAndFailureEvents(t *testing.T) {
	for _, tc := range []struct {
		name       string
		fail       func(m bus.Message, attempt int) error
		maxRetries int
		wantAcked  int
		wantEvents int
		wantLost   int
		wantSends  int // sends of the original messages (failure events excluded)
		wantClass  string
	}{
		{"two failures then ok", func(m bus.Message, n int) error {
			if m.Subject == subject && n < 2 {
				return errFlaky
			}
			return nil
		}, 0, 3, 0, 0, 9, ""},
		{"retries exhausted", func(m bus.Message, n int) error {
			if m.Subject == subject {
				return errFlaky
			}
			return nil
		}, 0, 0, 3, 0, 18, "retries-exhausted"},
		{"retries exhausted, MaxRetries 2", func(m bus.Message, n int) error {
			if m.Subject == subject {
				return errFlaky
			}
			return nil
		}, 2, 0, 3, 0, 9, "retries-exhausted"},
		{"no retries", func(m bus.Message, n int) error {
			if m.Subject == subject {
				return errFlaky
			}
			return nil
		}, -1, 0, 3, 0, 3, "retries-exhausted"},
		{"permanent is not retried", func(m bus.Message, n int) error {
			if m.Subject == subject {
				return bus.Permanent(errors.New("maximum payload exceeded"))
			}
			return nil
		}, 0, 0, 3, 0, 3, "permanent"},
		{"failure event fails too", func(m bus.Message, n int) error {
			return bus.Permanent(errors.New("permissions violation"))
		}, 0, 0, 0, 3, 3, ""},
		{"unavailable does not spend attempts", func(m bus.Message, n int) error {
			if n < 20 {
				return bus.Unavailable(errors.New("nats: connection closed"))
			}
			return nil
		}, 0, 3, 0, 0, 63, ""},
	} {
		for _, dr := range drivers {
			t.Run(tc.name+"/"+dr.name, func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					d := bustest.New()
					d.SetFail(tc.fail)
					lg := &logs{}
					p := bus.New(dr.wrap(d), bus.Options{Prefix: "test.", MaxRetries: tc.maxRetries, BatchSize: 3, Logger: slog.New(lg)})
					for i := range 3 {
						if err := p.Publish(context.Background(), msg(i, envelope(i))); err != nil {
							t.Fatal(err)
						}
					}
					start := time.Now()
					if err := p.Flush(context.Background()); err != nil {
						t.Fatal(err)
					}
					s := p.Stats()
					if s.Acked != uint64(tc.wantAcked) || s.FailureEvents != uint64(tc.wantEvents) || s.Lost != uint64(tc.wantLost) {
						t.Errorf("acked/events/lost = %d/%d/%d, want %d/%d/%d (stats %+v)",
							s.Acked, s.FailureEvents, s.Lost, tc.wantAcked, tc.wantEvents, tc.wantLost, s)
					}
					checkSum(t, s)
					sends := 0
					var events []bustest.Delivered
					for _, m := range d.Delivered() {
						if m.Subject == "test."+bus.Finalize {
							events = append(events, m)
						}
					}
					sends = d.Sends() - int(s.FailureEvents) - int(s.Lost)
					if sends != tc.wantSends {
						t.Errorf("sends = %d, want %d", sends, tc.wantSends)
					}
					if len(events) != tc.wantEvents {
						t.Fatalf("failure events = %d, want %d", len(events), tc.wantEvents)
					}
					for i, e := range events {
						var ev bus.FailureEvent
						if err := json.Unmarshal(e.Data, &ev); err != nil {
							t.Fatalf("failure event %q: %v", e.Data, err)
						}
						if ev.Type != bus.FailureType || ev.Payload.Class != tc.wantClass || ev.Payload.Error == "" ||
							ev.Payload.Subject != subject || ev.TraceID != "0af7651916cd43dd8448eb211c80319c" || len(ev.ID) != 36 {
							t.Errorf("failure event %d = %+v", i, ev)
						}
						if !json.Valid(ev.Payload.Envelope) || !bytes.Contains(ev.Payload.Envelope, []byte(`"hello`)) {
							t.Errorf("failure event %d envelope = %s, want the original", i, ev.Payload.Envelope)
						}
						wantAttempts := tc.wantSends / 3
						if ev.Payload.Attempts != wantAttempts {
							t.Errorf("failure event %d attempts = %d, want %d", i, ev.Payload.Attempts, wantAttempts)
						}
						if e.MsgID != "failed-"+ev.Payload.MsgID {
							t.Errorf("failure event MsgID = %q, want failed-%s", e.MsgID, ev.Payload.MsgID)
						}
					}
					// A loss is settled before it is logged (the log call waits
					// for the publisher's lock to be released): Flush can return
					// first. Wait, bounded, for the entries.
					for deadline := time.Now().Add(10 * time.Second); len(lg.undeliveredIDs(t, "lost")) < tc.wantLost && time.Now().Before(deadline); {
						time.Sleep(5 * time.Millisecond)
					}
					if got := lg.undeliveredIDs(t, "lost"); len(got) != tc.wantLost {
						t.Errorf("lost ids logged = %v, want %d", got, tc.wantLost)
					}
					if s.Unknown != 0 {
						t.Errorf("Unknown = %d for refused messages, want 0", s.Unknown)
					}
					if tc.wantSends > 3 && time.Since(start) == 0 {
						t.Error("retries happened without backoff")
					}
					if _, err := p.Close(context.Background()); err != nil {
						t.Fatal(err)
					}
				})
			})
		}
	}
}

// TestBackoffIsCappedExponential checks the waits between re-sends in fake time.
func TestBackoffIsCappedExponential(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d := bustest.New()
		var mu sync.Mutex
		var at []time.Time
		d.SetFail(func(m bus.Message, n int) error {
			mu.Lock()
			at = append(at, time.Now())
			mu.Unlock()
			if m.Subject == subject {
				return errFlaky
			}
			return nil
		})
		opts := bus.Options{MaxRetries: 8, RetryBackoff: 100 * time.Millisecond, MaxBackoff: time.Second}
		p := bus.New(d, opts)
		p.Publish(context.Background(), msg(0, envelope(0)))
		p.Flush(context.Background())
		p.Close(context.Background())
		if len(at) != 10 { // 9 sends + the failure event
			t.Fatalf("sends = %d, want 10", len(at))
		}
		var total time.Duration
		for i := 1; i < 9; i++ {
			gap := at[i].Sub(at[i-1])
			limit := min(time.Second, 100*time.Millisecond<<(i-1))
			if gap <= 0 || gap > limit {
				t.Errorf("gap before re-send %d = %v, want in (0, %v]", i, gap, limit)
			}
			total += gap
		}
		if span := opts.RetrySpan(); total > span {
			t.Errorf("total backoff %v > RetrySpan %v", total, span)
		}
	})
}

// TestCountersAddUp runs a random mix of outcomes; every message must end in
// exactly one state and the driver must have seen each acknowledged once.
func TestCountersAddUp(t *testing.T) {
	for seed := range uint64(4) {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				r := rand.New(rand.NewPCG(seed, 1))
				var mu sync.Mutex
				d := bustest.New()
				d.SetFail(func(m bus.Message, n int) error {
					mu.Lock()
					x := r.IntN(100)
					mu.Unlock()
					switch {
					case x < 10:
						return bus.Permanent(errors.New("permanent"))
					case x < 30:
						return errFlaky
					case x < 40:
						return bus.Unavailable(errors.New("down"))
					}
					return nil
				})
				p := bus.New(d, bus.Options{MaxQueue: 64, BatchSize: 8, MaxInFlight: 3, MaxRetries: 2, Logger: slog.New(&logs{})})
				const n = 500
				for i := range n {
					if err := p.Publish(context.Background(), msg(i, envelope(i))); err != nil {
						t.Fatal(err)
					}
				}
				rep, err := p.Close(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				s := rep.Stats
				checkSum(t, s)
				if s.Accepted != n || s.Pending != 0 {
					t.Errorf("Accepted %d Pending %d, want %d 0", s.Accepted, s.Pending, n)
				}
				acked := map[string]int{}
				events := 0
				for _, m := range d.Delivered() {
					if m.Subject == subject {
						acked[m.MsgID]++
					} else {
						events++
					}
				}
				if len(acked) != int(s.Acked) || events != int(s.FailureEvents) {
					t.Errorf("driver saw %d acked, %d events; stats say %d, %d", len(acked), events, s.Acked, s.FailureEvents)
				}
				for id, c := range acked {
					if c != 1 {
						t.Errorf("%s acknowledged %d times", id, c)
					}
				}
				if s.Acked == 0 || s.FailureEvents == 0 || s.Lost == 0 || s.Retries == 0 || s.Unavailable == 0 {
					t.Errorf("mix did not cover every outcome: %+v", s)
				}
			})
		})
	}
}

// TestBackpressure: a stalled bus fills the queue, then Publish blocks (never
// drops), memory stays within the bound, and everything goes out on recovery.
func TestBackpressure(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const maxQueue, maxBytes = 256, 64 << 10
		d := bustest.New()
		d.SetRecord(false)
		d.Stall()
		p := bus.New(d, bus.Options{MaxQueue: maxQueue, MaxQueueBytes: maxBytes, BatchSize: 16, MaxInFlight: 2})
		data := bytes.Repeat([]byte("x"), 1100) // the size of a chat envelope

		var before runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)

		var accepted int
		published := make(chan struct{})
		go func() {
			defer close(published)
			for i := range 1000 {
				if err := p.Publish(context.Background(), bus.Message{Subject: subject, Data: data}); err != nil {
					t.Errorf("Publish(%d) = %v", i, err)
					return
				}
				accepted++
			}
		}()
		synctest.Wait() // the publisher is now durably blocked
		select {
		case <-published:
			t.Fatal("Publish never blocked on a stalled bus")
		default:
		}
		s := p.Stats()
		if s.Queued > maxQueue || s.QueuedBytes > maxBytes || s.RetainedBytes > 2*maxBytes {
			t.Errorf("queue %d msgs %d bytes (retained %d), bounds %d and %d", s.Queued, s.QueuedBytes, s.RetainedBytes, maxQueue, maxBytes)
		}
		if want := maxBytes / len(data); s.Queued != want {
			t.Errorf("Queued = %d, want %d (the byte bound)", s.Queued, want)
		}
		if s.Blocked == 0 || s.Lost != 0 {
			t.Errorf("Blocked %d Lost %d, want >0 and 0", s.Blocked, s.Lost)
		}
		var during runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&during)
		grown := int64(during.HeapAlloc) - int64(before.HeapAlloc)
		t.Logf("heap growth with a full queue: %d bytes (bound %d)", grown, maxBytes)
		if grown > 4*maxBytes {
			t.Errorf("heap grew %d bytes with a full queue, bound %d", grown, maxBytes)
		}

		time.Sleep(time.Minute) // a long stall in fake time: still blocked, nothing dropped
		synctest.Wait()
		if s := p.Stats(); s.Accepted != uint64(s.Queued) || s.Lost != 0 {
			t.Errorf("after 1 min stalled: accepted %d queued %d lost %d", s.Accepted, s.Queued, s.Lost)
		}
		if p.Stats().OldestPending < time.Minute {
			t.Errorf("OldestPending = %v, want ≥ 1m", p.Stats().OldestPending)
		}

		d.Resume()
		<-published
		rep, err := p.Close(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if accepted != 1000 || rep.Stats.Acked != 1000 || d.Sends() != 1000 {
			t.Errorf("accepted %d acked %d sends %d, want 1000", accepted, rep.Stats.Acked, d.Sends())
		}
		if rep.Stats.BackpressureWait < time.Minute {
			t.Errorf("BackpressureWait = %v, want ≥ 1m", rep.Stats.BackpressureWait)
		}
	})
}

func TestPublishBlockedHonoursContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d := bustest.New()
		d.Stall()
		p := bus.New(d, bus.Options{MaxQueue: 2, BatchDelay: -1})
		for i := range 2 {
			if err := p.Publish(context.Background(), msg(i, envelope(i))); err != nil {
				t.Fatal(err)
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if err := p.Publish(ctx, msg(2, envelope(2))); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Publish on a full queue = %v, want DeadlineExceeded", err)
		}
		if s := p.Stats(); s.Accepted != 2 || s.BackpressureWait != time.Second {
			t.Errorf("Accepted %d wait %v, want 2 and 1s", s.Accepted, s.BackpressureWait)
		}
		// Close unblocks a waiting Publish with ErrClosed.
		errc := make(chan error)
		go func() { errc <- p.Publish(context.Background(), msg(3, envelope(3))) }()
		synctest.Wait()
		d.Resume()
		if _, err := p.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		if err := <-errc; err != nil && !errors.Is(err, bus.ErrClosed) {
			t.Errorf("blocked Publish during Close = %v, want nil or ErrClosed", err)
		}
	})
}

// TestCloseGivesUp: a bus that never answers; Close reports what it could
// not deliver when its context ends, and counts it lost.
func TestCloseGivesUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d := bustest.New()
		d.Stall()
		lg := &logs{}
		p := bus.New(d, bus.Options{MaxQueue: 16, BatchSize: 4, MaxInFlight: 2, Logger: slog.New(lg)})
		for i := range 10 {
			if err := p.Publish(context.Background(), msg(i, envelope(i))); err != nil {
				t.Fatal(err)
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		rep, err := p.Close(ctx)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Close = %v, want DeadlineExceeded", err)
		}
		// The stalled Send never wrote them: lost, not unknown.
		if len(rep.Undelivered) != 10 || rep.Stats.Lost != 10 || rep.Stats.Unknown != 0 || rep.Stats.Pending != 0 {
			t.Errorf("undelivered %d lost %d unknown %d pending %d, want 10 10 0 0", len(rep.Undelivered), rep.Stats.Lost, rep.Stats.Unknown, rep.Stats.Pending)
		}
		checkSum(t, rep.Stats)
		ids := map[string]bool{}
		for _, u := range rep.Undelivered {
			ids[u.MsgID] = true
			if u.Subject != subject || u.Age < 5*time.Second {
				t.Errorf("undelivered %+v", u)
			}
		}
		if len(ids) != 10 {
			t.Errorf("undelivered ids = %v", ids)
		}
		if got := lg.undeliveredIDs(t, "lost"); len(got) != 10 {
			t.Errorf("lost ids logged = %v, want the 10", got)
		}
		if got := lg.count("ERROR bus: messages not delivered at shutdown"); got != 1 {
			t.Errorf("shutdown summaries logged = %d, want 1", got)
		}
		if !d.Closed() {
			t.Error("driver not closed")
		}
	})
}

func TestBatching(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d := bustest.New()
		p := bus.New(d, bus.Options{BatchSize: 4, BatchDelay: 10 * time.Millisecond, MaxInFlight: 1})
		for i := range 3 {
			p.Publish(context.Background(), msg(i, envelope(i)))
		}
		synctest.Wait()
		if d.Calls() != 0 {
			t.Errorf("partial batch sent before BatchDelay: %d calls", d.Calls())
		}
		time.Sleep(10 * time.Millisecond)
		synctest.Wait()
		if d.Calls() != 1 || d.Sends() != 3 {
			t.Errorf("after BatchDelay: %d calls %d sends, want 1 3", d.Calls(), d.Sends())
		}
		for i := range 9 {
			p.Publish(context.Background(), msg(i, envelope(i)))
		}
		synctest.Wait()
		if d.Calls() != 3 || d.Sends() != 11 {
			t.Errorf("full batches go at once: %d calls %d sends, want 3 11", d.Calls(), d.Sends())
		}
		p.Flush(context.Background()) // flush does not wait for BatchDelay
		if d.Sends() != 12 {
			t.Errorf("after Flush: %d sends, want 12", d.Sends())
		}
		p.Close(context.Background())
	})
}

func TestReadyFollowsDriver(t *testing.T) {
	d := bustest.New()
	p := bus.New(d, bus.Options{})
	defer p.Close(context.Background())
	if !p.Ready() {
		t.Error("Ready() = false with a ready driver")
	}
	d.SetReady(false)
	if p.Ready() || p.Stats().Ready {
		t.Error("Ready() = true with a driver that is not ready")
	}
}

func TestRetrySpan(t *testing.T) {
	for _, tc := range []struct {
		o    bus.Options
		want time.Duration
	}{
		{bus.Options{}, 100*time.Millisecond + 200*time.Millisecond + 400*time.Millisecond + 800*time.Millisecond + 1600*time.Millisecond},
		{bus.Options{MaxRetries: -1}, 0},
		{bus.Options{MaxRetries: 3, RetryBackoff: time.Second, MaxBackoff: 2 * time.Second}, 5 * time.Second},
	} {
		if got := tc.o.RetrySpan(); got != tc.want {
			t.Errorf("%+v.RetrySpan() = %v, want %v", tc.o, got, tc.want)
		}
	}
}

// TestEnqueueAllocs guards the hot path: Publish into a queue with room
// copies into reused slot memory and allocates nothing.
func TestEnqueueAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts differ under -race")
	}
	d := bustest.New()
	d.SetRecord(false)
	const q = 512
	p := bus.New(d, bus.Options{MaxQueue: q, BatchSize: q, BatchDelay: time.Hour, MaxInFlight: 1})
	defer p.Close(context.Background())
	m := msg(1, bytes.Repeat([]byte("x"), 1100))
	// Warm every slot's buffer once.
	for range q {
		p.Publish(context.Background(), m)
	}
	if err := p.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if n := testing.AllocsPerRun(200, func() { p.Publish(ctx, m) }); n != 0 {
		t.Errorf("Publish allocates %v times per message, want 0", n)
	}
}

func BenchmarkPublish(b *testing.B) {
	d := bustest.New()
	d.SetRecord(false)
	p := bus.New(d, bus.Options{})
	defer p.Close(context.Background())
	m := msg(1, bytes.Repeat([]byte("x"), 1100))
	ctx := context.Background()
	b.ReportAllocs()
	b.SetBytes(int64(len(m.Data)))
	for b.Loop() {
		if err := p.Publish(ctx, m); err != nil {
			b.Fatal(err)
		}
	}
	p.Flush(ctx)
}

func TestAckLatencyHistogram(t *testing.T) {
	d := bustest.New()
	p := bus.New(d, bus.Options{})
	old := time.Now().Add(-200 * time.Millisecond)
	for i := range 10 {
		m := msg(i, envelope(i))
		if i < 4 {
			m.Received = old // acknowledged ≥ 200 ms after receipt
		} else if i < 8 {
			m.Received = time.Now()
		} // the last two carry no receive time
		if err := p.Publish(context.Background(), m); err != nil {
			t.Fatal(err)
		}
	}
	rep, err := p.Close(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	h := rep.Stats.AckLatency
	if h.Count != 8 {
		t.Fatalf("AckLatency.Count = %d, want 8 (messages with a receive time)", h.Count)
	}
	var upTo100ms, above uint64
	for i, ub := range bus.AckLatencyBuckets {
		if ub <= 0.1 {
			upTo100ms += h.Counts[i]
		} else {
			above += h.Counts[i]
		}
	}
	if upTo100ms != 4 || above != 4 {
		t.Errorf("buckets: %d at most 100 ms, %d above, want 4 and 4 (%+v)", upTo100ms, above, h)
	}
	if h.Sum < 0.8 {
		t.Errorf("Sum = %v s, want at least 4 × 0.2 s", h.Sum)
	}
}

// TestRetainedFollowsDepth: buffers are kept for what the queue holds and
// two batches more, not for every slot of the ring it has lapped.
func TestRetainedFollowsDepth(t *testing.T) {
	d := bustest.New()
	d.SetRecord(false)
	const batch = 16
	p := bus.New(d, bus.Options{MaxQueue: 8192, BatchSize: batch, MaxInFlight: 2})
	defer p.Close(context.Background())
	data := bytes.Repeat([]byte("x"), 1100)
	// Three laps of the ring, flushed every few messages: a shallow queue.
	for i := range 3 * 8192 {
		if err := p.Publish(context.Background(), bus.Message{Subject: subject, Data: data}); err != nil {
			t.Fatal(err)
		}
		if i%8 == 7 {
			if err := p.Flush(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := p.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	s := p.Stats()
	if limit := int64(2*batch+8) * 2048; s.RetainedBytes > limit || s.RetainedBytes == 0 {
		t.Errorf("RetainedBytes = %d after 3 laps of a shallow queue, want (0, %d]", s.RetainedBytes, limit)
	}
	if s.Acked != 3*8192 {
		t.Errorf("Acked = %d, want %d", s.Acked, 3*8192)
	}
}
