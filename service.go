package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ingress-egress/ingress-egress/bus"
	"github.com/ingress-egress/ingress-egress/bus/embedded"
	"github.com/ingress-egress/ingress-egress/bus/natsbus"
	"github.com/ingress-egress/ingress-egress/bus/pubsubbus"
	"github.com/ingress-egress/ingress-egress/bus/stdoutbus"
	"github.com/ingress-egress/ingress-egress/envelope"
	"github.com/ingress-egress/ingress-egress/server"
	"github.com/ingress-egress/ingress-egress/twitch"
	"github.com/ingress-egress/ingress-egress/twitch/firestoreauth"
)

// config is the service's whole configuration, filled by newSettings from
// the environment and flags.
type config struct {
	// bus
	busDriver     string
	natsURL       string
	natsStream    string
	natsCreds     string
	natsToken     string
	natsTLSCA     string
	natsTLSCert   string
	natsTLSKey    string
	createTopics  bool
	ensureStream  bool
	busPrefix     string
	maxRetries    int
	dataDir       string
	embeddedPort  int
	pubsubProject string
	queueSize     int
	queueBytes    int

	// twitch
	ircURL           string
	botUsername      string
	channels         string
	clientID         string
	clientSecret     string
	oauthToken       string
	oauthURL         string
	tokenDoc         string
	tokenCollection  string
	tokenField       string
	firestoreProject string
	firestoreDB      string
	reconnectInitial time.Duration
	reconnectMax     time.Duration
	pingInterval     time.Duration
	pongTimeout      time.Duration
	joinRate         int
	channelsPerConn  int
	maxLine          int
	membership       bool

	// envelope
	kinds                   string
	typePrefix              string
	finalizationDestination string

	// service
	port            int
	logLevel        string
	logFormat       string
	shutdownTimeout time.Duration
	adminToken      string
}

