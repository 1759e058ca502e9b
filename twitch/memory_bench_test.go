package twitch

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ingress-egress/ingress-egress/internal/testenv"
)

// BenchmarkConnectionMemory reports what the manager holds per idle
// connection and per joined channel, heap and RSS, with the fake server in
// its own process so that its memory is not counted:
//
//	go test -run '^$' -bench ConnectionMemory -benchtime 1x ./twitch/
//
// Each op opens the connections and tears them down; the figures are
// taken while they are idle and joined.
func BenchmarkConnectionMemory(b *testing.B) {
	sim := buildTwitchsim(b)
	tcpPort, wsPort := testenv.FreePort(b), testenv.FreePort(b)
	p := testenv.Start(b, b.TempDir(), sim, "-tcp", fmt.Sprintf("127.0.0.1:%d", tcpPort),
		"-ws", fmt.Sprintf("127.0.0.1:%d", wsPort), "-join-limit", "-1", "-ping", "0")
	waitListening(b, p, 2)
	for _, tc := range []struct {
		name     string
		url      string
		channels int
		perConn  int
	}{
		{"tcp/idle-conns", fmt.Sprintf("tcp://127.0.0.1:%d", tcpPort), 200, 1},
		{"ws/idle-conns", fmt.Sprintf("ws://127.0.0.1:%d", wsPort), 200, 1},
		{"tcp/channels", fmt.Sprintf("tcp://127.0.0.1:%d", tcpPort), 1800, 90},
		{"ws/channels", fmt.Sprintf("ws://127.0.0.1:%d", wsPort), 1800, 90},
	} {
		b.Run(tc.name, func(b *testing.B) {
			for b.Loop() {
				heap, stack, rss := idleFootprint(b, tc.url, tc.channels, tc.perConn)
				conns := float64((tc.channels + tc.perConn - 1) / tc.perConn)
				b.ReportMetric(heap/conns, "heap-B/conn")
				b.ReportMetric(stack/conns, "stack-B/conn")
				b.ReportMetric(rss/conns, "rss-B/conn")
				b.ReportMetric((heap+stack)/float64(tc.channels), "B/channel")
			}
		})
	}
}

// idleFootprint opens the connections of channels channels, perConn per
// connection, waits until all are joined, and returns the growth of the
// heap in use, the goroutine stacks and the RSS.
func idleFootprint(b *testing.B, url string, channels, perConn int) (heap, stack, rss float64) {
	h0, s0, r0 := footprint()
	m, err := New(Options{URL: url, Channels: channelNames(channels), Handler: newRecorder(),
		ChannelsPerConn: perConn, ConnectRate: 1000, JoinRate: 100000, PingInterval: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- m.Run(context.Background()) }()
	deadline := time.Now().Add(2 * time.Minute)
	for !m.Ready() {
		if time.Now().After(deadline) {
			b.Fatalf("not joined within 2 min:\n%s", statusString(m.Status()))
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond) // let the last ROOMSTATEs be read
	h1, s1, r1 := footprint()
	if f := os.Getenv("CONN_MEMPROFILE"); f != "" {
		w, _ := os.Create(f)
		pprof.WriteHeapProfile(w)
		w.Close()
	}
	m.Close()
	<-done
	return h1 - h0, s1 - s0, r1 - r0
}

// footprint returns the heap in use, the stacks in use and the RSS, after
// a collection.
func footprint() (heap, stack, rss float64) {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	if b, err := os.ReadFile("/proc/self/statm"); err == nil {
		if f := strings.Fields(string(b)); len(f) > 1 {
			pages, _ := strconv.ParseFloat(f[1], 64)
			rss = pages * float64(os.Getpagesize())
		}
	}
	return float64(ms.HeapInuse), float64(ms.StackInuse), rss
}

func buildTwitchsim(b *testing.B) string {
	out := filepath.Join(b.TempDir(), "twitchsim")
	cmd := exec.Command("go", "build", "-o", out, "./twitchtest/cmd/twitchsim")
	if msg, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("build twitchsim: %v\n%s", err, msg)
	}
	return out
}

// waitListening waits until the simulator printed n "listening:" lines.
func waitListening(b *testing.B, p *testenv.Process, n int) {
	deadline := time.Now().Add(30 * time.Second)
	for strings.Count(p.Log(), "listening:") < n {
		if time.Now().After(deadline) {
			b.Fatalf("twitchsim did not listen:\n%s", p.Log())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
