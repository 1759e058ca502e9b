package load

import (
	"math"
	"os"
	"strings"
	"testing"
	"time"
)

func TestGCTrace(t *testing.T) {
	tests := []struct {
		name   string
		lines  []string
		cycles int
		alloc  float64
	}{
		{"none", []string{"{\"level\":\"info\"}", "gc nonsense"}, 0, 0},
		{"one", []string{"gc 1 @0.012s 1%: 0.010+0.5+0.003 ms clock, 0.02+0.1/0.2/0+0.007 ms cpu, 4->4->1 MB, 4 MB goal, 0 MB stacks, 0 MB globals, 2 P"}, 1, 4},
		{"two", []string{
			"gc 1 @0.012s 1%: 0.010+0.5+0.003 ms clock, 0.02+0.1/0.2/0+0.007 ms cpu, 4->4->1 MB, 4 MB goal, 0 MB stacks, 0 MB globals, 2 P",
			"gc 2 @0.050s 1%: 0.010+0.5+0.003 ms clock, 0.02+0.1/0.2/0+0.007 ms cpu, 5->6->2 MB, 6 MB goal, 0 MB stacks, 0 MB globals, 2 P",
		}, 2, 8},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var g gcTrace
			for _, l := range tt.lines {
				g.line(l)
			}
			if g.cycles != tt.cycles || g.allocMB != tt.alloc || (tt.cycles == 2 && g.maxHeap != 5) {
				t.Errorf("cycles %d, alloc %g MB; want %d, %g", g.cycles, g.allocMB, tt.cycles, tt.alloc)
			}
		})
	}
}

func TestProc(t *testing.T) {
	cpu, err := ProcCPU(os.Getpid())
	if err != nil || cpu < 0 {
		t.Fatalf("ProcCPU(self) = %v, %v", cpu, err)
	}
	rss, hwm, err := ProcMem(0)
	if err != nil || rss <= 0 || hwm < rss {
		t.Fatalf("ProcMem(self) = %d, %d, %v; want 0 < rss ≤ hwm", rss, hwm, err)
	}
	m, err := ReadMachineCPU()
	if err != nil || m.Total() <= 0 {
		t.Fatalf("ReadMachineCPU() = %+v, %v", m, err)
	}
	if _, err := ProcCPU(1 << 30); err == nil {
		t.Error("ProcCPU(no such pid) succeeded")
	}
}

func TestTemplates(t *testing.T) {
	chans := []string{"ch0", "ch1", "ch2"}
	ts, err := makeTemplates(1, chans, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(ts) != 6 {
		t.Fatalf("%d templates, want 6", len(ts))
	}
	s := &sender{templates: ts, prefix: 0xabcdef01}
	now := time.Unix(1_900_000_000, 987654321)
	seen := map[string]bool{}
	for n := range uint64(12) {
		line, tp := s.line(n, now)
		id := string(line[tp.idAt : tp.idAt+36])
		if seen[id] {
			t.Errorf("line %d: id %s repeated", n, id)
		}
		seen[id] = true
		if !strings.HasPrefix(id, "abcdef01-0000-4000-8000-") {
			t.Errorf("line %d: id %s lacks the run prefix", n, id)
		}
		for _, want := range []string{";id=" + id + ";", ";tmi-sent-ts=1900000000987;", ";+ie/sent-ns=1900000000987654321", "PRIVMSG #" + tp.channel + " :"} {
			if !strings.Contains(string(line), want) {
				t.Errorf("line %d = %q, want it to contain %q", n, line, want)
			}
		}
	}
}

func TestParseMetrics(t *testing.T) {
	m := parseMetrics([]byte("# HELP x y\n# TYPE x counter\nx 3\ningress_lines_received_by_command_total{command=\"PRIVMSG\"} 1.5e+06\nbad\n"))
	if m["x"] != 3 || m[`ingress_lines_received_by_command_total{command="PRIVMSG"}`] != 1.5e6 || len(m) != 2 {
		t.Errorf("parseMetrics = %v", m)
	}
}

func TestHistQuantile(t *testing.T) {
	bounds := []float64{0.001, 0.01, 0.1, math.Inf(1)}
	tests := []struct {
		name          string
		before, after []float64
		q, want       float64
	}{
		{"nothing", []float64{1, 2, 3, 3}, []float64{1, 2, 3, 3}, 0.99, 0},
		{"first bucket", nil, []float64{100, 100, 100, 100}, 0.99, 0.001},
		{"delta only", []float64{1000, 1000, 1000, 1000}, []float64{1000, 1090, 1100, 1100}, 0.99, 0.1},
		{"p50", nil, []float64{10, 60, 100, 100}, 0.5, 0.01},
		{"above", nil, []float64{0, 0, 0, 5}, 0.99, -1},
	}
	for _, tt := range tests {
		if got := histQuantile(bounds, tt.before, tt.after, tt.q); got != tt.want {
			t.Errorf("%s: histQuantile = %g, want %g", tt.name, got, tt.want)
		}
	}
}

func TestTargetBus(t *testing.T) {
	for _, tt := range []struct {
		target, bus string
		ok          bool
	}{
		{Ours, "core", true}, {Ours, "jetstream", true}, {Ours, "outbox", true}, {Ours, "embedded", true},
		{GoPeer, "core", true}, {GoPeer, "jetstream", true}, {GoPeer, "outbox", false}, {Twurple, "embedded", false},
		{Floor, "core", true}, {Floor, "jetstream", true}, {Floor, "outbox", false}, {Floor, "embedded", false},
	} {
		if err := TargetBus(tt.target, tt.bus); (err == nil) != tt.ok {
			t.Errorf("TargetBus(%s, %s) = %v; want ok %v", tt.target, tt.bus, err, tt.ok)
		}
	}
}
