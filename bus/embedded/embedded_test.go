package embedded_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ingress-egress/ingress-egress/bus"
	"github.com/ingress-egress/ingress-egress/bus/embedded"
	"github.com/ingress-egress/ingress-egress/bus/natsbus"
)

var quiet = slog.New(slog.DiscardHandler)

func streamMsgs(t *testing.T, url, stream string) uint64 {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := js.Stream(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}

func TestEmbeddedPublishAndPersist(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := embedded.Start(ctx, embedded.Options{DataDir: dir, Prefix: "dev.", Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown()
	if s.Port() <= 0 || !strings.HasPrefix(s.URL(), "nats://127.0.0.1:") {
		t.Fatalf("URL %q port %d, want loopback and a chosen port", s.URL(), s.Port())
	}
	if got := s.Stream().Subjects; len(got) != 2 || got[0] != "dev."+bus.Ingress || got[1] != "dev."+bus.Finalize {
		t.Errorf("stream subjects = %v", got)
	}
	d, err := s.Driver(ctx, natsbus.Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	p := bus.New(d, bus.Options{Logger: quiet})
	for i := range 100 {
		if err := p.Publish(ctx, bus.Message{Subject: "dev." + bus.Ingress, Data: fmt.Appendf(nil, `{"i":%d}`, i), MsgID: fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	url, port := s.URL(), s.Port()
	if n := streamMsgs(t, url, "INGRESS"); n != 100 {
		t.Errorf("stream holds %d, want 100", n)
	}
	if _, err := p.Close(ctx); err != nil {
		t.Fatal(err)
	}
	// Closing the publisher closed the driver and shut the server down.
	if c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second); err == nil {
		c.Close()
		t.Error("server still listening after the publisher closed")
	}
	// A new server on the same data dir has the messages.
	s2, err := embedded.Start(ctx, embedded.Options{DataDir: dir, Prefix: "dev.", Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Shutdown()
	if n := streamMsgs(t, s2.URL(), "INGRESS"); n != 100 {
		t.Errorf("after restart the stream holds %d, want 100", n)
	}
}

func TestEmbeddedFixedPort(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	s, err := embedded.Start(context.Background(), embedded.Options{DataDir: t.TempDir(), Port: port, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown()
	if s.Port() != port {
		t.Errorf("Port() = %d, want %d", s.Port(), port)
	}
	s.Shutdown()
	s.Shutdown() // idempotent
}

// TestEmbeddedDataDirLocked: a second server on a data directory in use
// fails at once, naming the directory, and the directory is free again
// once the first has shut down. (flock belongs to the open file, so two
// opens in one process exclude each other as two processes do.)
func TestEmbeddedDataDirLocked(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s1, err := embedded.Start(ctx, embedded.Options{DataDir: dir, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer s1.Shutdown()
	s2, err := embedded.Start(ctx, embedded.Options{DataDir: dir, Logger: quiet})
	if err == nil {
		s2.Shutdown()
		t.Fatal("a second server started on a data directory in use")
	}
	if !errors.Is(err, embedded.ErrDataDirInUse) || !strings.Contains(err.Error(), dir) ||
		!strings.Contains(err.Error(), fmt.Sprintf("pid %d", os.Getpid())) {
		t.Errorf("second Start = %v, want ErrDataDirInUse naming %s and pid %d", err, dir, os.Getpid())
	}
	// The first server is unharmed.
	if n := streamMsgs(t, s1.URL(), "INGRESS"); n != 0 {
		t.Errorf("stream holds %d, want 0", n)
	}
	s1.Shutdown()
	s3, err := embedded.Start(ctx, embedded.Options{DataDir: dir, Logger: quiet})
	if err != nil {
		t.Fatalf("Start after the first shut down = %v", err)
	}
	s3.Shutdown()
}

// TestEmbeddedDataDirUnusable: a data directory that cannot be written
// fails Start at once with the reason, not as a server that never becomes
// ready. (A file in the way stands for any unwritable directory, and works
// under root, which ignores permission bits.)
func TestEmbeddedDataDirUnusable(t *testing.T) {
	base := t.TempDir()
	file := filepath.Join(base, "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	storeBlocked := filepath.Join(base, "store-blocked")
	if err := os.MkdirAll(storeBlocked, 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(storeBlocked, "nats"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{filepath.Join(file, "data"), storeBlocked} {
		s, err := embedded.Start(context.Background(), embedded.Options{DataDir: dir, Logger: quiet})
		if err == nil {
			s.Shutdown()
			t.Errorf("Start(%s) succeeded", dir)
			continue
		}
		if !errors.Is(err, embedded.ErrDataDirUnusable) || !strings.Contains(err.Error(), dir) {
			t.Errorf("Start(%s) = %v, want ErrDataDirUnusable naming the directory", dir, err)
		}
	}
}
