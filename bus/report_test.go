package bus_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/ingress-egress/ingress-egress/bus"
	"github.com/ingress-egress/ingress-egress/bus/bustest"
)

// TestCloseReportsUnknown: a bus that takes messages and never answers (a
// frozen server). When Close gives up, what was sent is reported as
// unknown — the bus may have stored it — and only what never left the
// queue as lost; each with its id, in the report and in the log.
func TestCloseReportsUnknown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d := bustest.New()
		d.HoldAcks()
		lg := &logs{}
		p := bus.New(d, bus.Options{MaxQueue: 16, BatchSize: 4, MaxInFlight: 2, BatchDelay: -1, Logger: slog.New(lg)})
		for i := range 10 {
			if err := p.Publish(context.Background(), msg(i, envelope(i))); err != nil {
				t.Fatal(err)
			}
		}
		synctest.Wait() // two batches of 4 sent and unanswered, 2 messages queued

		// What a process that exits now would leave behind.
		now := p.Report()
		if got := outcomes(now.Undelivered); got != "m0:unknown m1:unknown m2:unknown m3:unknown m4:unknown m5:unknown m6:unknown m7:unknown m8:lost m9:lost" {
			t.Errorf("Report() before Close = %s", got)
		}
		if now.Stats.Pending != 10 || now.Stats.Lost != 0 || now.Stats.Unknown != 0 {
			t.Errorf("Report() settled something: %+v", now.Stats)
		}

		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		rep, err := p.Close(ctx)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Close = %v, want DeadlineExceeded", err)
		}
		s := rep.Stats
		if s.Unknown != 8 || s.Lost != 2 || s.Acked != 0 || s.Pending != 0 {
			t.Errorf("unknown %d lost %d acked %d pending %d, want 8 2 0 0", s.Unknown, s.Lost, s.Acked, s.Pending)
		}
		checkSum(t, s)
		if got := outcomes(rep.Undelivered); got != "m0:unknown m1:unknown m2:unknown m3:unknown m4:unknown m5:unknown m6:unknown m7:unknown m8:lost m9:lost" {
			t.Errorf("report = %s", got)
		}
		unknown, lost := lg.undeliveredIDs(t, "unknown"), lg.undeliveredIDs(t, "lost")
		for i := range 10 {
			id := fmt.Sprintf("m%d", i)
			want := unknown
			if i >= 8 {
				want = lost
			}
			if want[id] != 1 || unknown[id]+lost[id] != 1 {
				t.Errorf("%s logged %d times as unknown, %d as lost", id, unknown[id], lost[id])
			}
		}
		if n := lg.count("ERROR bus: messages not delivered at shutdown count=10 lost=2 unknown=8"); n != 1 {
			t.Errorf("summary entries = %d, want 1:\n%s", n, strings.Join(lg.recs, "\n"))
		}
	})
}

// TestNoAnswerMakesUnknown: a message whose acknowledgement timed out was
// sent; if it is given up later, waiting for its re-send, it is unknown.
func TestNoAnswerMakesUnknown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d := bustest.New()
		d.SetFail(func(m bus.Message, n int) error {
			switch m.MsgID {
			case "m0":
				return bus.NoAnswer(errors.New("nats: timeout"))
			case "m1":
				return errors.New("nats: server error")
			}
			return nil
		})
		lg := &logs{}
		p := bus.New(d, bus.Options{MaxRetries: 100, RetryBackoff: time.Hour, MaxBackoff: time.Hour, BatchDelay: -1, Logger: slog.New(lg)})
		for i := range 3 {
			p.Publish(context.Background(), msg(i, envelope(i)))
		}
		synctest.Wait()
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		rep, _ := p.Close(ctx)
		if got := outcomes(rep.Undelivered); got != "m0:unknown m1:lost" {
			t.Errorf("report = %s, want m0 unknown (timed out) and m1 lost (refused)", got)
		}
		if s := rep.Stats; s.Acked != 1 || s.Unknown != 1 || s.Lost != 1 {
			t.Errorf("acked %d unknown %d lost %d, want 1 1 1", s.Acked, s.Unknown, s.Lost)
		}
		checkSum(t, rep.Stats)
	})
}