func newSettings(c *config) *settings {
	s := &settings{}
	// Bus.
	s.oneOf(&c.busDriver, "MESSAGE_BUS_DRIVER", "bus", "embedded", "message bus driver", "embedded", "nats", "nats-core", "pubsub", "stdout")
	s.str(&c.natsURL, "NATS_URL", "nats-url", "nats://127.0.0.1:4222", "NATS server URL(s), comma-separated (nats, nats-core)")
	s.str(&c.natsStream, "NATS_STREAM", "nats-stream", "INGRESS", "JetStream stream name (embedded; nats with NATS_ENSURE_STREAM)")
	s.boolean(&c.ensureStream, "NATS_ENSURE_STREAM", "nats-ensure-stream", "false", "create or update the stream at start (nats); the embedded bus always does")
	s.str(&c.natsCreds, "NATS_CREDS", "nats-creds", "", "NATS credentials (.creds) file")
	s.secret(&c.natsToken, "NATS_TOKEN", "nats-token", "NATS auth token (secret)")
	s.str(&c.natsTLSCA, "NATS_TLS_CA", "nats-tls-ca", "", "PEM file of the NATS server's CA")
	s.str(&c.natsTLSCert, "NATS_TLS_CERT", "nats-tls-cert", "", "PEM client certificate for NATS (mutual TLS)")
	s.str(&c.natsTLSKey, "NATS_TLS_KEY", "nats-tls-key", "", "PEM client key for NATS (mutual TLS)")
	s.str(&c.busPrefix, "BUS_PREFIX", "bus-prefix", "", "prefix of every subject or topic, e.g. dev. gives dev.internal.ingress.v1")
	s.integer(&c.maxRetries, "PUBLISH_MAX_RETRIES", "publish-max-retries", "5", "re-sends of a message before it becomes a failure event", 0, 100)
	s.str(&c.dataDir, "DATA_DIR", "data-dir", "./data", "where the embedded bus stores its stream")
	s.integer(&c.embeddedPort, "EMBEDDED_NATS_PORT", "embedded-nats-port", "0", "loopback port of the embedded NATS server; 0 picks a free one", 0, 65535)
	s.str(&c.pubsubProject, "PUBSUB_PROJECT_ID", "pubsub-project", "", "Google Cloud project for Pub/Sub (default GOOGLE_CLOUD_PROJECT)")
	s.boolean(&c.createTopics, "PUBSUB_CREATE_TOPICS", "pubsub-create-topics", "false", "create missing Pub/Sub topics (emulator, development); in production the platform owns them")
	s.integer(&c.queueSize, "PUBLISH_QUEUE", "publish-queue", "8192", "messages the publisher holds before the reader waits", 1, 1<<22)
	s.integer(&c.queueBytes, "PUBLISH_QUEUE_BYTES", "publish-queue-bytes", "33554432", "bytes the publisher holds before the reader waits", 1<<20, 1<<32)

	// Twitch.
	s.str(&c.ircURL, "TWITCH_IRC_URL", "irc-url", "wss://irc-ws.chat.twitch.tv:443", "chat server: wss://, tls:// (irc.chat.twitch.tv:6697); ws://, tcp:// for local servers")
	s.str(&c.botUsername, "TWITCH_BOT_USERNAME", "bot-username", "", "account to log in as; empty with no token: anonymous read-only justinfan login")
	s.str(&c.channels, "TWITCH_CHANNELS", "channels", "", "channels to join, comma-separated logins")
	s.str(&c.clientID, "TWITCH_CLIENT_ID", "client-id", "", "Twitch app client id (token refresh)")
	s.secret(&c.clientSecret, "TWITCH_CLIENT_SECRET", "client-secret", "Twitch app client secret (secret; token refresh)")
	s.secret(&c.oauthToken, "TWITCH_OAUTH_TOKEN", "oauth-token", "static user access token (secret); selects the static credentials mode")
	s.str(&c.oauthURL, "TWITCH_OAUTH_URL", "oauth-url", twitch.DefaultOAuthURL, "Twitch OAuth base URL (validate, refresh)")
	s.str(&c.tokenDoc, "TWITCH_TOKEN_DOC", "token-doc", "", "Firestore token document path template, e.g. twitch_tokens/{login}; selects the Firestore mode")
	s.str(&c.tokenCollection, "TWITCH_TOKEN_COLLECTION", "token-collection", "", "Firestore collection to query for the token (with TWITCH_TOKEN_FIELD); selects the Firestore mode")
	s.oneOf(&c.tokenField, "TWITCH_TOKEN_FIELD", "token-field", "login", "field matched against TWITCH_BOT_USERNAME in TWITCH_TOKEN_COLLECTION", "login", "userId")
	s.str(&c.firestoreProject, "FIRESTORE_PROJECT_ID", "firestore-project", "", "Google Cloud project for Firestore (default GOOGLE_CLOUD_PROJECT)")
	s.str(&c.firestoreDB, "FIRESTORE_DATABASE", "firestore-database", "(default)", "Firestore database id")
	s.millis(&c.reconnectInitial, "IRC_RECONNECT_INITIAL_MS", "reconnect-initial-ms", "1000", "first reconnect delay ceiling, milliseconds", time.Millisecond, time.Hour)
	s.millis(&c.reconnectMax, "IRC_RECONNECT_MAX_MS", "reconnect-max-ms", "30000", "reconnect delay cap, milliseconds", time.Millisecond, 24*time.Hour)
	s.duration(&c.pingInterval, "IRC_PING_INTERVAL", "ping-interval", "15s", "silence before we PING the server", time.Second, time.Hour)
	s.duration(&c.pongTimeout, "IRC_PONG_TIMEOUT", "pong-timeout", "5s", "wait for an answer to our PING before the connection is declared dead", 100*time.Millisecond, time.Hour)
	s.integer(&c.joinRate, "TWITCH_JOIN_RATE", "join-rate", "20", "JOINs per 10 s over all connections (verified bots may use more)", 1, 100000)
	s.integer(&c.channelsPerConn, "TWITCH_CHANNELS_PER_CONN", "channels-per-conn", "90", "most channels on one connection", 1, 10000)
	s.integer(&c.maxLine, "IRC_MAX_LINE", "max-line", "16384", "longest accepted line in bytes; longer lines are counted and skipped", 512, 1<<20)
	s.boolean(&c.membership, "TWITCH_MEMBERSHIP", "membership", "false", "request twitch.tv/membership (JOIN/PART of viewers)")

	// Envelope.
	s.str(&c.kinds, "INGEST_KINDS", "kinds", "privmsg", "message kinds published: privmsg, usernotice, clearchat, clearmsg")
	s.str(&c.typePrefix, "ENVELOPE_TYPE_PREFIX", "type-prefix", envelope.DefaultTypePrefix, "prefix of the envelope type")
	s.str(&c.finalizationDestination, "FINALIZATION_DESTINATION", "finalization-destination", "internal.finalizer.v1", "the envelope's finalizationDestination")

	// Service.
	s.integer(&c.port, "PORT", "port", "8080", "HTTP port (Cloud Run sets it)", 0, 65535)
	s.oneOf(&c.logLevel, "LOG_LEVEL", "log-level", "info", "log level", "debug", "info", "warn", "error")
	s.oneOf(&c.logFormat, "LOG_FORMAT", "log-format", "auto", "log format: json (Cloud Logging) or text; auto: text when stderr is a terminal, else json", "auto", "json", "text")
	s.duration(&c.shutdownTimeout, "SHUTDOWN_TIMEOUT", "shutdown-timeout", "8s", "deadline to drain the bus at shutdown (Cloud Run allows 10 s)", 0, 10*time.Minute)
	s.secret(&c.adminToken, "ADMIN_TOKEN", "admin-token", "bearer token for /_debug and /_admin; unset: loopback clients only")
	return s
}

