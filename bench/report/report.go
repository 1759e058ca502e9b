// Package report turns load results (bench/load) into the Markdown summary
// and the hand-written SVG chart of bench/REPORT.md and bench/report.svg:
// throughput and p99 latency against channel count and rate, ingress-egress
// against the peers, the load targets with what was measured, and the
// machine they were measured on.
package report

import (
	"cmp"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ingress-egress/ingress-egress/bench/load"
)

// Machine describes where the results were measured.
type Machine struct {
	NProc  int
	Model  string
	Go     string
	Kernel string
	MemGiB float64
	Date   time.Time
}

// ThisMachine describes the machine this process runs on.
func ThisMachine() Machine {
	m := Machine{NProc: runtime.NumCPU(), Go: runtime.Version(), Date: time.Now().UTC()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.Lines(string(b)) {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.Model = strings.TrimSpace(v)
				break
			}
		}
	}
	if out, err := exec.Command("go", "version").Output(); err == nil {
		if f := strings.Fields(string(out)); len(f) >= 3 {
			m.Go = f[2]
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for line := range strings.Lines(string(b)) {
			if f := strings.Fields(line); len(f) >= 2 && f[0] == "MemTotal:" {
				kb, _ := strconv.ParseFloat(f[1], 64)
				m.MemGiB = kb / (1 << 20)
			}
		}
	}
	return m
}

// Data is what a report is made from.
type Data struct {
	Machine Machine
	// Results in the order they were run; for a scenario, target and bus
	// run more than once the last run counts (saturation steps aside).
	Results []load.Result
	// Notes is Markdown written by a person (the analysis of the figures),
	// inserted after the targets table.
	Notes string
}

// The scenarios of the run tables, in report order, with their labels.
var scenarios = []struct{ key, label string }{
	{"one", "1 channel, max rate"},
	{"hundred", "100 channels, 10k lines/s"},
	{"thousand", "1,000 channels, 10k lines/s"},
	{"tenk", "10,000 channels, 50k lines/s"},
	{"soak", "soak: 1,000 channels, 10k lines/s"},
}

var scenarioNotes = map[string]string{
	"one": "At maximum rate the fake server writes as fast as the target's connection takes lines: its per-connection " +
		"queue (16,384 lines) stays full, so the latency here is mostly time spent in that queue, and \"in\" is the " +
		"target's read rate on one connection.",
	"tenk": "10,000 channels over 90 per connection (the service's default TWITCH_CHANNELS_PER_CONN): 112 connections, " +
		"TWITCH_JOIN_RATE=2000 per 10 s (a verified bot's), the fake server without a JOIN limit; the peers get the same " +
		"112 connections (go-twitch-irc without its JOIN limiter, Twurple at bot level \"verified\").",
}

// targets are the load targets in report order: the service, the peers,
// and the floor (the service's I/O with no per-line work); peerTargets are
// those the service is compared with in the ratio rows.
var targets = []string{load.Ours, load.GoPeer, load.Twurple, load.Floor}
var peerTargets = []string{load.GoPeer, load.Twurple}
var buses = []string{"core", "jetstream", "outbox", "embedded"}

// latest returns the last result of scenario/target/bus, or nil.
func (d *Data) latest(scenario, target, bus string) *load.Result {
	for i := len(d.Results) - 1; i >= 0; i-- {
		r := &d.Results[i]
		if r.Scenario == scenario && r.Target == target && r.Bus == bus {
			return r
		}
	}
	return nil
}

// Saturation is the outcome of one target's rate steps on one bus.
type Saturation struct {
	Target, Bus string
	Steps       []*load.Result
	Max         float64 // the highest sustained rate; 0: none
	MaxResult   *load.Result
	Bound       *load.Result // the first step that was not sustained
}

// saturations returns the saturation outcomes, from the last sequence of
// steps of each target and bus (a sequence starts again when the rate does
// not increase).
func (d *Data) saturations() []Saturation {
	var out []Saturation
	for _, b := range buses {
		for _, t := range targets {
			var steps []*load.Result
			for i := range d.Results {
				r := &d.Results[i]
				if r.Scenario != "saturate" || r.Target != t || r.Bus != b {
					continue
				}
				if len(steps) > 0 && r.Rate <= steps[len(steps)-1].Rate {
					steps = nil
				}
				steps = append(steps, r)
			}
			if len(steps) == 0 {
				continue
			}
			s := Saturation{Target: t, Bus: b, Steps: steps}
			for _, r := range steps {
				if r.Sustained() {
					if r.Rate > s.Max {
						s.Max, s.MaxResult = r.Rate, r
					}
				} else if s.Bound == nil {
					s.Bound = r
				}
			}
			out = append(out, s)
		}
	}
	return out
}

