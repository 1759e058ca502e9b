package loss

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"
)

var t0 = time.Date(2025, 11, 21, 17, 2, 0, 0, time.UTC)

func at(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }

func sent(id, ch string, ms int, connected bool) Sent {
	return Sent{ID: id, Channel: ch, At: at(ms), Connected: connected}
}

func recv(id string, ms int) Received { return Received{MessageID: id, At: at(ms)} }

func TestCheck(t *testing.T) {
	tests := []struct {
		name string
		in   Input
		opts Options
		want Result // latency and example lists are checked separately
		ok   bool
	}{
		{
			name: "empty",
			ok:   true,
		},
		{
			name: "all delivered once",
			in: Input{
				Sent:     []Sent{sent("a", "c1", 0, true), sent("b", "c1", 1, true), sent("c", "c2", 2, true)},
				Received: []Received{recv("c", 5), recv("a", 3), recv("b", 4)},
			},
			want: Result{Sent: 3, Received: 3, Delivered: 3},
			ok:   true,
		},
		{
			name: "duplicate copies counted",
			in: Input{
				Sent:     []Sent{sent("a", "c1", 0, true), sent("b", "c1", 1, true)},
				Received: []Received{recv("a", 2), recv("a", 3), recv("a", 4), recv("b", 2)},
			},
			want: Result{Sent: 2, Received: 4, Delivered: 1, Duplicated: 1, Copies: 2},
		},
		{
			name: "connected and missing is lost",
			in: Input{
				Sent:     []Sent{sent("a", "c1", 0, true), sent("b", "c1", 1, true)},
				Received: []Received{recv("b", 2)},
				Gaps:     []Gap{{Channel: "c2", From: at(-10), To: at(10)}},
			},
			want: Result{Sent: 2, Received: 1, Delivered: 1, Lost: 1},
		},
		{
			name: "not connected inside a reported gap",
			in: Input{
				Sent:     []Sent{sent("a", "c1", 0, true), sent("b", "c1", 10, false), sent("c", "c1", 20, false), sent("d", "c1", 30, true)},
				Received: []Received{recv("a", 1), recv("d", 31)},
				Gaps:     []Gap{{Channel: "c1", From: at(10), To: at(20)}},
			},
			want: Result{Sent: 4, Received: 2, Delivered: 2, NotReceived: 2},
			ok:   true,
		},
		{
			name: "gap for every channel",
			in: Input{
				Sent: []Sent{sent("a", "c1", 10, false), sent("b", "c2", 11, false)},
				Gaps: []Gap{{From: at(5), To: at(15)}},
			},
			want: Result{Sent: 2, NotReceived: 2},
			ok:   true,
		},
		{
			name: "gap of another channel does not cover",
			in: Input{
				Sent: []Sent{sent("a", "c1", 10, false)},
				Gaps: []Gap{{Channel: "c2", From: at(5), To: at(15)}},
			},
			want: Result{Sent: 1, NotReceived: 1, Unreported: 1},
		},
		{
			name: "gap reported too late is unreported",
			in: Input{
				Sent: []Sent{sent("a", "c1", 10, false), sent("b", "c1", 20, false)},
				Gaps: []Gap{{Channel: "c1", From: at(15), To: at(25)}},
			},
			want: Result{Sent: 2, NotReceived: 2, Unreported: 1},
		},
		{
			name: "slack absorbs detection delay",
			in: Input{
				Sent: []Sent{sent("a", "c1", 10, false), sent("b", "c1", 20, false)},
				Gaps: []Gap{{Channel: "c1", From: at(15), To: at(25)}},
			},
			opts: Options{Slack: 5 * time.Millisecond},
			want: Result{Sent: 2, NotReceived: 2},
			ok:   true,
		},
		{
			name: "received though not connected is delivered",
			in: Input{
				Sent:     []Sent{sent("a", "c1", 10, false)},
				Received: []Received{recv("a", 11)},
			},
			want: Result{Sent: 1, Received: 1, Delivered: 1},
			ok:   true,
		},
		{
			name: "unexpected and empty ids",
			in: Input{
				Sent:     []Sent{sent("a", "c1", 0, true)},
				Received: []Received{recv("a", 1), recv("zz", 2), recv("zz", 3), recv("", 4)},
			},
			want: Result{Sent: 1, Received: 4, Delivered: 1, Unexpected: 3},
		},
		{
			name: "id sent twice",
			in: Input{
				Sent:     []Sent{sent("a", "c1", 0, true), sent("a", "c1", 1, true)},
				Received: []Received{recv("a", 2)},
			},
			want: Result{Sent: 1, Received: 1, Delivered: 1, SentTwice: 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Check(tt.in, tt.opts)
			counts := got
			counts.Latency = Latency{}
			counts.LostIDs, counts.DuplicatedIDs, counts.UnexpectedIDs, counts.UnreportedIDs = nil, nil, nil, nil
			if fmt.Sprint(counts) != fmt.Sprint(tt.want) {
				t.Errorf("Check() counts = %+v, want %+v", counts, tt.want)
			}
			if got.OK() != tt.ok {
				t.Errorf("Check().OK() = %v, want %v", got.OK(), tt.ok)
			}
		})
	}
}

