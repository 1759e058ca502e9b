package faults

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ingress-egress/ingress-egress/twitch/twitchtest"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func at(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }

// line is a record of id on conn at its place, written at ms.
func line(id string, conn uint64, seq, ms int) twitchtest.Record {
	return twitchtest.Record{ID: id, Channel: "c", Client: conn, Seq: seq, At: at(ms)}
}

func got(id string, readMs int) Received { return Received{ID: id, Read: at(readMs)} }

// TestCheckClasses: each situation gets its class.
func TestCheckClasses(t *testing.T) {
	ended := []twitchtest.ConnRecord{{Client: 1, Opened: at(0), Ended: at(5000), EndedBy: twitchtest.EndServer}}
	for _, tc := range []struct {
		name string
		in   Input
		want map[string]Class
	}{
		{"delivered and duplicated", Input{
			Sent:     []twitchtest.Record{line("a", 1, 0, 10), line("b", 1, 1, 20)},
			Received: []Received{got("a", 11), got("b", 21), got("b", 25)},
		}, map[string]Class{"a": Delivered, "b": Duplicated}},
		{"read past on a live connection", Input{
			Sent:     []twitchtest.Record{line("a", 1, 0, 10), line("b", 1, 1, 20), line("c", 1, 2, 30)},
			Received: []Received{got("a", 11), got("c", 31)},
			// a gap does not excuse a line the service read past
			Intervals: []Interval{{Channel: "c", From: at(0), To: at(100), Kind: KindGap}},
		}, map[string]Class{"b": LostConnected}},
		{"unread end inside a gap", Input{
			Sent:      []twitchtest.Record{line("a", 1, 0, 10), line("b", 1, 1, 4000), line("c", 1, 2, 4500)},
			Conns:     ended,
			Received:  []Received{got("a", 11)},
			Intervals: []Interval{{Channel: "c", From: at(3000), To: at(9000), Kind: KindGap}},
		}, map[string]Class{"a": Delivered, "b": InGap, "c": InGap}},
		{"a gap of every channel", Input{
			Sent:      []twitchtest.Record{line("a", 1, 0, 4000)},
			Conns:     ended,
			Intervals: []Interval{{From: at(3000), To: at(9000), Kind: KindGap}},
		}, map[string]Class{"a": InGap}},
		{"gap of another channel", Input{
			Sent:      []twitchtest.Record{line("a", 1, 0, 4000)},
			Conns:     ended,
			Intervals: []Interval{{Channel: "other", From: at(3000), To: at(9000), Kind: KindGap}},
		}, map[string]Class{"a": Unreported}},
		{"gap starts after the line: unreported", Input{
			Sent:      []twitchtest.Record{line("a", 1, 0, 10), line("b", 1, 1, 3000)},
			Conns:     ended,
			Received:  []Received{got("a", 11)}, // read lag 1 ms
			Intervals: []Interval{{Channel: "c", From: at(3500), To: at(9000), Kind: KindGap}},
		}, map[string]Class{"b": Unreported}},
		{"a gap from when reading stopped covers the backlog", Input{
			Sent:      []twitchtest.Record{line("a", 1, 0, 1000), line("b", 1, 1, 1100)},
			Conns:     ended,
			Received:  []Received{got("a", 1300)}, // read 300 ms after it was written
			Intervals: []Interval{{Channel: "c", From: at(1300), To: at(9000), Kind: KindGap}},
		}, map[string]Class{"b": InGap}},
		{"lag of the line before only", Input{
			Sent:      []twitchtest.Record{line("a", 1, 0, 1000), line("b", 1, 1, 1100), line("x", 1, 2, 1200)},
			Conns:     ended,
			Received:  []Received{got("a", 1300)},
			Intervals: []Interval{{Channel: "c", From: at(1600), To: at(9000), Kind: KindGap}},
		}, map[string]Class{"b": Unreported, "x": Unreported}},
		{"a gap from when the loss was noticed does not", Input{
			Sent:      []twitchtest.Record{line("a", 1, 0, 1000), line("b", 1, 1, 1300), line("c", 1, 2, 4600)},
			Conns:     ended,
			Received:  []Received{got("a", 1001)},
			Intervals: []Interval{{Channel: "c", From: at(4500), To: at(9000), Kind: KindGap}}, // 3.5 s after reading stopped
		}, map[string]Class{"b": Unreported, "c": InGap}},
		{"reading from a buffer after the connection ended", Input{
			// The reader, held back, parsed what it had buffered after its
			// connection was gone: reading the socket stopped by the end.
			Sent:      []twitchtest.Record{line("a", 1, 0, 1000), line("b", 1, 1, 1300)},
			Conns:     []twitchtest.ConnRecord{{Client: 1, Opened: at(0), Ended: at(4000)}},
			Received:  []Received{got("a", 4240)},
			Intervals: []Interval{{Channel: "c", From: at(4245), To: at(9000), Kind: KindGap}},
		}, map[string]Class{"b": Unreported}},
		{"noticed within Notice of the end", Input{
			Sent:      []twitchtest.Record{line("a", 1, 0, 3990), line("b", 1, 1, 3995)},
			Conns:     []twitchtest.ConnRecord{{Client: 1, Opened: at(0), Ended: at(4000)}},
			Received:  []Received{got("a", 3991)},
			Intervals: []Interval{{Channel: "c", From: at(4050), To: at(9000), Kind: KindGap}},
		}, map[string]Class{"b": InGap}},
		{"a connection that delivered nothing: from its opening", Input{
			Sent:  []twitchtest.Record{line("a", 2, 0, 1200), line("b", 3, 0, 1200)},
			Conns: []twitchtest.ConnRecord{{Client: 2, Opened: at(1000), Ended: at(5000)}, {Client: 3, Opened: at(1000), Ended: at(5000)}},
			Intervals: []Interval{{Channel: "c", From: at(900), To: at(1100), Kind: KindGap}, // over before a was written
				{Channel: "other", From: at(1000), To: at(9000), Kind: KindGap}},
		}, map[string]Class{"a": Unreported, "b": Unreported}},
		{"a connection that delivered nothing, gap from its opening", Input{
			Sent:      []twitchtest.Record{line("a", 2, 0, 1200)},
			Conns:     []twitchtest.ConnRecord{{Client: 2, Opened: at(1000), Ended: at(5000)}},
			Intervals: []Interval{{Channel: "c", From: at(1000), To: at(5000), Kind: KindGap}},
		}, map[string]Class{"a": InGap}},
		{"stall only", Input{
			Sent:      []twitchtest.Record{line("a", 1, 0, 4000)},
			Intervals: []Interval{{Channel: "c", From: at(3000), To: at(5000), Kind: KindStall}},
		}, map[string]Class{"a": InGap}},
		{"unread end of a live connection", Input{
			Sent:     []twitchtest.Record{line("a", 1, 0, 10), line("b", 1, 1, 20)},
			Received: []Received{got("a", 11)},
		}, map[string]Class{"b": Unreported}},
		{"killed in flight", Input{
			Sent:     []twitchtest.Record{line("a", 1, 0, 10), line("b", 1, 1, 4000), line("c", 1, 2, 4100)},
			Conns:    ended,
			Received: []Received{got("a", 11)},
			Killed:   at(4500),
		}, map[string]Class{"b": KilledInFlight, "c": KilledInFlight}},
		{"a hole before the kill is a loss", Input{
			Sent:     []twitchtest.Record{line("a", 1, 0, 10), line("b", 1, 1, 4000), line("c", 1, 2, 4100)},
			Conns:    ended,
			Received: []Received{got("a", 11), got("c", 4101)},
			Killed:   at(4500),
		}, map[string]Class{"b": LostConnected}},
		{"sent to two connections, read on one", Input{
			Sent: []twitchtest.Record{line("a", 1, 0, 10), line("b", 1, 1, 20), line("b", 2, 0, 20), line("c", 1, 2, 30), line("c", 2, 1, 30)},
			// b and c reach the bus through connection 2; connection 1 was
			// not read past a (its later lines went to 2 as well)
			Conns:     ended,
			Received:  []Received{got("a", 11), got("c", 31)},
			Intervals: []Interval{{Channel: "c", From: at(15), To: at(25), Kind: KindGap}},
		}, map[string]Class{"b": InGap, "c": Delivered}},
		{"excluded", Input{
			Sent:     []twitchtest.Record{line("bad", 1, 0, 10), line("bad2", 1, 1, 20), line("a", 1, 2, 30)},
			Received: []Received{got("bad2", 21), got("a", 31)},
			Exclude:  map[string]bool{"bad": true, "bad2": true},
		}, map[string]Class{"bad": Excluded, "bad2": Excluded, "a": Delivered}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := Check(tc.in)
			for id, want := range tc.want {
				if got := r.Classes[id]; got != want {
					t.Errorf("%s: %v, want %v (%s)", id, got, want, r.String())
				}
			}
		})
	}
}