func (d *Data) saturation(target, bus string) *Saturation {
	for _, s := range d.saturations() {
		if s.Target == target && s.Bus == bus {
			return &s
		}
	}
	return nil
}

func (d *Data) ceiling() *load.Result {
	for i := len(d.Results) - 1; i >= 0; i-- {
		if d.Results[i].Scenario == "ceiling" && d.Results[i].Err == "" {
			return &d.Results[i]
		}
	}
	return nil
}

func ms(d time.Duration) string {
	if d <= 0 {
		return "–"
	}
	v := d.Seconds() * 1000
	switch {
	case v < 10:
		return strconv.FormatFloat(v, 'f', 2, 64)
	case v < 100:
		return strconv.FormatFloat(v, 'f', 1, 64)
	}
	return strconv.FormatFloat(v, 'f', 0, 64)
}

func num(v float64) string {
	switch {
	case math.IsNaN(v) || v < 0:
		return "n/a"
	case v >= 100:
		return group(int64(math.Round(v)))
	case v >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	}
	return strconv.FormatFloat(v, 'f', 2, 64)
}

// group writes n with thousands separators.
func group(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

func mib(b int64) string {
	if b <= 0 {
		return "–"
	}
	return strconv.FormatFloat(float64(b)/(1<<20), 'f', 1, 64)
}

func rate(r float64) string {
	if r < 0 {
		return "max"
	}
	return group(int64(r))
}

func ratio(a, b float64) string {
	if a <= 0 || b <= 0 || math.IsNaN(a) || math.IsNaN(b) {
		return "–"
	}
	return strconv.FormatFloat(a/b, 'f', 1, 64) + "×"
}

func check(ok bool) string {
	if ok {
		return "met"
	}
	return "**missed**"
}

// rssTrend returns the mean RSS of the first and the last tenth of the
// samples taken after the first 10 % of the run (the warm-up), in bytes.
func rssTrend(s []int64) (first, last float64, ok bool) {
	if len(s) < 20 {
		return 0, 0, false
	}
	s = s[len(s)/10:]
	n := max(1, len(s)/10)
	mean := func(x []int64) float64 {
		var t float64
		for _, v := range x {
			t += float64(v)
		}
		return t / float64(len(x))
	}
	return mean(s[:n]), mean(s[len(s)-n:]), true
}

// Markdown writes the report; svg is the chart's file name, linked from it.
func Markdown(w io.Writer, d *Data, svg string) error {
	p := func(format string, args ...any) { fmt.Fprintf(w, format, args...) }
	m := d.Machine
	var from, to time.Time
	loadMin, loadMax := math.Inf(1), 0.0
	for _, r := range d.Results {
		if r.Start.IsZero() {
			continue
		}
		if from.IsZero() || r.Start.Before(from) {
			from = r.Start
		}
		if r.Start.After(to) {
			to = r.Start
		}
		if r.Load1 > 0 {
			loadMin, loadMax = min(loadMin, r.Load1), max(loadMax, r.Load1)
		}
	}
	p("# Load report: ingress-egress against the peers\n\n")
	p("Generated by `bench/load.sh` (`bench/cmd/load`) from %d runs made %s – %s UTC on one machine: "+
		"**%d × %s**, %.0f GiB RAM, Linux %s, %s. The fake Twitch server, the service (or peer), the NATS server "+
		"(a separate process) and the consumer all share those %d cores, and the machine was shared with other work: "+
		"the 1-minute load average at the start of the runs was %.1f – %.1f. Absolute figures are therefore low and noisy; "+
		"the ratios, measured in the same invocation against the same fake server and bus, are the point.\n\n",
		len(d.Results), from.UTC().Format("2006-01-02 15:04"), until(from, to), m.NProc, m.Model, m.MemGiB,
		m.Kernel, m.Go, m.NProc, finite(loadMin), loadMax)
	p("![throughput and p99 latency against channel count and rate](%s)\n\n", svg)
	p("How a run works: the fake server (`twitch/twitchtest`) serves plain TCP; each line is a realistic PRIVMSG from " +
		"`internal/corpus` with a unique id and its send time (`tmi-sent-ts`, `+ie/sent-ns`), written to every connection " +
		"joined to its channel. The target is started as a process, joins every channel (the harness waits until the " +
		"server has seen all JOINs), and publishes to `<run>.internal.ingress.v1` — core NATS, or a JetStream stream with a " +
		"2 min duplicate window and `Nats-Msg-Id`. A consumer (`bench/consumer`) reads every envelope back (for JetStream, " +
		"from the stream, i.e. after it was stored and acknowledged) and `bench/loss` classifies every id sent. Latency is " +
		"from the moment the fake server queued the line to the consumer's receipt. CPU seconds are the target process's " +
		"(`/proc/PID/stat`) during sending and draining; peak RSS is its `VmHWM`; bytes allocated per line are estimated from " +
		"the Go targets' `GODEBUG=gctrace=1` output (heap at each GC start minus the live heap after the previous one, 1 MB " +
		"resolution; the service exposes no allocation counter, so allocations *per line* as a count are n/a).\n\n")

	targetsSection(w, d)
	if d.Notes != "" {
		p("%s\n\n", strings.TrimSpace(d.Notes))
	}
	runsSection(w, d)
	scaleSection(w, d)
	saturationSection(w, d)
	soakSection(w, d)
	cpuSection(w, d)
	p("## How to rerun\n\n```sh\n" +
		"bench/load.sh                                   # every scenario, 20 s runs, 10 min soak (~45 min)\n" +
		"bench/load.sh -scenarios hundred -duration 10s  # one scenario\n" +
		"bench/load.sh -scenarios saturate -buses core -targets ingress-egress\n" +
		"bench/load.sh -scenarios hundredk                # 100,000 channels, default join limits, restart (~20 min)\n" +
		"bench/load.sh -render report/results.jsonl      # rewrite REPORT.md and report.svg from the committed results\n" +
		"cd bench && go test ./load                       # the CI-sized correctness run (fails on any loss)\n" +
		"```\n\nFlags: `go run ./cmd/load -h` in `bench/`. Results are appended to `bench/out/results.jsonl`; for a " +
		"scenario, target and bus run more than once the report uses the last run. The results behind this report are " +
		"committed as `bench/report/results.jsonl`; the analysis above is `bench/report/notes.md`, written by hand.\n")
	return nil
}

// until formats the end of the runs' span: the time only when it is on
// the day they started.
func until(from, to time.Time) string {
	if from.UTC().Format("2006-01-02") == to.UTC().Format("2006-01-02") {
		return to.UTC().Format("15:04")
	}
	return to.UTC().Format("2006-01-02 15:04")
}

func finite(v float64) float64 {
	if math.IsInf(v, 0) {
		return 0
	}
	return v
}

func targetsSection(w io.Writer, d *Data) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format, args...) }
	p("## Load targets\n\n| target | measured | verdict |\n| --- | --- | --- |\n")
	satCore := d.saturation(load.Ours, "core")
	if satCore != nil {
		p("| max sustained rate with 0 loss, core NATS ≥ 250,000 lines/s | %s lines/s%s | %s |\n",
			group(int64(satCore.Max)), boundNote(satCore), check(satCore.Max >= 250000))
		for _, pr := range []struct {
			t    string
			want float64
		}{{load.GoPeer, 10}, {load.Twurple, 20}} {
			if ps := d.saturation(pr.t, "core"); ps != nil {
				p("| ≥ %.0f× the %s peer (core) | %s vs %s lines/s = %s | %s |\n", pr.want, pr.t, group(int64(satCore.Max)),
					group(int64(ps.Max)), ratio(satCore.Max, ps.Max), check(ps.Max > 0 && satCore.Max/ps.Max >= pr.want))
			}
		}
	}
	if s, c := d.saturation(load.Ours, "jetstream"), d.ceiling(); s != nil && c != nil {
		p("| JetStream ≥ 85 %% of a bare `PublishAsync` loop | %s vs %s msgs/s (%d B) = %.0f %% | %s |\n",
			group(int64(s.Max)), group(int64(c.AckedPerSec)), c.EnvelopeBytes, 100*s.Max/c.AckedPerSec, check(s.Max >= 0.85*c.AckedPerSec))
	}
	if r := d.latest("hundred", load.Ours, "jetstream"); r != nil {
		ok := r.OK() && r.Check.Latency.P99 < 10*time.Millisecond
		var peers []string
		for _, t := range peerTargets {
			if pr := d.latest("hundred", t, "jetstream"); pr != nil {
				peers = append(peers, fmt.Sprintf("%s %s ms", t, ms(pr.Check.Latency.P99)))
				ok = ok && r.Check.Latency.P99 < pr.Check.Latency.P99
			}
		}
		p("| p99 at 10k lines/s < 10 ms (JetStream), below each peer's | %s ms (%s) | %s |\n",
			ms(r.Check.Latency.P99), strings.Join(peers, ", "), check(ok))
	}
	outboxTargets(p, d)
	for _, b := range buses {
		r := d.latest("soak", load.Ours, b)
		if r == nil {
			continue
		}
		first, last, ok := rssTrend(r.RSS)
		flat := ok && last <= first*1.10+2<<20
		p("| 1,000 channels at 10k lines/s for %s (%s): RSS < 64 MiB and flat, 0 lost | peak %s MiB; mean %s → %s MiB (first vs last tenth after warm-up); lost %d, delivered %s of %s | %s |\n",
			(time.Duration(r.Seconds) * time.Second).String(), b, mib(r.PeakRSS), mib(int64(first)), mib(int64(last)), r.Check.Lost,
			group(int64(r.Check.Delivered)), group(r.Sent), check(r.OK() && r.PeakRSS < 64<<20 && flat && r.Seconds >= 590))
	}
	scaleTargets(w, d)
	for _, b := range []string{"jetstream", "core"} {
		if r := d.latest("tenk", load.Ours, b); r != nil {
			p("| 10,000 channels joined and flowing, 0 lost (%s) | %d connections, joined in %.0f s; %s lines at %s/s, lost %d, duplicated %d | %s |\n",
				b, r.Connections, r.JoinSeconds, group(r.Sent), group(int64(r.InPerSec)), r.Check.Lost, r.Check.Duplicated, check(r.OK()))
		}
	}
	p("\n")
}

