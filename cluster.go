package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ingress-egress/ingress-egress/bus"
	"github.com/ingress-egress/ingress-egress/bus/natsbus"
	"github.com/ingress-egress/ingress-egress/cluster"
	"github.com/ingress-egress/ingress-egress/server"
	"github.com/ingress-egress/ingress-egress/twitch"
)

// The connection manager is the coordinator's reader: Manager.Channels is
// the cheap snapshot of joined and failed channels it polls.
var _ cluster.Reader = (*twitch.Manager)(nil)

// clusterAccount is the Twitch login whose JOIN budget the instances
// share; empty for anonymous logins, where every connection is its own
// identity with its own budget.
func (c *config) clusterAccount() string {
	if c.oauthToken == "" && c.tokenDoc == "" && c.tokenCollection == "" {
		return ""
	}
	return cmp.Or(strings.ToLower(c.botUsername), "default")
}

// clusterOptions are the coordinator's options.
func (c *config) clusterOptions(log *slog.Logger) cluster.Options {
	return cluster.Options{
		Name:       c.clusterName,
		Instance:   c.clusterInstance,
		Replicas:   c.clusterReplicas,
		LeaseTTL:   c.clusterLeaseTTL,
		KVReplicas: c.clusterKVReplicas,
		Seed:       c.channels,
		Account:    c.clusterAccount(),
		// The manager takes every JOIN of the account from the shared
		// budget itself (clusterJoinGate), rejoins included.
		GatedReader: c.clusterAccount() != "",
		JoinRate:    c.joinRate,
		JoinWindow:  10 * time.Second,
		Logger:      log,
	}
}

// clusterJoinGate is the connection manager's JoinGate in cluster mode
// with an account: every JOIN the manager sends as the account — the first
// ones, those after a reconnect or a RECONNECT, retries — is taken from
// the budget all the instances share. Nil for anonymous logins, each its
// own identity with the manager's own limit. The coordinator is made after
// the manager (it drives it) and before the manager runs, which is when
// the gate is first asked.
func (svc *service) clusterJoinGate(c *config) twitch.JoinGate {
	if c.clusterMode != "nats" || c.clusterAccount() == "" {
		return nil
	}
	return twitch.JoinGateFunc(func(ctx context.Context, login string, n int) (int, error) {
		return svc.coord.TakeJoins(ctx, login, n)
	})
}

// connectCluster opens the coordinator's own NATS connection, with the
// nats driver's settings (NATS_URL, NATS_CREDS, NATS_TOKEN, NATS_TLS_*). It
// returns at once and keeps trying in the background.
func connectCluster(c *config, log *slog.Logger) (*nats.Conn, error) {
	log = log.With("component", "cluster")
	opts := []nats.Option{
		nats.Name("ingress-egress-cluster"),
		nats.MaxReconnects(-1),
		nats.RetryOnFailedConnect(true),
		nats.ReconnectWait(time.Second),
		nats.ReconnectJitter(100*time.Millisecond, 100*time.Millisecond),
		// Nothing is buffered while reconnecting: a heartbeat written then
		// must fail, not reach the server late, after the lease it renews
		// has lapsed.
		nats.ReconnectBufSize(-1),
		// A dead server is noticed within about a lease TTL.
		nats.PingInterval(max(c.clusterLeaseTTL/4, time.Second)),
		nats.MaxPingsOutstanding(2),
		nats.IgnoreAuthErrorAbort(),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn("nats: disconnected", "error", err.Error())
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			log.Info("nats: reconnected", "server", natsbus.RedactURL(nc.ConnectedUrlRedacted()))
		}),
		nats.ReconnectErrHandler(func(_ *nats.Conn, err error) { log.Warn("nats: connect failed", "error", err.Error()) }),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			log.Warn("nats: async error", "error", err.Error())
		}),
	}
	if c.natsCreds != "" {
		opts = append(opts, nats.UserCredentials(c.natsCreds))
	}
	if c.natsToken != "" {
		opts = append(opts, nats.Token(c.natsToken))
	}
	if c.natsTLSCA != "" {
		opts = append(opts, nats.RootCAs(c.natsTLSCA))
	}
	if c.natsTLSCert != "" || c.natsTLSKey != "" {
		opts = append(opts, nats.ClientCert(c.natsTLSCert, c.natsTLSKey))
	}
	nc, err := nats.Connect(c.natsURL, opts...)
	if err != nil {
		return nil, fmt.Errorf("cluster: connect %s: %w", natsbus.RedactURL(c.natsURL), err)
	}
	return nc, nil
}

// startCluster connects to NATS and builds the coordinator; Run starts it.
func (svc *service) startCluster(c *config) error {
	nc, err := connectCluster(c, svc.log)
	if err != nil {
		return err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return fmt.Errorf("cluster: jetstream: %w", err)
	}
	coord, err := cluster.New(js, svc.mgr, c.clusterOptions(svc.log))
	if err != nil {
		nc.Close()
		return err
	}
	svc.clusterNC, svc.clusterJS, svc.coord = nc, js, coord
	svc.coordDone = make(chan struct{})
	svc.log.Info("cluster mode: channels are shared through NATS", "instance", coord.Instance(),
		"replicas", c.clusterReplicas, "leaseTtl", c.clusterLeaseTTL.String(), "sharedJoinBudget", c.clusterAccount() != "")
	return nil
}

