package report

import (
	"bytes"
	"encoding/xml"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/ingress-egress/ingress-egress/bench/load"
	"github.com/ingress-egress/ingress-egress/bench/loss"
)

func result(scenario, target, bus string, rate, in float64, p99 time.Duration) load.Result {
	n := int64(in * 10)
	return load.Result{Scenario: scenario, Target: target, Bus: bus, Channels: 100, Connections: 2, Rate: rate,
		Start: time.Date(2026, 11, 27, 23, 0, 0, 0, time.UTC), Seconds: 10, Sent: n, SentConnected: n,
		Received: n, Published: n, InPerSec: in, AckedPerSec: in, CPU: 1, CPUPerMillion: 1e6 / float64(n),
		PeakRSS: 40 << 20, Check: loss.Result{Sent: int(n), Received: int(n), Delivered: int(n), Latency: loss.Latency{N: int(n), P50: p99 / 2, P99: p99, P999: p99}},
		Machine: load.MachineCPU{User: 10, Idle: 10}}
}

func testData() *Data {
	d := &Data{Machine: Machine{NProc: 2, Model: "Test CPU", Go: "go1.26", Date: time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)},
		Notes: "## Analysis\n\nnotes here"}
	d.Results = []load.Result{
		result("hundred", load.Ours, "jetstream", 10000, 10000, 5*time.Millisecond),
		result("hundred", load.GoPeer, "jetstream", 10000, 9000, 50*time.Millisecond),
		result("saturate", load.Ours, "core", 10000, 10000, time.Millisecond),
		result("saturate", load.Ours, "core", 20000, 15000, time.Millisecond), // pushed back
		result("saturate", load.GoPeer, "core", 10000, 5000, time.Millisecond),
		{Scenario: "ceiling", Target: "nats.go PublishAsync", Bus: "jetstream", AckedPerSec: 30000, EnvelopeBytes: 1100},
	}
	return d
}

func TestMarkdown(t *testing.T) {
	var b bytes.Buffer
	if err := Markdown(&b, testData(), "report.svg"); err != nil {
		t.Fatal(err)
	}
	md := b.String()
	for _, want := range []string{
		"2 × Test CPU", "![throughput", "(report.svg)", "notes here",
		"| p99 at 10k lines/s < 10 ms (JetStream), below each peer's | 5.00 ms (go-twitch-irc 50.0 ms) | met |",
		"| max sustained rate with 0 loss, core NATS ≥ 250,000 lines/s | 10,000 lines/s (next step, 20,000/s: the target took only 15,000 lines/s) | **missed** |",
		"| ≥ 10× the go-twitch-irc peer (core) | 10,000 vs 0 lines/s = – | **missed** |",
		"| jetstream | go-twitch-irc | 1.1× | 10.0× |",
		"## How to rerun",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q\n%s", want, md)
		}
	}
}

func TestMarkdownOutbox(t *testing.T) {
	d := testData()
	d.Results = append(d.Results,
		result("saturate", load.Ours, "jetstream", 10000, 10000, time.Millisecond),
		result("saturate", load.Ours, "jetstream", 20000, 15000, time.Millisecond), // pushed back
		result("saturate", load.Ours, "outbox", 10000, 10000, 2*time.Millisecond),
		result("hundred", load.Ours, "outbox", 10000, 10000, 30*time.Millisecond))
	var b bytes.Buffer
	if err := Markdown(&b, d, "report.svg"); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"| outbox: sustained rate ≥ 70 % of direct JetStream publishing | 10,000 vs 10,000 lines/s = 100 % | met |",
		"| outbox: p99 receive → stream at 10k lines/s < 25 ms, 0 lost | 30.0 ms, lost 0, duplicated 0 | **missed** |",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("report lacks %q\n%s", want, b.String())
		}
	}
}

func TestSVG(t *testing.T) {
	var b bytes.Buffer
	if err := SVG(&b, testData()); err != nil {
		t.Fatal(err)
	}
	dec := xml.NewDecoder(&b)
	rects := 0
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("SVG is not well-formed XML: %v", err)
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "rect" {
			rects++
		}
	}
	// Background, 3 legend swatches, bars: hundred (2, JetStream, both
	// panels), saturation max (1, core, both panels).
	if want := 1 + 3 + 2*2 + 1*2; rects != want {
		t.Errorf("%d rects, want %d", rects, want)
	}
}

