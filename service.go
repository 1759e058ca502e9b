package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ingress-egress/ingress-egress/bus"
	"github.com/ingress-egress/ingress-egress/cluster"
	"github.com/ingress-egress/ingress-egress/server"
	"github.com/ingress-egress/ingress-egress/twitch"
)

// runService runs the service until SIGTERM or SIGINT.
func runService(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	c, code := loadConfig(args, getenv, stdout, stderr)
	if c == nil {
		return code
	}
	project := firstNonEmpty(c.firestoreProject, c.pubsubProject, getenv("GOOGLE_CLOUD_PROJECT"))
	log := newLogger(stderr, c.logFormat, parseLevel(c.logLevel), project)
	log.Info("starting", "build", currentBuild(), "config", c.settings.effective())

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	svc, err := startService(ctx, c, getenv, stdout, log)
	if err != nil {
		log.Error("cannot start", "error", err.Error())
		return 1
	}
	<-ctx.Done()
	stop() // a second signal now ends the process at once
	log.Info("shutting down", "timeout", c.shutdownTimeout.String())
	return svc.shutdown(c.shutdownTimeout)
}

// service is the running service: credentials → twitch manager → the
// pipeline (ingest → publisher → bus), with the HTTP server beside it.
type service struct {
	*pipeline
	log      *slog.Logger
	auth     credentials
	mgr      *twitch.Manager
	http     *server.Server
	cancel   context.CancelFunc // ends the manager's and the credentials' Run
	done     chan struct{}      // closed when the manager's Run returns
	authDone chan struct{}      // closed when the credentials' Run returns

	// CLUSTER=nats only: the coordinator that decides which channels this
	// instance reads, on its own NATS connection.
	coord     *cluster.Coordinator
	clusterNC *nats.Conn
	clusterJS jetstream.JetStream
	coordDone chan struct{} // closed when the coordinator's Run returns
	cfg       *config
}

// startService builds and starts the service: the pipeline, the
// credentials, the connection manager and the HTTP server. On an error
// everything started is stopped again.
func startService(ctx context.Context, c *config, getenv func(string) string, stdout io.Writer, log *slog.Logger) (_ *service, err error) {
	svc := &service{log: log, done: make(chan struct{}), authDone: make(chan struct{}), cfg: c}
	if svc.pipeline, err = newPipeline(ctx, c, getenv, stdout, log); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			if svc.auth != nil {
				svc.auth.Close()
			}
			if svc.clusterNC != nil {
				svc.clusterNC.Close()
			}
			svc.pipeline.close()
		}
	}()
	if svc.auth, err = newCredentials(ctx, c, log.With("component", "credentials")); err != nil {
		return nil, err
	}
	topts := c.twitchOptions(svc.auth, svc.ingest, log)
	if c.clusterMode == "nats" {
		topts.Channels = nil // the coordinator adds the channels this instance owns
		topts.JoinGate = svc.clusterJoinGate(c)
	}
	if svc.mgr, err = twitch.New(topts); err != nil {
		return nil, err
	}
	if c.clusterMode == "nats" {
		if err = svc.startCluster(c); err != nil {
			return nil, err
		}
	}
	addr, err := svc.serveHTTP(c)
	if err != nil {
		return nil, err
	}
	svc.run()
	if len(c.channels) == 0 && svc.coord == nil {
		log.Warn("no channels configured: set TWITCH_CHANNELS or POST /_admin/channels; staying up")
	}
	log.Info("started", "http", addr.String(), "channels", len(c.channels), "bus", c.busDriver,
		"subject", c.busPrefix+bus.Ingress)
	return svc, nil
}

// serveHTTP starts the HTTP server and returns the address it listens on.
func (svc *service) serveHTTP(c *config) (net.Addr, error) {
	ready := map[string]server.Readiness{
		"twitch":      svc.mgr,
		"bus":         svc.pub,
		"credentials": svc.auth,
	}
	var admin server.ChannelAdmin = svc.mgr
	if svc.coord != nil {
		// Ready when the channels this instance owns are joined; the
		// admin API writes the wanted set every instance watches.
		ready["cluster"] = svc.coord
		admin = svc.coord
	}
	svc.http = server.New(server.Options{
		Addr:       net.JoinHostPort("", strconv.Itoa(c.port)),
		Ready:      ready,
		Live:       svc.live,
		Debug:      svc.debug,
		Metrics:    svc.metrics,
		Channels:   admin,
		AdminToken: c.adminToken,
		Logger:     svc.log.With("component", "http"),
	})
	l, err := svc.http.Listen()
	if err != nil {
		return nil, fmt.Errorf("http: %w", err)
	}
	go func() {
		if err := svc.http.Serve(l); err != nil {
			svc.log.Error("http server stopped", "error", err.Error())
		}
	}()
	return l.Addr(), nil
}