// runCluster runs the coordinator until ctx ends or it has left, and
// checks the stream's duplicate window.
func (svc *service) runCluster(ctx context.Context, c *config) {
	go func() {
		defer close(svc.coordDone)
		if err := svc.coord.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
			svc.log.Error("cluster coordinator stopped", "error", err.Error())
		}
	}()
	go svc.checkDuplicates(ctx, c)
}

// natsAckTimeout is natsbus.Options.AckTimeout's default, which the
// service uses.
const natsAckTimeout = 5 * time.Second

// checkDuplicates compares the duplicate window of the stream that stores
// the envelopes with the longest time between two replicas' publishes of
// one message (one may be retrying while the other got through), and
// warns when it is shorter: the stream would then store both.
func (svc *service) checkDuplicates(ctx context.Context, c *config) {
	log := svc.log.With("component", "cluster")
	switch c.busDriver {
	case "pubsub":
		log.Info("every replica publishes each message: subscribers drop the copies by the msgId attribute (the envelope id)",
			"replicas", c.clusterReplicas)
		return
	case "nats":
	default:
		log.Warn("this bus does not remove duplicates: every message is delivered once per replica", "bus", c.busDriver,
			"replicas", c.clusterReplicas)
		return
	}
	need := c.publisherOptions(nil).RetrySpan() + time.Duration(c.maxRetries+1)*natsAckTimeout
	subject := c.busPrefix + bus.Ingress
	// The stream may not exist yet (NATS_ENSURE_STREAM creates it in the
	// background): try for a while.
	for attempt := 0; ; attempt++ {
		qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		stream, window, err := cluster.DuplicateWindow(qctx, svc.clusterJS, subject)
		cancel()
		switch {
		case err == nil && window < need:
			log.Warn("the stream's duplicate window is shorter than the longest time between two replicas' publishes of one message: it can store both",
				"stream", stream, "duplicates", window.String(), "need", need.String())
			return
		case err == nil:
			log.Info("the stream removes the replicas' duplicates", "stream", stream, "duplicates", window.String(), "need", need.String())
			return
		case attempt == 11:
			log.Warn("cannot check the stream's duplicate window", "subject", subject, "error", err.Error())
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(5 * time.Second):
		}
	}
}

// leaveCluster withdraws this instance and waits, until deadline, for the
// channels it reads to be confirmed by their new owners; then the
// coordinator stops.
func (svc *service) leaveCluster(deadline time.Time) {
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	if err := svc.coord.Leave(ctx); err != nil {
		st := svc.coord.Stats()
		svc.log.Warn("shutdown deadline before every channel was handed over", "reading", st.Reading,
			"errorCode", "handover_incomplete")
	}
	select {
	case <-svc.coordDone:
	case <-time.After(time.Until(deadline)):
	}
}

// In cluster mode the coordinator serves the channel admin API: it writes
// the wanted set every instance watches.
var _ server.ChannelAdmin = (*cluster.Coordinator)(nil)

// clusterMetrics writes the coordinator's figures.
func (svc *service) clusterMetrics(m *server.MetricWriter) {
	s := svc.coord.Stats()
	m.Gauge("ingress_cluster_members", "Live members of the cluster (leaving ones included).", float64(s.Members))
	m.Gauge("ingress_cluster_lease_valid", "1 while this instance's member key is known to exist.", b2f(s.LeaseValid))
	m.Gauge("ingress_cluster_channels_wanted", "Channels in the cluster's wanted set.", float64(s.Wanted))
	m.Gauge("ingress_cluster_channels_owned", "Wanted channels this instance owns.", float64(s.Owned))
	m.Gauge("ingress_cluster_channels_confirmed", "Owned channels joined here.", float64(s.Confirmed))
	m.Gauge("ingress_cluster_channels_reading", "Channels handed to the reader: owned, or not yet handed over.", float64(s.Reading))
	m.Gauge("ingress_cluster_join_queue", "Owned channels not yet handed to the reader (with an account the reader then waits for the shared JOIN budget itself: see ingress_cluster_join_budget_waits_total).", float64(s.JoinQueue))
	m.Gauge("ingress_cluster_channels_uncovered", "Wanted channels that no live instance has confirmed (the same figure on every instance).", float64(s.Uncovered))
	m.Counter("ingress_cluster_handovers_total", "Channels parted here after their new owners confirmed them.", float64(s.Handovers))
	m.Counter("ingress_cluster_takeovers_total", "Channels this instance started to own.", float64(s.Takeovers))
	m.Counter("ingress_cluster_gaps_total", "Intervals in which a covered channel had no confirmed live reader.", float64(s.Gaps))
	m.Counter("ingress_cluster_gap_seconds_total", "Their total length, counted from the last heartbeat of the readers lost.", s.GapSeconds)
	m.Gauge("ingress_cluster_gap_max_seconds", "The longest such interval so far.", s.MaxGapSeconds)
	m.Counter("ingress_cluster_watch_resets_total", "Restarts of the bucket watches.", float64(s.WatchResets))
	if b := s.Budget; b != nil {
		m.Counter("ingress_cluster_joins_granted_total", "JOINs taken from the account's shared budget.", float64(b.Taken))
		m.Counter("ingress_cluster_join_budget_waits_total", "Times the shared JOIN budget was spent and a JOIN waited.", float64(b.Waits))
		m.Counter("ingress_cluster_join_budget_conflicts_total", "Writes of the shared JOIN budget lost to another instance's, and retried.", float64(b.Conflicts))
	}
}
