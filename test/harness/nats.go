package harness

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// StartNATS starts an in-process nats-server with JetStream on 127.0.0.1,
// optionally requiring token, stopped by the test's cleanup.
func StartNATS(t testing.TB, token string) *server.Server {
	t.Helper()
	return RunNATS(t, &server.Options{
		Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(),
		NoLog: true, NoSigs: true, Authorization: token,
	})
}

// RunNATS starts an in-process nats-server with opts and waits until it
// takes connections; the test's cleanup stops it. A restart on the same
// store is Shutdown, then RunNATS with the same Port and StoreDir.
func RunNATS(t testing.TB, opts *server.Options) *server.Server {
	t.Helper()
	s, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server not ready")
	}
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	return s
}

// OpenStoredStream starts an in-process nats-server on the embedded bus's
// store (DATA_DIR/nats), once the service has exited, to read what it
// stored.
func OpenStoredStream(t testing.TB, dataDir string) *server.Server {
	t.Helper()
	return RunNATS(t, &server.Options{
		ServerName: "ingress-egress-embedded", // the store is per server name
		Host:       "127.0.0.1", Port: -1, JetStream: true, StoreDir: filepath.Join(dataDir, "nats"),
		NoLog: true, NoSigs: true,
	})
}

// CreateIngressStream creates the stream the service publishes to, as the
// platform would: INGRESS on the ingress and finalize subjects, with a
// two-minute duplicate window.
func CreateIngressStream(t testing.TB, url, token string) {
	t.Helper()
	CreateIngressStreamWindow(t, url, token, 2*time.Minute)
}

// CreateIngressStreamWindow is CreateIngressStream with a duplicate window
// of its own: the stream drops a message whose Nats-Msg-Id it stored
// within window (an outage longer than the default 2 min needs a longer
// one for a re-send after a lost acknowledgement to be dropped).
func CreateIngressStreamWindow(t testing.TB, url, token string, window time.Duration) {
	t.Helper()
	opts := []nats.Option{}
	if token != "" {
		opts = append(opts, nats.Token(token))
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{
		Name: "INGRESS", Subjects: []string{"internal.ingress.v1", "internal.finalize.v1"}, Duplicates: window,
	}); err != nil {
		t.Fatal(err)
	}
}

// StoredMsg is one message read back from the stream.
type StoredMsg struct {
	Subject string
	MsgID   string // Nats-Msg-Id header
	Data    []byte
}

// ReadStream reads every message of stream whose subject is subject, until
// the consumer has nothing pending, within d (and at most 100,000 fetches).
func ReadStream(t testing.TB, url, token, stream, subject string, d time.Duration) []StoredMsg {
	t.Helper()
	opts := []nats.Option{nats.Name("e2e-reader")}
	if token != "" {
		opts = append(opts, nats.Token(token))
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		t.Fatalf("nats connect %s: %v", url, err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	cons, err := js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{FilterSubjects: []string{subject}})
	if err != nil {
		t.Fatalf("ordered consumer on %s: %v", stream, err)
	}
	var out []StoredMsg
	for i := 0; ctx.Err() == nil && i < 100000; i++ {
		batch, err := cons.Fetch(1000, jetstream.FetchMaxWait(500*time.Millisecond))
		if err != nil {
			t.Fatalf("fetch: %v", err)
		}
		n := 0
		for m := range batch.Messages() {
			n++
			out = append(out, StoredMsg{Subject: m.Subject(), MsgID: m.Headers().Get(jetstream.MsgIDHeader), Data: m.Data()})
		}
		if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) {
			t.Fatalf("fetch: %v", err)
		}
		if n > 0 {
			continue
		}
		info, err := cons.Info(ctx)
		if err != nil {
			t.Fatalf("consumer info: %v", err)
		}
		if info.NumPending == 0 {
			return out
		}
	}
	t.Fatalf("reading %s: not done within %v (%d messages read)", stream, d, len(out))
	return nil
}