// run starts the credentials' and the manager's Run, until svc.cancel.
func (svc *service) run() {
	ctx, cancel := context.WithCancel(context.Background())
	svc.cancel = cancel
	go func() {
		defer close(svc.authDone)
		if err := svc.auth.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
			svc.log.Error("credentials stopped", "error", err.Error())
		}
	}()
	go func() {
		defer close(svc.done)
		if err := svc.mgr.Run(ctx); err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, twitch.ErrClosed) {
			svc.log.Error("twitch manager stopped", "error", err.Error())
		}
	}()
	if svc.coord != nil {
		svc.runCluster(ctx, svc.cfg)
	}
}

// closeGrace is how long shutdown waits past its deadline for the bus
// driver to close.
const closeGrace = 500 * time.Millisecond

// shutdown stops the service in reverse order within timeout: readiness
// false at once, in cluster mode the channels handed over to the other
// instances, reading stops, the bus drains, then HTTP stops. It returns
// the exit code.
func (svc *service) shutdown(timeout time.Duration) int {
	start := time.Now()
	deadline := start.Add(timeout)
	svc.http.SetDraining()
	if svc.coord != nil {
		// Three quarters of the time for the handover (make-before-break:
		// the new owners join before this instance stops reading), the rest
		// for draining what was read meanwhile.
		svc.step("cluster handover", func() { svc.leaveCluster(start.Add(timeout * 3 / 4)) })
	}
	svc.step("stop reading", func() { svc.stopReading(deadline) })
	svc.step("drain bus", func() { svc.drainBus(deadline) })
	if svc.clusterNC != nil {
		svc.clusterNC.Close()
	}
	svc.step("stop http", func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		svc.http.Shutdown(ctx)
	})
	svc.pipeline.close()
	svc.auth.Close()
	svc.log.Info("stopped")
	return 0 // undelivered messages are logged and counted by drainBus: exit 0
}

// step runs one step of the shutdown and logs how long it took.
func (svc *service) step(name string, f func()) {
	start := time.Now()
	f()
	svc.log.Info("shutdown step done", "step", name, "duration", time.Since(start).String())
}

// stopReading closes the connections and stops the credentials, using at
// most half of the time left before deadline.
func (svc *service) stopReading(deadline time.Time) {
	svc.mgr.Close()
	svc.cancel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Until(deadline)/2)
	defer cancel()
	for _, w := range []struct {
		name string
		done chan struct{}
	}{{"twitch manager", svc.done}, {"credentials", svc.authDone}} {
		select {
		case <-w.done:
		case <-ctx.Done():
			svc.log.Warn(w.name + " did not stop in time")
		}
	}
	ic := svc.ingest.counters()
	svc.log.Info("ingest stopped", "envelopes", ic.Envelopes, "publishErrors", ic.PublishErrs,
		"notPublished", ic.NotEnabled, "withoutEnvelope", ic.NoEnvelope)
}

// drainBus closes the publisher by deadline. What it gives up is logged
// with every id by the publisher (bus.Report.Log); when the driver does not
// even let Close return, the ids still held are logged here.
func (svc *service) drainBus(deadline time.Time) {
	log := svc.log
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	// Close gives up on what is unsettled at the deadline, but a driver can
	// still hold it (a NATS client writing to a slow socket under its
	// lock): the process does not wait for it beyond a short grace, so
	// that it exits before the platform kills it.
	closed := make(chan struct{})
	go func() {
		svc.pub.Close(ctx) // logs what it gave up
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(time.Until(deadline) + closeGrace):
		rep := svc.pub.Report()
		st := rep.Stats
		log.Error("the bus did not close by the shutdown deadline: exiting without it", "accepted", st.Accepted,
			"acked", st.Acked, "failureEvents", st.FailureEvents, "lost", st.Lost, "unknown", st.Unknown,
			"unsettled", st.Pending, "errorCode", "undelivered_at_shutdown")
		rep.Log(log.With("component", "bus"))
		return
	}
	st := svc.pub.Stats()
	log.Info("bus drained", "accepted", st.Accepted, "acked", st.Acked, "failureEvents", st.FailureEvents,
		"lost", st.Lost, "unknown", st.Unknown)
}

// live reports a stuck reader: lines are waiting and the handler has made
// no progress for a long time.
func (svc *service) live() error {
	if d := svc.ingest.stalled(); d > 2*time.Minute {
		return fmt.Errorf("ingest stalled for %v", d.Round(time.Second))
	}
	return nil
}

func (svc *service) debug() any {
	st := svc.pub.Stats()
	d := map[string]any{
		"twitch":      svc.mgr.Status(),
		"credentials": svc.auth.Status(),
		"bus":         st,
		"ingest":      svc.ingest.counters(),
	}
	if svc.outbox != nil {
		// "remote": "degraded" while the outbox holds messages back from a
		// remote bus that is down or failing (the service stays ready).
		d["outbox"] = svc.outbox.Stats()
	}
	if svc.coord != nil {
		d["cluster"] = svc.coord.Status()
	}
	return d
}