func TestCheckCounts(t *testing.T) {
	r := Check(Input{
		Sent: []twitchtest.Record{line("a", 1, 0, 10), line("b", 1, 1, 20), line("c", 1, 2, 30), line("d", 1, 3, 40),
			line("x", 1, 4, 50), line("y", 1, 5, 600)},
		Conns:     []twitchtest.ConnRecord{{Client: 1, Ended: at(1000)}},
		Received:  []Received{got("a", 11), got("a", 12), got("c", 31), got("zzz", 1)},
		Intervals: []Interval{{Channel: "c", From: at(550), To: at(700), Kind: KindStall}},
		Exclude:   map[string]bool{"d": true},
	})
	want := Result{Sent: 5, Delivered: 1, Duplicated: 1, LostConnected: 1, InGap: 1, StallOnly: 1, Unreported: 1, Excluded: 1, Unexpected: 1, Envelopes: 4}
	if r.Sent != want.Sent || r.Delivered != want.Delivered || r.Duplicated != want.Duplicated || r.LostConnected != want.LostConnected ||
		r.InGap != want.InGap || r.StallOnly != want.StallOnly || r.Unreported != want.Unreported || r.Excluded != want.Excluded ||
		r.Unexpected != want.Unexpected || r.Envelopes != want.Envelopes {
		t.Errorf("Check = %s", r.String())
	}
	if r.OK() {
		t.Errorf("OK() with losses")
	}
	if len(r.UnexpectedIDs) != 1 || r.UnexpectedIDs[0] != "zzz" {
		t.Errorf("unexpected ids %v", r.UnexpectedIDs)
	}
	for _, c := range []Class{Duplicated, LostConnected, Unreported} {
		if len(r.Examples[c]) != 1 {
			t.Errorf("examples of %v: %q", c, r.Examples[c])
		}
	}
	if ex := r.Examples[Unreported]; len(ex) == 1 && !strings.Contains(ex[0], "x #c conn 1 place 4") {
		t.Errorf("unreported example %q", ex[0])
	}
	ok := Check(Input{Sent: []twitchtest.Record{line("a", 1, 0, 10)}, Received: []Received{got("a", 11)}})
	if !ok.OK() || ok.Delivered != 1 {
		t.Errorf("a faithful run: %s", ok.String())
	}
}

