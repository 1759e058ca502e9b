//go:build unix

package bus_test

import (
	"bytes"
	"context"
	"syscall"
	"testing"
	"time"

	"github.com/ingress-egress/ingress-egress/bus"
	"github.com/ingress-egress/ingress-egress/bus/bustest"
)

// cpuTime is the process's user and system CPU time so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkPublishPaced publishes at a moderate rate, 10,000 messages/s in
// bursts of 10 every millisecond (the lines of one socket read, as chat
// arrives), into a driver that acknowledges at once, and reports the
// process's CPU time per message (cpu-ns/msg): what waking the
// publisher's goroutines costs per message, which a benchmark at full
// speed, always busy, does not show. Run it with -benchtime 20000x (2 s).
func BenchmarkPublishPaced(b *testing.B) {
	d := bustest.New()
	d.SetRecord(false)
	p := bus.New(d, bus.Options{})
	defer p.Close(context.Background())
	m := msg(1, bytes.Repeat([]byte("x"), 1100))
	ctx := context.Background()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	b.ReportAllocs()
	b.ResetTimer()
	start := cpuTime(b)
	for i := 0; i < b.N; {
		<-tick.C
		for k := 0; k < 10 && i < b.N; k++ {
			if err := p.Publish(ctx, m); err != nil {
				b.Fatal(err)
			}
			i++
		}
	}
	if err := p.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(cpuTime(b)-start)/float64(b.N), "cpu-ns/msg")
}