// outboxTargets reports the outbox against direct publishing into the same
// JetStream stream: its sustained rate (≥ 70 % of direct) and its p99 at
// 10,000 lines/s (< 25 ms).
func outboxTargets(p func(string, ...any), d *Data) {
	if o, j := d.saturation(load.Ours, "outbox"), d.saturation(load.Ours, "jetstream"); o != nil && j != nil && j.Max > 0 {
		p("| outbox: sustained rate ≥ 70 %% of direct JetStream publishing | %s vs %s lines/s = %.0f %% | %s |\n",
			group(int64(o.Max)), group(int64(j.Max)), 100*o.Max/j.Max, check(o.Max >= 0.7*j.Max))
	}
	if r := d.latest("hundred", load.Ours, "outbox"); r != nil {
		p("| outbox: p99 receive → stream at 10k lines/s < 25 ms, 0 lost | %s ms, lost %d, duplicated %d | %s |\n",
			ms(r.Check.Latency.P99), r.Check.Lost, r.Check.Duplicated, check(r.OK() && r.Check.Latency.P99 < 25*time.Millisecond))
	}
}

func boundNote(s *Saturation) string {
	if s.Bound == nil {
		return " (highest step run)"
	}
	return fmt.Sprintf(" (next step, %s/s: %s)", group(int64(s.Bound.Rate)), why(s.Bound))
}

