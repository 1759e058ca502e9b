package consumer

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ingress-egress/ingress-egress/bench/loss"
)

func TestMessageID(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		validate bool
		want     string
		ok       bool
	}{
		{"envelope", `{"v":"1","id":"x","payload":{"text":"hi","messageId":"abc-1","raw":{"tags":{"id":"abc-1"}}}}`, false, "abc-1", true},
		{"validated", `{"v":"1","payload":{"text":"hi","messageId":"abc-1"}}`, true, "abc-1", true},
		{"escape falls back to json", `{"payload":{"messageId":"a\"b"}}`, false, `a"b`, true},
		{"key inside text is escaped", `{"payload":{"text":"\"messageId\":\"fake\"","messageId":"real"}}`, false, "real", true},
		{"missing", `{"payload":{"text":"hi"}}`, false, "", false},
		{"empty id", `{"payload":{"messageId":""}}`, false, "", false},
		{"not json", `not json`, false, "", false},
		{"invalid json with validate", `{"payload":{"messageId":"abc"}`, true, "", false},
		{"truncated after key", `{"payload":{"messageId":"abc`, false, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := MessageID([]byte(tt.in), tt.validate)
			if got != tt.want || ok != tt.ok {
				t.Errorf("MessageID(%q, %v) = %q, %v; want %q, %v", tt.in, tt.validate, got, ok, tt.want, tt.ok)
			}
		})
	}
}

// startNATS runs an in-process nats-server with JetStream on 127.0.0.1 and
// returns a connection to it; both are stopped when the test ends.
func startNATS(t *testing.T) *nats.Conn {
	t.Helper()
	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatalf("nats server: %v", err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats server not ready")
	}
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	nc, err := nats.Connect(s.ClientURL())
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(nc.Close)
	return nc
}

func envelope(id string) []byte {
	return fmt.Appendf(nil, `{"v":"1","payload":{"text":"hi","messageId":%q}}`, id)
}

func TestCore(t *testing.T) {
	nc := startNATS(t)
	pub := startNATSConn(t, nc)
	tests := []struct {
		name    string
		opts    Options
		publish int
		stopped string
		count   int
		wantErr error
	}{
		{"count", Options{Subject: "a.count", Count: 50}, 50, StoppedCount, 50, nil},
		{"idle", Options{Subject: "a.idle", Idle: 50 * time.Millisecond}, 20, StoppedIdle, 20, nil},
		{"timeout before count", Options{Subject: "a.timeout", Count: 30, Timeout: 300 * time.Millisecond, Idle: time.Minute}, 10, StoppedTimeout, 10, ErrIncomplete},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Start(t.Context(), nc, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			for i := range tt.publish {
				if err := pub.Publish(tt.opts.Subject, envelope(fmt.Sprint("id", i))); err != nil {
					t.Fatal(err)
				}
			}
			if err := pub.Flush(); err != nil {
				t.Fatal(err)
			}
			res, err := c.Wait()
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("Wait() error = %v, want %v", err, tt.wantErr)
			}
			if res.Stopped != tt.stopped || res.Count != tt.count || len(res.Received) != tt.count || res.Invalid != 0 {
				t.Errorf("Wait() = stopped %q count %d received %d invalid %d; want %q, %d, %d, 0",
					res.Stopped, res.Count, len(res.Received), res.Invalid, tt.stopped, tt.count, tt.count)
			}
			for i, r := range res.Received {
				if want := fmt.Sprint("id", i); r.MessageID != want || r.At.IsZero() {
					t.Fatalf("Received[%d] = %+v, want id %q with a time", i, r, want)
				}
			}
		})
	}
}

func startNATSConn(t *testing.T, nc *nats.Conn) *nats.Conn {
	t.Helper()
	pub, err := nats.Connect(nc.ConnectedUrl())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pub.Close)
	return pub
}

func TestJetStreamFromStart(t *testing.T) {
	nc := startNATS(t)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "INGRESS", Subjects: []string{"internal.>"}}); err != nil {
		t.Fatal(err)
	}
	// Published before the read starts: an ordered consumer still sees it,
	// and the other subject of the stream is filtered out.
	const n = 200
	for i := range n {
		if _, err := js.Publish(ctx, DefaultSubject, envelope(fmt.Sprint("m", i))); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := js.Publish(ctx, "internal.other", envelope("other")); err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx, DefaultSubject, []byte(`{"payload":{}}`)); err != nil {
		t.Fatal(err)
	}
	chk := loss.NewChecker(loss.Options{})
	for i := range n {
		chk.Sent(loss.Sent{ID: fmt.Sprint("m", i), Channel: "c", At: time.Now(), Connected: true})
	}
	var mu sync.Mutex
	calls := 0
	c, err := Start(ctx, nc, Options{Stream: "INGRESS", Count: n + 1, OnEnvelope: func(r loss.Received) {
		mu.Lock()
		calls++
		mu.Unlock()
		chk.Received(r)
	}})
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.Wait()
	if err != nil {
		t.Fatalf("Wait() error = %v", err)
	}
	if res.Count != n+1 || res.Invalid != 1 || res.Received != nil || calls != n+1 {
		t.Errorf("Wait() = %+v (%d calls), want count %d, 1 invalid, no records kept, %d calls", res, calls, n+1, n+1)
	}
	got := chk.Result()
	if got.Delivered != n || got.Unexpected != 1 {
		t.Errorf("loss result = %+v, want %d delivered and 1 unexpected", got, n)
	}
}

func TestStopAndContext(t *testing.T) {
	nc := startNATS(t)
	c, err := Start(t.Context(), nc, Options{Subject: "s.stop"})
	if err != nil {
		t.Fatal(err)
	}
	c.Stop()
	c.Stop() // idempotent
	if res, err := c.Wait(); err != nil || res.Stopped != StoppedStop {
		t.Errorf("after Stop: Wait() = %+v, %v; want stopped %q", res, err, StoppedStop)
	}
	ctx, cancel := context.WithCancel(t.Context())
	c, err = Start(ctx, nc, Options{Subject: "s.ctx"})
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	if res, err := c.Wait(); err != nil || res.Stopped != StoppedContext {
		t.Errorf("after cancel: Wait() = %+v, %v; want stopped %q", res, err, StoppedContext)
	}
	if _, err := Start(t.Context(), nc, Options{Stream: "NOPE"}); err == nil {
		t.Error("Start on a missing stream: no error")
	}
}