func TestGapSeconds(t *testing.T) {
	ivs := []Interval{
		{Channel: "a", From: at(0), To: at(1000), Kind: KindGap},
		{Channel: "a", From: at(500), To: at(2000), Kind: KindGap}, // overlaps: 2 s in all
		{Channel: "a", From: at(5000), To: at(6000), Kind: KindGap},
		{Channel: "b", From: at(0), To: at(1000), Kind: KindGap},
		{Channel: "b", From: at(0), To: at(9000), Kind: KindStall},
	}
	if got := GapSeconds(ivs, KindGap); got != 2 { // (3 + 1) / 2 channels
		t.Errorf("GapSeconds(gap) = %v, want 2", got)
	}
	if got := GapSeconds(ivs, KindStall); got != 9 {
		t.Errorf("GapSeconds(stall) = %v, want 9", got)
	}
	if got := GapSeconds(nil, KindGap); got != 0 {
		t.Errorf("GapSeconds(nil) = %v", got)
	}
}

func TestTableAndSplice(t *testing.T) {
	figs := []Figure{
		{ID: "02", Scenario: "b", Expected: "x|y", Version: "short", Params: "5 s", Sent: 10, Delivered: 10, Recovery: 1.25, RSSBefore: 10 << 20, RSSPeak: 20 << 20, RSSAfter: 15 << 20, Pass: true},
		{ID: "13", Scenario: "kill", Version: "short", Lost: 0, KilledInFlight: 7, Recovery: -1},
	}
	tab := Table(figs)
	for _, want := range []string{"| 02 | b | x\\|y | short: 5 s | 10 | 10 | 0 | 0 | 0 | 0 | 0.0 | 0.0 | 1.2 | 10–20–15 |", "0 (+7 killed in flight)", "**FAIL**"} {
		if !strings.Contains(tab, want) {
			t.Errorf("table lacks %q:\n%s", want, tab)
		}
	}
	readme := "intro\n" + BeginMarker + "\nold table\n" + EndMarker + "\nrest\n"
	out, err := Splice(readme, tab)
	if err != nil || !strings.Contains(out, tab+EndMarker) || strings.Contains(out, "old table") || !strings.HasSuffix(out, "rest\n") {
		t.Errorf("Splice = %q, %v", out, err)
	}
	if _, err := Splice("no markers", tab); err != ErrNoMarkers {
		t.Errorf("Splice without markers: %v", err)
	}
	path := t.TempDir() + "/r.jsonl"
	for _, f := range append(figs, Figure{ID: "02", Scenario: "b", Sent: 99}) {
		if err := WriteFigure(path, f); err != nil {
			t.Fatal(err)
		}
	}
	back, err := ReadFigures(path)
	if err != nil || len(back) != 2 || back[0].ID != "02" || back[0].Sent != 99 || back[1].KilledInFlight != 7 {
		t.Errorf("ReadFigures = %+v, %v", back, err)
	}
}