func TestScaleSection(t *testing.T) {
	d := testData()
	hk := result("hundredk", load.Ours, "core", 50000, 50000, 20*time.Millisecond)
	hk.Channels, hk.Connections, hk.Seconds, hk.JoinSeconds, hk.RejoinSeconds, hk.RestartSeconds = 100000, 1112, 300, 270, 268, 269
	hk.SteadyRSS, hk.PeakRSS, hk.MaxWindowJoins, hk.ServerJoinLimit, hk.AckP99 = 230<<20, 260<<20, 20, 20, 0.25
	rj := result("rejoin", load.Ours, "core", 10000, 10000, 5*time.Millisecond)
	rj.Channels, rj.Connections, rj.JoinSeconds, rj.RejoinSeconds, rj.RestartSeconds, rj.ServerJoinLimit = 1000, 12, 44, 71, 72, 20
	d.Results = append(d.Results, hk, rj)
	var b bytes.Buffer
	if err := Markdown(&b, d, "report.svg"); err != nil {
		t.Fatal(err)
	}
	md := b.String()
	for _, want := range []string{
		"| 100,000 channels: RSS ≤ 400 MiB steady | steady 230.0 MiB (mean over the second half of the send window), peak 260.0 MiB | met |",
		"| 100,000 channels joined with the default limits (anonymous) in ≤ 10 min | 1,112 connections, joined in 270 s; after a restart in 268 s (269 s from SIGTERM); most JOINs by one login in 10 s: 20, dropped for the JOIN limit: 0 | met |",
		"| 100,000 channels at 50,000 lines/s for 5m0s: 0 lost, 0 duplicated (core) |",
		"| 1,000 channels joined in ≤ 60 s after a restart, default anonymous limits | 71.0 s from the new process's start (72.0 s from SIGTERM); first join 44.0 s | **missed** |",
		"## Scale: 100,000 channels",
		"TWITCH_JOIN_RATE 20 (default) per 10 s per identity, TWITCH_CONNECT_RATE 5/s (default); the fake server allows 20 JOINs per 10 s per login",
		"| hundredk | tcp | core | 100,000 | 1112 | 270 | 268 (269) |",
		"| ≤ 250 |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q\n%s", want, md)
		}
	}
}

// TestFloor checks that the floor gets its rows in the run tables and the
// chart, its own comparison with the service's CPU per line, and no row
// among the peers' ratios.
func TestFloor(t *testing.T) {
	d := testData()
	ours := result("hundred", load.Ours, "core", 10000, 10000, 4*time.Millisecond)
	ours.CPUPerMillion = 12
	fl := result("hundred", load.Floor, "core", 10000, 10000, 3*time.Millisecond)
	fl.CPUPerMillion = 3
	d.Results = append(d.Results, ours, fl)
	var b bytes.Buffer
	if err := Markdown(&b, d, "report.svg"); err != nil {
		t.Fatal(err)
	}
	md := b.String()
	for _, want := range []string{
		"| core | floor | 2 | 10,000 | 10,000 | 1.50 | 3.00 | 3.00 | 3.00 | 333,333 |",
		"| core | 3.00 | 12.0 | 25 % | 9.00 |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q\n%s", want, md)
		}
	}
	if strings.Contains(md, "| core | floor | 1.0×") || strings.Contains(md, "floor 3.00 ms") {
		t.Errorf("the floor is compared as a peer\n%s", md)
	}
	b.Reset()
	if err := SVG(&b, d); err != nil {
		t.Fatal(err)
	}
	svg := b.String()
	if !strings.Contains(svg, `<text x="486" y="46">floor</text>`) || !strings.Contains(svg, `fill="#7f7f7f"><title>floor: 10k/s</title>`) {
		t.Errorf("the chart has no legend entry or bar for the floor\n%s", svg)
	}
}
