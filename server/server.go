// Package server serves the service's HTTP endpoints: liveness, readiness,
// the debug snapshot, Prometheus metrics and the channel admin API. It
// depends on net/http only and defines the small interfaces it consumes.
package server

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"sort"
	"strings"
	"sync/atomic"
	"time"
)

// Readiness is one thing that must be ready before /readyz answers 200,
// in the style of CoreDNS's ready plugin.
type Readiness interface {
	Ready() bool
}

// ReadyFunc adapts a function to Readiness.
type ReadyFunc func() bool

// Ready calls f.
func (f ReadyFunc) Ready() bool { return f() }

// ChannelAdmin joins and parts channels at runtime.
type ChannelAdmin interface {
	AddChannels(ctx context.Context, logins ...string) error
	RemoveChannels(ctx context.Context, logins ...string) error
}

// Options configure a Server. The zero value serves liveness and an
// always-ready /readyz on ":8080".
type Options struct {
	// Addr to listen on, default ":8080".
	Addr string
	// Ready lists, by name, what must be ready for /readyz.
	Ready map[string]Readiness
	// Live reports an error when a loop of the process is stuck; nil means
	// alive. It must not depend on Twitch or the bus being reachable.
	Live func() error
	// Debug returns the /_debug/twitch snapshot, marshalled as JSON. It must
	// hold no secret and no chat text.
	Debug func() any
	// Metrics writes the Prometheus text exposition.
	Metrics func(w io.Writer)
	// Channels serves POST /_admin/channels and DELETE
	// /_admin/channels/{login}; nil leaves them out.
	Channels ChannelAdmin
	// AdminToken, when set, is required as "Authorization: Bearer <token>"
	// on /_debug and /_admin. When empty those paths answer only requests
	// from a loopback address.
	AdminToken string
	// Logger for server errors; nil discards.
	Logger *slog.Logger
}

// Server is the HTTP server. Create it with New.
type Server struct {
	opts     Options
	srv      *http.Server
	draining atomic.Bool
}

