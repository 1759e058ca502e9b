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
	"path/filepath"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/ingress-egress/ingress-egress/bus"
	"github.com/ingress-egress/ingress-egress/bus/natsbus"
)

// Options configure the embedded server. The zero value is usable.
type Options struct {
	// DataDir is where JetStream stores its files, under DataDir/nats
	// (DATA_DIR). Default "./data".
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
	// Logger receives the server's start and stop. Default slog.Default().
	Logger *slog.Logger
}

// Server is a running embedded nats-server.
type Server struct {
	ns     *server.Server
	opts   Options
	log    *slog.Logger
	stream natsbus.StreamOptions
}

// Start starts the server, waits until it accepts connections (or ctx ends)
// and creates the ingress stream: subjects Prefix+bus.Ingress and
// Prefix+bus.Finalize.
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
		opts.Logger = slog.Default()
	}
	port := opts.Port
	if port == 0 {
		port = server.RANDOM_PORT
	}
	dir, err := filepath.Abs(filepath.Join(opts.DataDir, "nats"))
	if err != nil {
		return nil, fmt.Errorf("embedded: data dir: %w", err)
	}
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
	s := &Server{ns: ns, opts: opts, log: opts.Logger.With("component", "embedded-nats")}
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

// Shutdown stops the server and waits for it (the store is flushed). It is
// safe to call more than once.
func (s *Server) Shutdown() {
	if !s.ns.Running() {
		return
	}
	s.ns.Shutdown()
	s.ns.WaitForShutdown()
	s.log.Info("embedded nats-server stopped")
}