// why says why a step was not sustained.
func why(r *load.Result) string {
	var w []string
	if r.Err != "" {
		w = append(w, "error: "+r.Err)
	}
	if r.Check.Lost > 0 {
		w = append(w, fmt.Sprintf("%d lost", r.Check.Lost))
	}
	if r.Check.Duplicated > 0 {
		w = append(w, fmt.Sprintf("%d duplicated", r.Check.Duplicated))
	}
	if r.Check.Unexpected+r.Check.Unreported > 0 {
		w = append(w, fmt.Sprintf("%d unexpected/unreported", r.Check.Unexpected+r.Check.Unreported))
	}
	if r.Rate > 0 && r.InPerSec < 0.97*r.Rate {
		w = append(w, fmt.Sprintf("the target took only %s lines/s", group(int64(r.InPerSec))))
	}
	if r.DrainSeconds >= 1 {
		w = append(w, fmt.Sprintf("backlog: last envelope %.1f s after the last line", r.DrainSeconds))
	}
	if len(w) == 0 {
		return "ok"
	}
	return strings.Join(w, "; ")
}

func runsSection(w io.Writer, d *Data) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format, args...) }
	p("## Runs\n\nIn = lines the fake server wrote per second; acked = envelopes read back exactly once per second " +
		"(from the first line sent to the last envelope read). Sent/recv/pub: lines the fake server wrote, PRIVMSGs the " +
		"target says it read, envelopes it says the bus acknowledged. Lost = read by a live connection, never on the bus; " +
		"not-recv = sent while no connection was joined (must lie in a gap the service reported). Lines/s per core = 10⁶ ÷ " +
		"(CPU s per M lines): what one core would carry for the target alone, the figure least disturbed by the other work " +
		"on the machine.\n\n")
	for _, sc := range scenarios {
		any := false
		for _, b := range buses {
			for _, t := range targets {
				if d.latest(sc.key, t, b) != nil {
					any = true
				}
			}
		}
		if !any {
			continue
		}
		p("### %s\n\n", sc.label)
		if n := scenarioNotes[sc.key]; n != "" {
			p("%s\n\n", n)
		}
		p("| bus | target | conns | in lines/s | acked env/s | p50 ms | p99 ms | p99.9 ms | CPU s / M lines | lines/s per core | peak RSS MiB | max Go heap MiB | alloc B/line | sent | recv | pub | lost | dup | not-recv | ok |\n")
		p("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |\n")
		for _, b := range buses {
			for _, t := range targets {
				r := d.latest(sc.key, t, b)
				if r == nil {
					continue
				}
				l := r.Check.Latency
				ok := "yes"
				if !r.OK() {
					ok = "**no**"
					if r.Err != "" {
						ok += ": " + strings.ReplaceAll(r.Err, "|", "/")
					}
				}
				perCore := -1.0
				if r.CPUPerMillion > 0 {
					perCore = 1e6 / r.CPUPerMillion
				}
				heap := "n/a"
				if r.MaxHeapMB > 0 {
					heap = strconv.FormatFloat(r.MaxHeapMB, 'f', 0, 64)
				}
				p("| %s | %s | %d | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %d | %d | %d | %s |\n",
					b, t, r.Connections, num(r.InPerSec), num(r.AckedPerSec), ms(l.P50), ms(l.P99), ms(l.P999),
					num(r.CPUPerMillion), num(perCore), mib(r.PeakRSS), heap, num(r.AllocBytesPerLine), group(r.Sent), group(r.Received),
					group(r.Published), r.Check.Lost, r.Check.Duplicated, r.Check.NotReceived, ok)
			}
		}
		p("\n")
		// Ratios ours : peer.
		var rows []string
		for _, b := range buses {
			o := d.latest(sc.key, load.Ours, b)
			if o == nil {
				continue
			}
			for _, t := range peerTargets {
				pr := d.latest(sc.key, t, b)
				if pr == nil {
					continue
				}
				rows = append(rows, fmt.Sprintf("| %s | %s | %s | %s | %s | %s |", b, t, ratio(o.AckedPerSec, pr.AckedPerSec),
					ratio(float64(pr.Check.Latency.P99), float64(o.Check.Latency.P99)), ratio(pr.CPUPerMillion, o.CPUPerMillion),
					ratio(float64(pr.PeakRSS), float64(o.PeakRSS))))
			}
		}
		if len(rows) > 0 {
			p("Ratios, ingress-egress against each peer (higher is better for ingress-egress):\n\n")
			p("| bus | peer | acked/s ours÷peer | p99 peer÷ours | CPU per line peer÷ours | peak RSS peer÷ours |\n| --- | --- | ---: | ---: | ---: | ---: |\n")
			p("%s\n\n", strings.Join(rows, "\n"))
		}
		floorRows(p, d, sc.key)
	}
}

