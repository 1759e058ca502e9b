package outbox

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/ingress-egress/ingress-egress/bus/bustest"
)

// syncBuffer is a bytes.Buffer safe for the logger and the test at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestStoreConnectionErrorsLogged: an asynchronous error of the connection
// to the store (here a slow consumer on a subscription of that connection)
// is a record of the service's log, with the subscription's subject, not
// text the NATS client prints to stderr by default.
func TestStoreConnectionErrorsLogged(t *testing.T) {
	var logs syncBuffer
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	o, err := Open(ctx, Options{Dir: t.TempDir(), Remote: bustest.New(), Prefix: "test.",
		Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	release := make(chan struct{})
	defer close(release)
	sub, err := o.nc.Subscribe("test.slow", func(*nats.Msg) { <-release })
	if err != nil {
		t.Fatal(err)
	}
	if err := sub.SetPendingLimits(1, 1<<20); err != nil {
		t.Fatal(err)
	}
	for range 10 {
		if err := o.nc.Publish("test.slow", []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	if err := o.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(logs.String(), `"msg":"outbox: store connection error"`) {
		if time.Now().After(deadline) {
			t.Fatalf("no log record of the slow consumer within 10 s; the log:\n%s", logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !strings.Contains(logs.String(), `"subject":"test.slow"`) {
		t.Errorf("the record does not name the subscription's subject:\n%s", logs.String())
	}
}
