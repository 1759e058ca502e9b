// Package embedded runs a nats-server with JetStream inside the process, on
// loopback only, storing under a data directory, with the ingress stream
// created: the service's default bus, so that one command runs everything on
// a fresh machine and any NATS client (`nats sub '>'`) can watch the
// envelopes.
package embedded

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/ingress-egress/ingress-egress/bus"
	"github.com/ingress-egress/ingress-egress/bus/natsbus"
)

// Options configure the embedded server. The zero value is usable.
type Options struct {
	// DataDir is where JetStream stores its files, under DataDir/nats
	// (DATA_DIR). Default "./data". It is created if missing, and locked
	// (DataDir/LOCK, flock) while the Server runs.
	DataDir string
	// Port is the client port on 127.0.0.1; 0 picks a free one (see
	// Server.Port). Default 0.
	Port int
	// Prefix is the subjects' prefix (BUS_PREFIX). Default "".
	Prefix string
	// Stream is the stream's name (NATS_STREAM). Default "INGRESS".
	Stream string
	// Duplicates is the stream's deduplication window. Default 2 min.
	Duplicates time.Duration
	// MaxBytes bounds the stream on disk; the oldest messages go first.
	// Default 1 GiB; -1 means unlimited.
	MaxBytes int64
	// Logger receives the server's start and stop.
	// Nil discards, as in every package of the service: main passes its
	// logger.
	Logger *slog.Logger
}

// Server is a running embedded nats-server.
type Server struct {
	ns     *server.Server
	opts   Options
	log    *slog.Logger
	stream natsbus.StreamOptions

	mu   sync.Mutex
	lock *os.File // holds the data directory's lock; nil once released
}

// Start locks the data directory, starts the server, waits until it accepts
// connections (or ctx ends) and creates the ingress stream: subjects
// Prefix+bus.Ingress and Prefix+bus.Finalize. It fails at once with
// ErrDataDirInUse when another process holds DataDir (one directory, one
// process), and with ErrDataDirUnusable when DataDir cannot be written.
func Start(ctx context.Context, opts Options) (*Server, error) {
	if opts.DataDir == "" {
		opts.DataDir = "./data"
	}
	if opts.Stream == "" {
		opts.Stream = "INGRESS"
	}
	if opts.Duplicates <= 0 {
		opts.Duplicates = 2 * time.Minute
	}
	if opts.MaxBytes == 0 {
		opts.MaxBytes = 1 << 30
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	port := opts.Port
	if port == 0 {
		port = server.RANDOM_PORT
	}
	dataDir, err := filepath.Abs(opts.DataDir)
	if err != nil {
		return nil, fmt.Errorf("embedded: data dir: %w", err)
	}
	dir := filepath.Join(dataDir, "nats")
	// The directory is locked before the server starts, and checked for
	// writing: a second process on it, or a store that cannot be written,
	// fails here at once with the reason.
	lock, err := lockDataDir(dataDir, dir)
	if err != nil {
		return nil, err
	}
	started := false
	defer func() {
		if !started {
			lock.Close()
		}
	}()
	ns, err := server.NewServer(&server.Options{
		ServerName: "ingress-egress-embedded",
		Host:       "127.0.0.1",
		Port:       port,
		JetStream:  true,
		StoreDir:   dir,
		NoLog:      true,
		NoSigs:     true,
		HTTPPort:   0, // no monitoring port
	})
	if err != nil {
		return nil, fmt.Errorf("embedded: nats-server: %w", err)
	}
	go ns.Start()
	deadline := 10 * time.Second
	if d, ok := ctx.Deadline(); ok {
		deadline = time.Until(d)
	}
	if !ns.ReadyForConnections(deadline) {
		ns.Shutdown()
		return nil, fmt.Errorf("embedded: nats-server not ready within %v", deadline)
	}
	s := &Server{ns: ns, opts: opts, log: opts.Logger.With("component", "embedded-nats"), lock: lock}
	started = true
	s.stream = natsbus.StreamOptions{
		Name:       opts.Stream,
		Subjects:   []string{opts.Prefix + bus.Ingress, opts.Prefix + bus.Finalize},
		Duplicates: opts.Duplicates,
		MaxBytes:   opts.MaxBytes,
	}
	// Create the stream once, with a short-lived driver, before Start
	// returns.
	d, err := natsbus.New(ctx, natsbus.Options{URL: s.URL(), Logger: opts.Logger})
	if err != nil {
		s.Shutdown()
		return nil, err
	}
	err = d.EnsureStream(ctx, s.stream)
	d.Close()
	if err != nil {
		s.Shutdown()
		return nil, err
	}
	s.log.Info("embedded nats-server listening", "url", s.URL(), "port", s.Port(),
		"store", dir, "stream", opts.Stream, "subjects", s.stream.Subjects)
	return s, nil
}

// URL is the client URL, nats://127.0.0.1:PORT.
func (s *Server) URL() string { return s.ns.ClientURL() }

// Port is the client port the server listens on.
func (s *Server) Port() int { return s.ns.Addr().(*net.TCPAddr).Port }

// Stream describes the stream Start created.
func (s *Server) Stream() natsbus.StreamOptions { return s.stream }

// Driver connects a JetStream natsbus driver to the server. o's URL and
// Stream are filled in; its other fields are kept. Closing the driver (as
// bus.Publisher.Close does) also shuts the server down, after the
// connection has flushed.
func (s *Server) Driver(ctx context.Context, o natsbus.Options) (bus.Driver, error) {
	o.URL = s.URL()
	o.Mode = natsbus.JetStream
	o.Stream = nil
	d, err := natsbus.New(ctx, o)
	if err != nil {
		return nil, err
	}
	return &driver{Driver: d, s: s}, nil
}

type driver struct {
	*natsbus.Driver
	s *Server
}

func (d *driver) Close() error {
	err := d.Driver.Close()
	d.s.Shutdown()
	return err
}

// Shutdown stops the server, waits for it (the store is flushed) and then
// releases the data directory's lock. It is safe to call more than once,
// and concurrently.
func (s *Server) Shutdown() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ns.Running() {
		s.ns.Shutdown()
		s.ns.WaitForShutdown()
		s.log.Info("embedded nats-server stopped")
	}
	if s.lock != nil {
		s.lock.Close()
		s.lock = nil
	}
}