// floorRows compares the service's CPU per line with the floor's in a
// scenario: the floor reads chat and publishes over core NATS as the
// service does, with no per-line work, so its CPU per line is what the I/O
// alone costs, and the difference is the service's own work.
func floorRows(p func(string, ...any), d *Data, scenario string) {
	var rows []string
	for _, b := range buses {
		o, f := d.latest(scenario, load.Ours, b), d.latest(scenario, load.Floor, b)
		if o == nil || f == nil || o.CPUPerMillion <= 0 || f.CPUPerMillion <= 0 {
			continue
		}
		rows = append(rows, fmt.Sprintf("| %s | %s | %s | %.0f %% | %s |", b, num(f.CPUPerMillion), num(o.CPUPerMillion),
			100*f.CPUPerMillion/o.CPUPerMillion, num(max(0, o.CPUPerMillion-f.CPUPerMillion))))
	}
	if len(rows) == 0 {
		return
	}
	p("The floor against ingress-egress: the same chat reading and core publishing (envelope-sized bodies) with no " +
		"per-line work, so its CPU is what the I/O alone costs on this machine:\n\n")
	p("| bus | floor CPU s / M lines | ingress-egress CPU s / M lines | floor ÷ ours | ours − floor: the service's own work, s / M lines |\n| --- | ---: | ---: | ---: | ---: |\n")
	p("%s\n\n", strings.Join(rows, "\n"))
}