// New returns a Server for opts.
func New(opts Options) *Server {
	if opts.Addr == "" {
		opts.Addr = ":8080"
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{opts: opts}
	s.srv = &http.Server{
		Addr:              opts.Addr,
		Handler:           s.Handler(),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      15 * time.Second,
		IdleTimeout:       60 * time.Second,
		ErrorLog:          slog.NewLogLogger(opts.Logger.Handler(), slog.LevelWarn),
	}
	return s
}

// SetDraining makes /readyz answer 503 from now on (shutdown has begun).
func (s *Server) SetDraining() { s.draining.Store(true) }

// Listen binds the address and returns the listener, so that the caller
// knows the port before serving.
func (s *Server) Listen() (net.Listener, error) {
	return net.Listen("tcp", s.opts.Addr)
}

// Serve serves on l until Shutdown. It returns nil after Shutdown.
func (s *Server) Serve(l net.Listener) error {
	if err := s.srv.Serve(l); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// Shutdown stops the server gracefully within ctx.
func (s *Server) Shutdown(ctx context.Context) error { return s.srv.Shutdown(ctx) }

// Handler returns the routes.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", s.live)
	mux.HandleFunc("GET /livez", s.live)
	mux.HandleFunc("GET /readyz", s.ready)
	mux.HandleFunc("GET /metrics", s.metrics)
	mux.Handle("GET /_debug/twitch", s.admin(http.HandlerFunc(s.debug)))
	// Profiles, behind the same guard as the rest of /_debug:
	// go tool pprof http://HOST/_debug/pprof/profile?seconds=30
	mux.Handle("GET /_debug/pprof/", s.admin(http.StripPrefix("/_debug", http.HandlerFunc(pprofIndex))))
	// pprof's cmdline echoes os.Args, and the command line can carry
	// secrets (--client-secret, --oauth-token, --nats-token,
	// --admin-token): it is not served. The index still links it.
	mux.Handle("GET /_debug/pprof/cmdline", s.admin(http.HandlerFunc(noCmdline)))
	mux.Handle("GET /_debug/pprof/profile", s.admin(http.HandlerFunc(pprof.Profile)))
	mux.Handle("GET /_debug/pprof/symbol", s.admin(http.HandlerFunc(pprof.Symbol)))
	mux.Handle("GET /_debug/pprof/trace", s.admin(http.HandlerFunc(pprof.Trace)))
	if s.opts.Channels != nil {
		mux.Handle("POST /_admin/channels", s.admin(http.HandlerFunc(s.addChannels)))
		mux.Handle("DELETE /_admin/channels/{login}", s.admin(http.HandlerFunc(s.removeChannel)))
	}
	return mux
}

func (s *Server) live(w http.ResponseWriter, r *http.Request) {
	if s.opts.Live != nil {
		if err := s.opts.Live(); err != nil {
			http.Error(w, "not alive: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
	}
	io.WriteString(w, "OK\n")
}

func (s *Server) ready(w http.ResponseWriter, r *http.Request) {
	var notReady []string
	if s.draining.Load() {
		notReady = append(notReady, "shutdown")
	}
	for name, c := range s.opts.Ready {
		if !c.Ready() {
			notReady = append(notReady, name)
		}
	}
	w.Header().Set("Content-Type", "application/json")
	if len(notReady) > 0 {
		sort.Strings(notReady)
		w.WriteHeader(http.StatusServiceUnavailable)
		json.NewEncoder(w).Encode(map[string]any{"ready": false, "notReady": notReady})
		return
	}
	io.WriteString(w, `{"ready":true}`+"\n")
}

func (s *Server) metrics(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	if s.opts.Metrics != nil {
		s.opts.Metrics(w)
	}
}

func (s *Server) debug(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	var v any = struct{}{}
	if s.opts.Debug != nil {
		v = s.opts.Debug()
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

type channelsRequest struct {
	Channels []string `json:"channels"`
}

func (s *Server) addChannels(w http.ResponseWriter, r *http.Request) {
	var req channelsRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&req); err != nil || len(req.Channels) == 0 {
		http.Error(w, `body must be {"channels":["login",...]}`, http.StatusBadRequest)
		return
	}
	if err := s.opts.Channels.AddChannels(r.Context(), req.Channels...); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	w.WriteHeader(http.StatusAccepted)
	json.NewEncoder(w).Encode(map[string]any{"joining": req.Channels})
}

func (s *Server) removeChannel(w http.ResponseWriter, r *http.Request) {
	login := r.PathValue("login")
	if err := s.opts.Channels.RemoveChannels(r.Context(), login); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	w.WriteHeader(http.StatusAccepted)
	json.NewEncoder(w).Encode(map[string]any{"parting": []string{login}})
}

// admin guards /_debug and /_admin: a bearer token when one is configured,
// otherwise loopback clients only.
func (s *Server) admin(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if tok := s.opts.AdminToken; tok != "" {
			got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(tok)) != 1 {
				w.Header().Set("WWW-Authenticate", `Bearer realm="ingress-egress"`)
				http.Error(w, "unauthorized", http.StatusUnauthorized)
				return
			}
		} else if !isLoopback(r.RemoteAddr) {
			http.Error(w, "forbidden: set ADMIN_TOKEN to allow non-loopback access", http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func isLoopback(remote string) bool {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// noCmdline answers pprof's cmdline path: the command line is withheld.
func noCmdline(w http.ResponseWriter, r *http.Request) {
	http.Error(w, "not served: the command line can hold secrets", http.StatusNotFound)
}

// pprofIndex serves the pprof index and the named profiles (heap, allocs,
// goroutine, block, mutex, threadcreate) under /_debug/pprof/.
func pprofIndex(w http.ResponseWriter, r *http.Request) {
	// pprof.Index expects the path under /debug/pprof/.
	r2 := r.Clone(r.Context())
	r2.URL.Path = "/debug" + r.URL.Path
	pprof.Index(w, r2)
}