func TestCheckNamed(t *testing.T) {
	r := Check(Input{
		Sent:     []twitchtest.Record{line("a", 1, 0, 10), line("b", 1, 1, 20), line("c", 1, 2, 30)},
		Received: []Received{got("a", 11), got("c", 31)},
		Named:    map[string]bool{"b": true, "c": true},
	})
	if r.Classes["b"] != Named || r.Classes["c"] != Delivered || r.Named != 1 || !r.OK() {
		t.Errorf("Check = %s; b %v, c %v", r.String(), r.Classes["b"], r.Classes["c"])
	}
}

func TestMerge(t *testing.T) {
	old := Table([]Figure{{ID: "01", Scenario: "old one", Sent: 1}, {ID: "06a", Scenario: "old six", Sent: 6}, {ID: "18", Scenario: "old eighteen", Sent: 18}})
	readme := "intro\n" + BeginMarker + "\nA caption.\n\n" + old + EndMarker + "\n"
	if Current(readme) != "\nA caption.\n\n"+old {
		t.Fatalf("Current = %q", Current(readme))
	}
	got := Merge(Current(readme), Table([]Figure{{ID: "20", Scenario: "new twenty", Sent: 20}, {ID: "18", Scenario: "new eighteen", Sent: 81}}))
	ids, rows := Rows(got)
	if !slices.Equal(ids, []string{"01", "06a", "18", "20"}) {
		t.Fatalf("Merge: rows %v:\n%s", ids, got)
	}
	if !strings.Contains(rows["18"], "new eighteen") || !strings.Contains(rows["06a"], "old six") || !strings.HasPrefix(got, "| # | scenario |") {
		t.Errorf("Merge:\n%s", got)
	}
}