func saturationSection(w io.Writer, d *Data) {
	sats := d.saturations()
	if len(sats) == 0 {
		return
	}
	p := func(format string, args ...any) { fmt.Fprintf(w, format, args...) }
	ch := 0
	if len(sats[0].Steps) > 0 {
		ch = sats[0].Steps[0].Channels
	}
	p("## Saturation\n\nThe rate steps up (each step a fresh run over %d channels) until a step loses a line, the target "+
		"pushes back (the fake server wrote < 97 %% of the lines asked for), or envelopes lag (the last one arrives ≥ 1 s "+
		"after the last line). Max sustained = the highest step without any of these.\n\n", ch)
	p("| bus | target | max sustained lines/s | p99 there ms | CPU s / M lines there | steps (lines/s asked → taken, p99 ms) | what stopped it |\n| --- | --- | ---: | ---: | ---: | --- | --- |\n")
	for _, s := range sats {
		var steps []string
		for _, r := range s.Steps {
			mark := "✓"
			if !r.Sustained() {
				mark = "✗"
			}
			steps = append(steps, fmt.Sprintf("%s→%s %s (%s)", short(r.Rate), short(r.InPerSec), mark, ms(r.Check.Latency.P99)))
		}
		p99, cpu, stop := "–", "–", "every step held"
		if s.MaxResult != nil {
			p99, cpu = ms(s.MaxResult.Check.Latency.P99), num(s.MaxResult.CPUPerMillion)
		}
		if s.Bound != nil {
			stop = fmt.Sprintf("%s/s: %s", group(int64(s.Bound.Rate)), why(s.Bound))
		}
		p("| %s | %s | %s | %s | %s | %s | %s |\n", s.Bus, s.Target, group(int64(s.Max)), p99, cpu, strings.Join(steps, ", "), stop)
	}
	if c := d.ceiling(); c != nil {
		var all []string
		for _, r := range d.Results {
			if r.Scenario == "ceiling" && r.Err == "" {
				all = append(all, fmt.Sprintf("%s at %s", group(int64(r.AckedPerSec)), r.Start.UTC().Format("15:04")))
			}
		}
		p("\nJetStream ceiling on the same bus, same invocation: a bare `nats.go` `PublishMsgAsync` loop (4,096 pending, "+
			"`Nats-Msg-Id`, %d B messages, file storage): **%s msgs/s** (the last measurement, taken after the saturation "+
			"steps; all measurements: %s msgs/s — the spread is the shared disk's).\n", c.EnvelopeBytes,
			group(int64(c.AckedPerSec)), strings.Join(all, ", "))
	}
	p("\n")
}

func short(v float64) string {
	switch {
	case v >= 1000:
		return strconv.FormatFloat(math.Round(v/100)/10, 'f', -1, 64) + "k"
	}
	return strconv.FormatFloat(v, 'f', 0, 64)
}

func soakSection(w io.Writer, d *Data) {
	for _, b := range buses {
		if r := d.latest("soak", load.Ours, b); r != nil && len(r.RSS) > 0 {
			soakOne(w, r)
		}
	}
}

func soakOne(w io.Writer, r *load.Result) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format, args...) }
	lo, hi := slices.Min(r.RSS), slices.Max(r.RSS)
	first, last, _ := rssTrend(r.RSS)
	p("## Soak (%s): memory over time\n\nThe service's RSS sampled every second for %.0f s of 1,000 channels at 10k lines/s "+
		"(%s): min %s MiB, max %s MiB, peak (VmHWM) %s MiB; mean of the first tenth after warm-up %s MiB, of the "+
		"last tenth %s MiB. The chart's bottom panel plots every sample.\n\n", r.Bus, r.Seconds, r.Bus, mib(lo), mib(hi), mib(r.PeakRSS),
		mib(int64(first)), mib(int64(last)))
	p("Per minute (mean MiB): ")
	var mins []string
	for i := 0; i < len(r.RSS); i += 60 {
		seg := r.RSS[i:min(len(r.RSS), i+60)]
		var t float64
		for _, v := range seg {
			t += float64(v)
		}
		mins = append(mins, mib(int64(t/float64(len(seg)))))
	}
	p("%s.\n\n", strings.Join(mins, ", "))
}