// check reports problems between settings, after each parsed on its own.
func (c *config) check(getenv func(string) string) []string {
	var p []string
	if c.reconnectMax < c.reconnectInitial {
		p = append(p, "  IRC_RECONNECT_MAX_MS is below IRC_RECONNECT_INITIAL_MS; raise it")
	}
	if _, err := envelope.ParseKinds(c.kinds); err != nil {
		p = append(p, "  INGEST_KINDS: "+err.Error())
	}
	if c.tokenDoc != "" && c.tokenCollection != "" {
		p = append(p, "  TWITCH_TOKEN_DOC and TWITCH_TOKEN_COLLECTION both set; choose one Firestore lookup")
	}
	if c.tokenCollection != "" && c.botUsername == "" {
		p = append(p, "  TWITCH_TOKEN_COLLECTION needs TWITCH_BOT_USERNAME, the value the query matches")
	}
	if (c.tokenDoc != "" || c.tokenCollection != "") && c.oauthToken != "" {
		p = append(p, "  TWITCH_OAUTH_TOKEN and a Firestore lookup both set; choose the static or the Firestore mode")
	}
	if c.tokenDoc != "" || c.tokenCollection != "" {
		if c.firestoreProject == "" && getenv("GOOGLE_CLOUD_PROJECT") == "" {
			p = append(p, "  the Firestore mode needs FIRESTORE_PROJECT_ID or GOOGLE_CLOUD_PROJECT")
		}
	}
	if (c.tokenDoc != "" || c.tokenCollection != "") && (c.clientID == "" || c.clientSecret == "") {
		p = append(p, "  the Firestore mode refreshes tokens: set TWITCH_CLIENT_ID and TWITCH_CLIENT_SECRET")
	}
	if (c.natsTLSCert == "") != (c.natsTLSKey == "") {
		p = append(p, "  NATS_TLS_CERT and NATS_TLS_KEY go together; set both or neither")
	}
	if c.busDriver == "pubsub" && c.pubsubProject == "" && getenv("GOOGLE_CLOUD_PROJECT") == "" {
		p = append(p, "  MESSAGE_BUS_DRIVER=pubsub needs PUBSUB_PROJECT_ID or GOOGLE_CLOUD_PROJECT")
	}
	for _, ch := range splitList(c.channels) {
		if strings.ContainsAny(ch, " \r\n\x00:") {
			p = append(p, fmt.Sprintf("  TWITCH_CHANNELS: %q is not a channel login", ch))
		}
	}
	return p
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// otherEnvHelp lists the variables read besides the settings (--help).
const otherEnvHelp = `
Also read from the environment (no flag):
  GOOGLE_CLOUD_PROJECT         Google Cloud project for Pub/Sub and Firestore when PUBSUB_PROJECT_ID
                               or FIRESTORE_PROJECT_ID is not set
  PUBSUB_EMULATOR_HOST         host:port of a Pub/Sub emulator (read by the Pub/Sub client; with it,
                               set PUBSUB_CREATE_TOPICS=true)
  FIRESTORE_EMULATOR_HOST      host:port of a Firestore emulator (read by the Firestore client)
`

// loadConfig reads the configuration. It prints --help and configuration
// problems itself and returns the exit code to use (0 for help, 2 for bad
// configuration) when the service must not start.
func loadConfig(args []string, getenv func(string) string, stdout, stderr io.Writer) (*config, *settings, int, bool) {
	c := &config{}
	s := newSettings(c)
	err := s.load("ingress-egress", args, getenv, stderr)
	if errors.Is(err, errHelp) {
		fmt.Fprintf(stdout, "usage: ingress-egress [flags]   (or: ingress-egress parse|encode|replay|version)\n\nEvery setting is an environment variable and a flag; the flag wins.\n\n")
		s.usage(stdout)
		fmt.Fprint(stdout, otherEnvHelp)
		return nil, nil, 0, false
	}
	// Every problem at once: the values that do not parse and the checks
	// between settings.
	var bad problems
	if err != nil && !errors.As(err, &bad) {
		fmt.Fprintln(stderr, err.Error())
		return nil, nil, 2, false
	}
	bad = append(bad, c.check(getenv)...)
	if len(bad) > 0 {
		fmt.Fprintln(stderr, bad.Error())
		fmt.Fprintln(stderr, "(ingress-egress --help lists every setting)")
		return nil, nil, 2, false
	}
	return c, s, 0, true
}

func parseLevel(s string) slog.Level {
	var l slog.Level
	l.UnmarshalText([]byte(s))
	return l
}

// runService runs the service until SIGTERM or SIGINT.
func runService(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	c, s, code, ok := loadConfig(args, getenv, stdout, stderr)
	if !ok {
		return code
	}
	project := firstNonEmpty(c.firestoreProject, c.pubsubProject, getenv("GOOGLE_CLOUD_PROJECT"))
	log := newLogger(stderr, c.logFormat, parseLevel(c.logLevel), project)
	log.Info("starting", "build", currentBuild(), "config", s.effective())

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

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

// service is the running pipeline: credentials → twitch manager → ingest →
// publisher → bus, with the HTTP server beside it.
type service struct {
	log      *slog.Logger
	embedded *embedded.Server
	pub      *bus.Publisher
	auth     authSource
	mgr      *twitch.Manager
	ingest   *ingest
	http     *server.Server
	cancel   context.CancelFunc
	done     chan struct{} // closed when the manager's Run returns
	authDone chan struct{}
	closers  []func()
}

// authSource is what the service needs of a credentials source.
type authSource interface {
	twitch.AuthSource
	Ready() bool
	Status() twitch.AuthStatus
}

func startService(ctx context.Context, c *config, getenv func(string) string, stdout io.Writer, log *slog.Logger) (_ *service, err error) {
	svc := &service{log: log, done: make(chan struct{}), authDone: make(chan struct{})}
	defer func() {
		if err != nil {
			for i := len(svc.closers) - 1; i >= 0; i-- {
				svc.closers[i]()
			}
		}
	}()

	// The bus.
	driver, err := svc.startBus(ctx, c, getenv, stdout)
	if err != nil {
		return nil, err
	}
	svc.pub = bus.New(driver, bus.Options{
		Prefix:        c.busPrefix,
		MaxRetries:    c.maxRetries,
		MaxQueue:      c.queueSize,
		MaxQueueBytes: c.queueBytes,
		Logger:        log.With("component", "bus"),
	})

	// Credentials.
	if svc.auth, err = newAuth(ctx, c, log.With("component", "credentials")); err != nil {
		return nil, err
	}

	// The ingest path and the connection manager.
	kinds, _ := envelope.ParseKinds(c.kinds)
	svc.ingest = newIngest(svc.pub, c.busPrefix+bus.Ingress, &envelope.Options{
		TypePrefix:              c.typePrefix,
		FinalizationDestination: c.finalizationDestination,
		Kinds:                   kinds,
	}, log.With("component", "ingest"))
	svc.mgr, err = twitch.New(twitch.Options{
		URL:              c.ircURL,
		Login:            c.botUsername,
		Auth:             svc.auth,
		Channels:         splitList(c.channels),
		Handler:          svc.ingest,
		Membership:       c.membership,
		ReconnectInitial: c.reconnectInitial,
		ReconnectMax:     c.reconnectMax,
		PingInterval:     c.pingInterval,
		PongTimeout:      c.pongTimeout,
		JoinRate:         c.joinRate,
		JoinWindow:       10 * time.Second,
		ChannelsPerConn:  c.channelsPerConn,
		MaxLine:          c.maxLine,
		Logger:           log, // the manager names its component
	})
	if err != nil {
		return nil, err
	}

	// HTTP.
	svc.http = server.New(server.Options{
		Addr: net.JoinHostPort("", strconv.Itoa(c.port)),
		Ready: map[string]server.Readiness{
			"twitch":      svc.mgr,
			"bus":         svc.pub,
			"credentials": svc.auth,
		},
		Live:       svc.live,
		Debug:      svc.debug,
		Metrics:    svc.metrics,
		Channels:   svc.mgr,
		AdminToken: c.adminToken,
		Logger:     log.With("component", "http"),
	})
	l, err := svc.http.Listen()
	if err != nil {
		return nil, fmt.Errorf("http: %w", err)
	}
	go func() {
		if err := svc.http.Serve(l); err != nil {
			log.Error("http server stopped", "error", err.Error())
		}
	}()

	runCtx, cancel := context.WithCancel(context.Background())
	svc.cancel = cancel
	if r, ok := svc.auth.(interface{ Run(context.Context) error }); ok {
		go func() { defer close(svc.authDone); r.Run(runCtx) }()
	} else {
		close(svc.authDone)
	}
	go func() {
		defer close(svc.done)
		if err := svc.mgr.Run(runCtx); err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, twitch.ErrClosed) {
			log.Error("twitch manager stopped", "error", err.Error())
		}
	}()

	channels := splitList(c.channels)
	if len(channels) == 0 {
		log.Warn("no channels configured: set TWITCH_CHANNELS or POST /_admin/channels; staying up")
	}
	log.Info("started", "http", l.Addr().String(), "channels", len(channels), "bus", c.busDriver,
		"subject", c.busPrefix+bus.Ingress)
	return svc, nil
}

// startBus starts the configured bus driver.
func (svc *service) startBus(ctx context.Context, c *config, getenv func(string) string, stdout io.Writer) (bus.Driver, error) {
	log := svc.log // each driver names its component
	nopts := natsbus.Options{
		URL:         c.natsURL,
		CredsFile:   c.natsCreds,
		Token:       c.natsToken,
		TLSCAFile:   c.natsTLSCA,
		TLSCertFile: c.natsTLSCert,
		TLSKeyFile:  c.natsTLSKey,
		Logger:      log,
	}
	switch c.busDriver {
	case "embedded":
		es, err := embedded.Start(ctx, embedded.Options{
			DataDir: c.dataDir,
			Port:    c.embeddedPort,
			Prefix:  c.busPrefix,
			Stream:  c.natsStream,
			Logger:  log,
		})
		if err != nil {
			return nil, fmt.Errorf("embedded bus: %w", err)
		}
		svc.embedded = es
		svc.closers = append(svc.closers, es.Shutdown)
		d, err := es.Driver(ctx, natsbus.Options{Logger: log})
		if err != nil {
			return nil, fmt.Errorf("embedded bus: %w", err)
		}
		dataDir, _ := filepath.Abs(c.dataDir)
		log.With("component", "bus").Info("embedded NATS bus ready: watch the envelopes with a NATS client",
			"natsUrl", es.URL(), "stream", c.natsStream, "subject", c.busPrefix+bus.Ingress, "dataDir", dataDir,
			"try", "nats --server "+es.URL()+" sub '"+c.busPrefix+bus.Ingress+"'")
		return d, nil
	case "nats", "nats-core":
		if c.busDriver == "nats-core" {
			nopts.Mode = natsbus.Core
		} else if c.ensureStream {
			nopts.Stream = &natsbus.StreamOptions{Name: c.natsStream, Subjects: []string{c.busPrefix + "internal.>"}}
		}
		d, err := natsbus.New(ctx, nopts)
		if err != nil {
			return nil, fmt.Errorf("nats bus: %w", err)
		}
		return d, nil
	case "pubsub":
		d, err := pubsubbus.New(ctx, pubsubbus.Options{
			ProjectID:    firstNonEmpty(c.pubsubProject, getenv("GOOGLE_CLOUD_PROJECT")),
			CreateTopics: c.createTopics,
			Logger:       log,
		})
		if err != nil {
			return nil, fmt.Errorf("pubsub bus: %w", err)
		}
		return d, nil
	case "stdout":
		return stdoutbus.New(stdout, stdoutbus.Options{}), nil
	}
	return nil, fmt.Errorf("unknown MESSAGE_BUS_DRIVER %q", c.busDriver)
}

// newAuth picks the credentials mode: Firestore when a token document or
// collection is configured, static with TWITCH_OAUTH_TOKEN, else anonymous.
func newAuth(ctx context.Context, c *config, log *slog.Logger) (authSource, error) {
	oauth := &twitch.OAuthClient{BaseURL: c.oauthURL, ClientID: c.clientID, ClientSecret: twitch.NewToken(c.clientSecret)}
	login := strings.ToLower(c.botUsername)
	switch {
	case c.tokenDoc != "" || c.tokenCollection != "":
		lookup := firestoreauth.DocPath(c.tokenDoc)
		if c.tokenCollection != "" {
			lookup = firestoreauth.FieldQuery(c.tokenCollection, c.tokenField, login)
		}
		src, err := firestoreauth.New(ctx, firestoreauth.Options{
			Project:  c.firestoreProject,
			Database: c.firestoreDB,
			Lookup:   lookup,
			Login:    login,
			OAuth:    oauth,
			Logger:   log,
		})
		if err != nil {
			return nil, fmt.Errorf("credentials: %w", err)
		}
		return src, nil
	case c.oauthToken != "":
		src, err := twitch.NewStatic(twitch.StaticOptions{Token: twitch.NewToken(c.oauthToken), Login: login, OAuth: oauth, Logger: log})
		if err != nil {
			return nil, fmt.Errorf("credentials: %w", err)
		}
		return src, nil
	}
	return twitch.NewAnonymous(log), nil
}

// closeGrace is how long shutdown waits past its deadline for the bus
// driver to close.
const closeGrace = 500 * time.Millisecond

// shutdown stops the service in reverse order within timeout: readiness
// false at once, reading stops, the bus drains, then HTTP stops. It returns
// the exit code.
func (svc *service) shutdown(timeout time.Duration) int {
	log := svc.log
	deadline := time.Now().Add(timeout)
	step := func(name string, f func()) {
		start := time.Now()
		f()
		log.Info("shutdown step done", "step", name, "duration", time.Since(start).String())
	}
	svc.http.SetDraining()
	step("stop reading", func() {
		svc.mgr.Close()
		svc.cancel()
		select {
		case <-svc.done:
		case <-time.After(time.Until(deadline) / 2):
			log.Warn("twitch manager did not stop in time")
		}
		<-svc.authDone
		ic := svc.ingest.counters()
		log.Info("ingest stopped", "envelopes", ic.Envelopes, "publishErrors", ic.PublishErrs,
			"notPublished", ic.NotEnabled, "withoutEnvelope", ic.NoEnvelope)
	})
	step("drain bus", func() {
		ctx, cancel := context.WithDeadline(context.Background(), deadline)
		defer cancel()
		// Close gives up on what is unsettled at the deadline, but a
		// driver can still hold it (a NATS client writing to a slow
		// socket under its lock): the process does not wait for it beyond
		// a short grace, so that it exits before the platform kills it.
		type result struct {
			report bus.Report
			err    error
		}
		closed := make(chan result, 1)
		go func() {
			r, err := svc.pub.Close(ctx)
			closed <- result{r, err}
		}()
		var res result
		select {
		case res = <-closed:
		case <-time.After(time.Until(deadline) + closeGrace):
			st := svc.pub.Stats()
			log.Error("the bus did not close by the shutdown deadline: exiting without it", "accepted", st.Accepted,
				"acked", st.Acked, "failureEvents", st.FailureEvents, "lost", st.Lost, "unsettled", st.Pending,
				"errorCode", "undelivered_at_shutdown")
			return
		}
		report, err := res.report, res.err
		st := svc.pub.Stats()
		if err != nil || len(report.Undelivered) > 0 {
			ids := make([]string, 0, len(report.Undelivered))
			for _, u := range report.Undelivered {
				ids = append(ids, u.MsgID)
			}
			log.Error("messages not delivered by the shutdown deadline", "count", len(report.Undelivered), "msgIds", ids,
				"errorCode", "undelivered_at_shutdown")
		}
		log.Info("bus drained", "accepted", st.Accepted, "acked", st.Acked, "failureEvents", st.FailureEvents, "lost", st.Lost)
	})
	step("stop http", func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		svc.http.Shutdown(ctx)
	})
	for i := len(svc.closers) - 1; i >= 0; i-- {
		svc.closers[i]()
	}
	if c, ok := svc.auth.(interface{ Close() error }); ok {
		c.Close()
	}
	log.Info("stopped")
	return 0 // undelivered messages are logged and counted above, as the issue asks: exit 0
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
	return map[string]any{
		"twitch":      svc.mgr.Status(),
		"credentials": svc.auth.Status(),
		"bus":         st,
		"ingest":      svc.ingest.counters(),
	}
}