// outcomes lists "id:lost" or "id:unknown" for us, sorted.
func outcomes(us []bus.Undelivered) string {
	var out []string
	for _, u := range us {
		o := "lost"
		if u.Unknown {
			o = "unknown"
		}
		out = append(out, u.MsgID+":"+o)
	}
	slices.Sort(out)
	return strings.Join(out, " ")
}

// exemptCounter passes records to next and counts those marked
// WithoutRateLimit.
type exemptCounter struct {
	slog.Handler
	exempt, all *int
}

func (h exemptCounter) Handle(ctx context.Context, r slog.Record) error {
	*h.all++
	if bus.RateLimitExempt(ctx) {
		*h.exempt++
	}
	return h.Handler.Handle(ctx, r)
}

// TestReportLogBounded: 8,192 undelivered messages (a full queue at
// shutdown) are all named, in JSON entries far below Cloud Logging's 256 KB
// limit, every entry exempt from rate limiting.
func TestReportLogBounded(t *testing.T) {
	var r bus.Report
	want := map[string]string{}
	for i := range 8192 {
		id := fmt.Sprintf("%08x-1c2d-4e5f-8a9b-%012d", i, i) // a Twitch id's shape, 36 bytes
		u := bus.Undelivered{Subject: subject, MsgID: id, Unknown: i%3 == 0, LastErr: "nats: timeout"}
		r.Undelivered = append(r.Undelivered, u)
		want[id] = map[bool]string{false: "lost", true: "unknown"}[u.Unknown]
	}
	long := strings.Repeat("x", 10000)
	r.Undelivered = append(r.Undelivered,
		bus.Undelivered{Subject: subject, MsgID: long},
		bus.Undelivered{Subject: subject}, // no id: counted only
		bus.Undelivered{Subject: "other.subject", MsgID: "o1", Unknown: true})
	want[long[:128]+"…"] = "lost"
	want["o1"] = "unknown"

	var buf bytes.Buffer
	exempt, all := 0, 0
	r.Log(slog.New(exemptCounter{slog.NewJSONHandler(&buf, nil), &exempt, &all}))

	got := map[string]string{}
	entries := 0
	sc := bufio.NewScanner(&buf)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if len(line) > 70<<10 {
			t.Errorf("entry of %d bytes, want ≤ 70 KiB", len(line))
		}
		var e struct {
			Msg, Outcome, Subject, ErrorCode string
			Count, Lost, Unknown, WithoutID  int
			MsgIDs                           []string
		}
		if err := json.Unmarshal(line, &e); err != nil {
			t.Fatalf("entry is not JSON: %v", err)
		}
		if e.ErrorCode != "undelivered_at_shutdown" {
			t.Errorf("entry %q has errorCode %q", e.Msg, e.ErrorCode)
		}
		if e.Msg == "bus: messages not delivered at shutdown" {
			if e.Count != 8195 || e.Lost != 8192-2731+2 || e.Unknown != 2731+1 || e.WithoutID != 1 {
				t.Errorf("summary = %s", line)
			}
			continue
		}
		entries++
		if len(e.MsgIDs) == 0 || len(e.MsgIDs) > 1000 || len(e.MsgIDs) != e.Count {
			t.Errorf("entry with %d ids, count %d; want 1..1000", len(e.MsgIDs), e.Count)
		}
		for _, id := range e.MsgIDs {
			if _, dup := got[id]; dup {
				t.Errorf("id %.40s logged twice", id)
			}
			got[id] = e.Outcome
			if wantSubject := map[bool]string{true: "other.subject", false: subject}[id == "o1"]; e.Subject != wantSubject {
				t.Errorf("id %.40s logged under subject %q", id, e.Subject)
			}
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d ids logged, want %d", len(got), len(want))
	}
	for id, o := range want {
		if got[id] != o {
			t.Errorf("id %.40s logged as %q, want %q", id, got[id], o)
		}
	}
	if entries < 9 || exempt != all || all != entries+1 {
		t.Errorf("%d id entries, %d of %d records rate-limit exempt; want ≥ 9 and all", entries, exempt, all)
	}
}

func TestReportLogNothingDelivered(t *testing.T) {
	var buf bytes.Buffer
	bus.Report{}.Log(slog.New(slog.NewJSONHandler(&buf, nil)))
	if buf.Len() != 0 {
		t.Errorf("a report with nothing undelivered logged %q", buf.String())
	}
}