func cpuSection(w io.Writer, d *Data) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format, args...) }
	p("## Where the CPU went\n\nThe machine has %d cores for everything. Per run, CPU seconds of the target, of the NATS "+
		"server process, and of the harness (fake Twitch server, consumer, loss checker), over the send window and drain; "+
		"\"share\" is the sum over the window's core-seconds. The last column is the whole machine's time by state over the "+
		"same window (other helpers' work included): idle near 0 means the run was bound by the machine, not by one "+
		"component; a high iowait means JetStream's file store was waiting for the disk.\n\n", d.Machine.NProc)
	p("| scenario | bus | target | rate | seconds | target CPU s | bus CPU s | harness CPU s | share of %d cores | machine user / sys / iowait / idle / steal %% |\n| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |\n", d.Machine.NProc)
	rs := slices.Clone(d.Results)
	slices.SortStableFunc(rs, func(a, b load.Result) int { return cmp.Compare(a.Start.UnixNano(), b.Start.UnixNano()) })
	for _, r := range rs {
		if r.Scenario == "ceiling" || r.Seconds == 0 {
			continue
		}
		span := r.Seconds + r.DrainSeconds
		share := (r.CPU + r.BusCPU + r.HarnessCPU) / (span * float64(max(1, d.Machine.NProc))) * 100
		mc := "–"
		if t := r.Machine.Total(); t > 0 {
			mc = fmt.Sprintf("%.0f / %.0f / %.0f / %.0f / %.0f", 100*r.Machine.User/t, 100*r.Machine.System/t,
				100*r.Machine.IOWait/t, 100*r.Machine.Idle/t, 100*r.Machine.Steal/t)
		}
		p("| %s | %s | %s | %s | %.1f | %.1f | %.1f | %.1f | %.0f %% | %s |\n", r.Scenario, r.Bus, r.Target, rate(r.Rate), span,
			r.CPU, r.BusCPU, r.HarnessCPU, share, mc)
	}
	p("\n")
}

// The scale scenarios (bench/cmd/load -scenarios hundredk), in report
// order.
var scaleScenarios = []string{"hundredk", "hundredk-ws", "rejoin"}

// latestScale returns the last run of a scale scenario (the service only,
// any bus), or nil.
func (d *Data) latestScale(scenario string) *load.Result {
	for i := len(d.Results) - 1; i >= 0; i-- {
		if r := &d.Results[i]; r.Scenario == scenario && r.Target == load.Ours {
			return r
		}
	}
	return nil
}

func limits(r *load.Result) string {
	jr, cr := "20 (default)", "5/s (default)"
	if r.JoinRate > 0 {
		jr = strconv.Itoa(r.JoinRate)
	}
	if r.ConnectRate > 0 {
		cr = strconv.Itoa(r.ConnectRate) + "/s"
	}
	sl := "none"
	if r.ServerJoinLimit > 0 {
		sl = strconv.Itoa(r.ServerJoinLimit)
	}
	return fmt.Sprintf("TWITCH_JOIN_RATE %s per 10 s per identity, TWITCH_CONNECT_RATE %s; the fake server allows %s JOINs per 10 s per login", jr, cr, sl)
}

func ackP99(r *load.Result) string {
	switch {
	case r.AckP99 < 0:
		return "> largest bucket"
	case r.AckP99 == 0:
		return "–"
	}
	return "≤ " + ms(time.Duration(r.AckP99*float64(time.Second)))
}

func scaleTargets(w io.Writer, d *Data) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format, args...) }
	if r := d.latestScale("hundredk"); r != nil {
		p("| %s channels: RSS ≤ 400 MiB steady | steady %s MiB (mean over the second half of the send window), peak %s MiB | %s |\n",
			group(int64(r.Channels)), mib(r.SteadyRSS), mib(r.PeakRSS), check(r.Err == "" && r.SteadyRSS > 0 && r.SteadyRSS <= 400<<20))
		p("| %s channels joined with the default limits (anonymous) in ≤ 10 min | %s connections, joined in %.0f s; after a restart in %.0f s (%.0f s from SIGTERM); most JOINs by one login in 10 s: %d, dropped for the JOIN limit: %d | %s |\n",
			group(int64(r.Channels)), group(int64(r.Connections)), r.JoinSeconds, r.RejoinSeconds, r.RestartSeconds, r.MaxWindowJoins, r.JoinKicks,
			check(r.JoinSeconds > 0 && r.JoinSeconds <= 600 && r.JoinRate == 0 && r.ConnectRate == 0 && r.JoinKicks == 0))
		p("| %s channels at %s lines/s for %s: 0 lost, 0 duplicated (%s) | %s lines at %s/s, delivered %s, lost %d, duplicated %d | %s |\n",
			group(int64(r.Channels)), group(int64(r.Rate)), (time.Duration(r.Seconds) * time.Second).String(), r.Bus, group(r.Sent),
			group(int64(r.InPerSec)), group(int64(r.Check.Delivered)), r.Check.Lost, r.Check.Duplicated,
			check(r.OK() && r.Seconds >= 290 && r.InPerSec >= 0.97*r.Rate))
	}
	if r := d.latestScale("hundredk-ws"); r != nil {
		p("| ≥ 10,000 channels over WebSocket, 0 lost, 0 duplicated | %s channels, %d connections, joined in %.0f s (after a restart %.0f s); %s lines at %s/s, lost %d, duplicated %d | %s |\n",
			group(int64(r.Channels)), r.Connections, r.JoinSeconds, r.RejoinSeconds, group(r.Sent), group(int64(r.InPerSec)),
			r.Check.Lost, r.Check.Duplicated, check(r.OK() && r.Channels >= 10000 && r.RejoinSeconds > 0))
	}
	if r := d.latestScale("rejoin"); r != nil {
		p("| %s channels joined in ≤ 60 s after a restart, default anonymous limits | %.1f s from the new process's start (%.1f s from SIGTERM); first join %.1f s | %s |\n",
			group(int64(r.Channels)), r.RejoinSeconds, r.RestartSeconds, r.JoinSeconds,
			check(r.Err == "" && r.RejoinSeconds > 0 && r.RejoinSeconds <= 60 && r.JoinRate == 0 && r.ConnectRate == 0))
	}
}