func TestCheckExamples(t *testing.T) {
	in := Input{
		Sent: []Sent{
			sent("lost1", "c", 0, true), sent("dup1", "c", 1, true), sent("lost2", "c", 2, true),
			sent("gap1", "c", 3, false), sent("lost3", "c", 4, true),
		},
		Received: []Received{recv("dup1", 5), recv("dup1", 6), recv("new2", 7), recv("new1", 8)},
	}
	got := Check(in, Options{Examples: 2})
	for _, c := range []struct {
		name      string
		got, want []string
	}{
		{"LostIDs", got.LostIDs, []string{"lost1", "lost2"}},
		{"DuplicatedIDs", got.DuplicatedIDs, []string{"dup1"}},
		{"UnexpectedIDs", got.UnexpectedIDs, []string{"new1", "new2"}},
		{"UnreportedIDs", got.UnreportedIDs, []string{"gap1"}},
	} {
		if !slices.Equal(c.got, c.want) {
			t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
		}
	}
	if got.Lost != 3 {
		t.Errorf("Lost = %d, want 3 (examples must not cap the count)", got.Lost)
	}
	none := Check(in, Options{Examples: -1})
	if none.LostIDs != nil || none.Lost != 3 {
		t.Errorf("Examples -1: LostIDs = %q, Lost = %d; want none, 3", none.LostIDs, none.Lost)
	}
}

func TestClassify(t *testing.T) {
	c := NewChecker(Options{})
	c.Received(recv("d", 1)) // receipts may arrive before the send record
	c.Sent(sent("d", "c", 0, true))
	c.Sent(sent("x", "c", 0, true))
	c.Sent(sent("y", "c", 0, false))
	c.Sent(sent("z", "c", 0, true))
	c.Received(recv("z", 1))
	c.Received(recv("z", 2))
	for _, tt := range []struct {
		id   string
		want Class
		ok   bool
	}{
		{"d", Delivered, true},
		{"z", Duplicated, true},
		{"x", Lost, true},
		{"y", NotReceived, true},
		{"never", 0, false},
	} {
		got, ok := c.Classify(tt.id)
		if got != tt.want || ok != tt.ok {
			t.Errorf("Classify(%q) = %v, %v; want %v, %v", tt.id, got, ok, tt.want, tt.ok)
		}
	}
}

func TestClassString(t *testing.T) {
	for c, want := range map[Class]string{Delivered: "delivered", Duplicated: "duplicated", Lost: "lost", NotReceived: "not-received", 9: "unknown"} {
		if got := c.String(); got != want {
			t.Errorf("Class(%d).String() = %q, want %q", c, got, want)
		}
	}
}

func TestLatency(t *testing.T) {
	// 1000 ids, id i received i+1 ms after it was sent; one duplicate copy
	// arrives earlier than the first one recorded and must count as first.
	var in Input
	for i := range 1000 {
		id := fmt.Sprint("m", i)
		in.Sent = append(in.Sent, sent(id, "c", i, true))
		in.Received = append(in.Received, recv(id, 2*i+1))
	}
	in.Received = append(in.Received, recv("m999", 999+1)) // earlier copy of m999: 1 ms
	got := Check(in, Options{}).Latency
	ms := time.Millisecond
	want := Latency{N: 1000, Min: 1 * ms, P50: 499 * ms, P99: 989 * ms, P999: 998 * ms, Max: 999 * ms, Mean: 0}
	// The values, sorted: 1 (m0), 1 (m999), 2 .. 999 (m1..m998) → index k holds max(1, k) ms.
	got.Mean = 0
	if got != want {
		t.Errorf("Latency = %+v, want %+v", got, want)
	}
}

func TestPercentile(t *testing.T) {
	d := func(v ...int) []time.Duration {
		out := make([]time.Duration, len(v))
		for i, x := range v {
			out[i] = time.Duration(x)
		}
		return out
	}
	tests := []struct {
		in   []time.Duration
		q    float64
		want time.Duration
	}{
		{nil, 0.5, 0},
		{d(7), 0.5, 7},
		{d(7), 0.999, 7},
		{d(1, 2), 0.5, 1},
		{d(1, 2), 0.51, 2},
		{d(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 0.99, 10},
		{d(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 0.1, 1},
		{d(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 0.0, 1},
	}
	for _, tt := range tests {
		if got := Percentile(tt.in, tt.q); got != tt.want {
			t.Errorf("Percentile(%v, %v) = %v, want %v", tt.in, tt.q, got, tt.want)
		}
	}
	if got := Summarize(nil); got != (Latency{}) {
		t.Errorf("Summarize(nil) = %+v, want zero", got)
	}
	if got := Summarize(d(3, 1, 2)); got.Mean != 2 || got.Min != 1 || got.Max != 3 {
		t.Errorf("Summarize(3,1,2) = %+v, want min 1, mean 2, max 3", got)
	}
}

func TestCheckerConcurrent(t *testing.T) {
	const n = 2000
	c := NewChecker(Options{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := range n {
			c.Sent(sent(fmt.Sprint(i), "c", i, true))
		}
	})
	wg.Go(func() {
		for i := range n {
			c.Received(recv(fmt.Sprint(i), i+1))
		}
	})
	wg.Go(func() {
		for range 10 {
			_ = c.Result()
		}
	})
	wg.Wait()
	got := c.Result()
	if got.Delivered != n || !got.OK() {
		t.Errorf("Result() = %+v, want %d delivered and OK", got, n)
	}
}