func scaleSection(w io.Writer, d *Data) {
	var rs []*load.Result
	for _, sc := range scaleScenarios {
		if r := d.latestScale(sc); r != nil {
			rs = append(rs, r)
		}
	}
	if len(rs) == 0 {
		return
	}
	p := func(format string, args ...any) { fmt.Fprintf(w, format, args...) }
	p("## Scale: 100,000 channels\n\n`bench/load.sh -scenarios hundredk` makes three runs of the service alone, with %s. "+
		"The channels are given through `POST /_admin/channels` (5,000 a request): 100,000 names do not fit in "+
		"`TWITCH_CHANNELS`, since Linux refuses an environment string over 128 KiB. Each run waits until the fake server has "+
		"every channel joined (join time: from the process's start), sends its rate spread round-robin over every channel, "+
		"reads every envelope back, then stops the service with SIGTERM, starts it again with the same settings and measures "+
		"the time until every channel is joined again. **hundredk**: plain TCP, 90 channels per connection; "+
		"**hundredk-ws**: the same over the fake server's WebSocket listener; **rejoin**: 1,000 channels at 10k lines/s, for "+
		"the restart. Latency p99 is the harness's (fake server queued the line → consumer read the envelope); "+
		"receive→ack p99 is the service's own histogram (`ingress_receive_to_ack_seconds`, the bucket bound) over the send "+
		"window. Steady RSS: mean VmRSS over the second half of the send window; peak: VmHWM over the process's life "+
		"(joining included). Queued / backlog: the most lines waiting in the fake server's queues for the service's "+
		"connections, and the most envelopes the consumer had received and not yet handled, sampled every second; lines "+
		"the service has not read yet otherwise wait in its sockets' kernel buffers. Load: the machine's 1-minute load "+
		"average when the run started (other work included).\n\n", limits(rs[0]))
	p("| run | transport | bus | channels | conns | join s | rejoin s (from SIGTERM) | in lines/s | acked env/s | sent | delivered | lost | dup | p50 ms | p99 ms | receive→ack p99 ms | CPU µs / line | steady RSS MiB | peak RSS MiB | JOINs per login per 10 s (max) | queued in the fake server / consumer backlog (max) | load | ok |\n")
	p("| --- | --- | --- | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | --- | ---: | --- |\n")
	for _, r := range rs {
		ok := "yes"
		if !r.OK() {
			ok = "**no**"
			if r.Err != "" {
				ok += ": " + strings.ReplaceAll(r.Err, "|", "/")
			}
		}
		l := r.Check.Latency
		p("| %s | %s | %s | %s | %d | %.0f | %.0f (%.0f) | %s | %s | %s | %s | %d | %d | %s | %s | %s | %s | %s | %s | %d | %s / %s | %.1f | %s |\n",
			r.Scenario, cmp.Or(r.Transport, "tcp"), r.Bus, group(int64(r.Channels)), r.Connections, r.JoinSeconds, r.RejoinSeconds,
			r.RestartSeconds, num(r.InPerSec), num(r.AckedPerSec), group(r.Sent), group(int64(r.Check.Delivered)), r.Check.Lost,
			r.Check.Duplicated, ms(l.P50), ms(l.P99), ackP99(r), num(r.CPUPerMillion), mib(r.SteadyRSS), mib(r.PeakRSS),
			r.MaxWindowJoins, group(int64(r.MaxServerQueued)), group(int64(r.MaxConsumerBacklog)), r.Load1, ok)
	}
	p("\n")
}
