package main

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/ingress-egress/ingress-egress/bus"
	"github.com/ingress-egress/ingress-egress/bus/natsbus"
	"github.com/ingress-egress/ingress-egress/envelope"
	"github.com/ingress-egress/ingress-egress/twitch"
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
	batchDelay    time.Duration

	// outbox
	outbox           string // auto, disk, off
	outboxMaxBytes   int
	outboxSync       time.Duration
	outboxSyncAlways bool

	// twitch
	ircURL           string
	botUsername      string
	channels         []string // normalised logins
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
	readCoalesce     time.Duration
	pongTimeout      time.Duration
	joinRate         int
	connectRate      int
	channelsPerConn  int
	maxLine          int
	membership       bool

	// envelope
	kinds                   envelope.Kinds
	typePrefix              string
	finalizationDestination string

	// cluster
	clusterMode       string
	clusterReplicas   int
	clusterInstance   string
	clusterLeaseTTL   time.Duration
	clusterName       string
	clusterKVReplicas int

	// service
	port            int
	logLevel        string
	logFormat       string
	shutdownTimeout time.Duration
	adminToken      string

	// settings as loaded: the effective configuration for the start-up log.
	settings *settings
}

func newSettings(c *config) *settings {
	s := &settings{}
	// Bus.
	s.oneOf(&c.busDriver, "MESSAGE_BUS_DRIVER", "bus", "embedded", "message bus driver", "embedded", "nats", "nats-core", "pubsub", "stdout")
	s.str(&c.natsURL, "NATS_URL", "nats-url", "nats://127.0.0.1:4222", "NATS server URL(s), comma-separated (nats, nats-core)")
	s.str(&c.natsStream, "NATS_STREAM", "nats-stream", "INGRESS", "JetStream stream name (embedded; nats with NATS_ENSURE_STREAM)")
	s.boolean(&c.ensureStream, "NATS_ENSURE_STREAM", "nats-ensure-stream", "false", "create or update the stream (nats), in the background: until it exists the bus is not ready; the embedded bus always does")
	s.str(&c.natsCreds, "NATS_CREDS", "nats-creds", "", "NATS credentials (.creds) file")
	s.secret(&c.natsToken, "NATS_TOKEN", "nats-token", "NATS auth token (secret)")
	s.str(&c.natsTLSCA, "NATS_TLS_CA", "nats-tls-ca", "", "PEM file of the NATS server's CA")
	s.str(&c.natsTLSCert, "NATS_TLS_CERT", "nats-tls-cert", "", "PEM client certificate for NATS (mutual TLS)")
	s.str(&c.natsTLSKey, "NATS_TLS_KEY", "nats-tls-key", "", "PEM client key for NATS (mutual TLS)")
	s.str(&c.busPrefix, "BUS_PREFIX", "bus-prefix", "", "prefix of every subject or topic, e.g. dev. gives dev.internal.ingress.v1")
	s.integer(&c.maxRetries, "PUBLISH_MAX_RETRIES", "publish-max-retries", "5", "re-sends of a message before it becomes a failure event", 0, 100)
	s.str(&c.dataDir, "DATA_DIR", "data-dir", "./data", "where the embedded bus and the outbox store their files")
	s.integer(&c.embeddedPort, "EMBEDDED_NATS_PORT", "embedded-nats-port", "0", "loopback port of the embedded NATS server; 0 picks a free one", 0, 65535)
	s.str(&c.pubsubProject, "PUBSUB_PROJECT_ID", "pubsub-project", "", "Google Cloud project for Pub/Sub (default GOOGLE_CLOUD_PROJECT)")
	s.boolean(&c.createTopics, "PUBSUB_CREATE_TOPICS", "pubsub-create-topics", "false", "create missing Pub/Sub topics (emulator, development); in production the platform owns them")
	s.integer(&c.queueSize, "PUBLISH_QUEUE", "publish-queue", "8192", "messages the publisher holds before the reader waits", 1, 1<<22)
	s.integer(&c.queueBytes, "PUBLISH_QUEUE_BYTES", "publish-queue-bytes", "33554432", "bytes the publisher holds before the reader waits", 1<<20, 1<<32)
	s.duration(&c.batchDelay, "PUBLISH_BATCH_DELAY", "publish-batch-delay", "1ms", "how long a partial batch waits for more messages, so that wake-ups and socket writes are paid per batch; 0 sends at once", 0, time.Second)
	s.oneOf(&c.outbox, "OUTBOX", "outbox", "auto", "durable outbox under DATA_DIR/outbox in front of nats and pubsub: auto is disk for nats and pubsub when DATA_DIR is writable (and CLUSTER is off), else off", "auto", "disk", "off")
	s.integer(&c.outboxMaxBytes, "OUTBOX_MAX_BYTES", "outbox-max-bytes", "1073741824", "bytes the outbox holds before the reader waits (capped at a quarter of the memory limit on a tmpfs)", 1<<20, 1<<44)
	s.add("OUTBOX_SYNC", "outbox-sync", "2m", "how often the outbox fsyncs: a duration (JetStream's sync interval) or always (every write)", c.parseOutboxSync)

	// Twitch.
	s.str(&c.ircURL, "TWITCH_IRC_URL", "irc-url", "wss://irc-ws.chat.twitch.tv:443", "chat server: wss://, tls:// (irc.chat.twitch.tv:6697); ws://, tcp:// for local servers")
	s.str(&c.botUsername, "TWITCH_BOT_USERNAME", "bot-username", "", "account to log in as; empty with no token: anonymous read-only justinfan login")
	s.strList(&c.channels, "TWITCH_CHANNELS", "channels", "", "channels to join, comma-separated logins", channelLogin)
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
	s.integer(&c.joinRate, "TWITCH_JOIN_RATE", "join-rate", "20", "JOINs per 10 s per Twitch identity: per account, and per anonymous connection (verified bots may use more)", 1, 100000)
	s.integer(&c.connectRate, "TWITCH_CONNECT_RATE", "connect-rate", "5", "new anonymous connections per second, all together (our caution; accounts keep Twitch's 20 logins per 10 s)", 1, 1000)
	s.integer(&c.channelsPerConn, "TWITCH_CHANNELS_PER_CONN", "channels-per-conn", "90", "most channels on one connection", 1, 10000)
	s.integer(&c.maxLine, "IRC_MAX_LINE", "max-line", "16384", "longest accepted line in bytes; longer lines are counted and skipped", 512, 1<<20)
	s.duration(&c.readCoalesce, "TWITCH_READ_COALESCE", "read-coalesce", "5ms", "read a connection at most once per interval while it has no more than one read's worth queued, so that lines, wake-ups and publishes are paid per interval; 0 reads at once", 0, 100*time.Millisecond)
	s.boolean(&c.membership, "TWITCH_MEMBERSHIP", "membership", "false", "request twitch.tv/membership (JOIN/PART of viewers)")

	// Envelope.
	s.add("INGEST_KINDS", "kinds", "privmsg", "message kinds published: privmsg, usernotice, clearchat, clearmsg", func(v string) (err error) {
		c.kinds, err = envelope.ParseKinds(v)
		return err
	})
	s.str(&c.typePrefix, "ENVELOPE_TYPE_PREFIX", "type-prefix", envelope.DefaultTypePrefix, "prefix of the envelope type")
	s.str(&c.finalizationDestination, "FINALIZATION_DESTINATION", "finalization-destination", "internal.finalizer.v1", "the envelope's finalizationDestination")

	// Cluster.
	s.oneOf(&c.clusterMode, "CLUSTER", "cluster", "off", "share the channels among instances through NATS JetStream key-value buckets (NATS_URL, NATS_CREDS, NATS_TOKEN, NATS_TLS_*); off: one instance reads every channel", "off", "nats")
	s.integer(&c.clusterReplicas, "CLUSTER_REPLICAS", "cluster-replicas", "2", "instances that read each channel (2 rides out a crash without a gap)", 1, 10)
	s.str(&c.clusterInstance, "CLUSTER_INSTANCE_ID", "cluster-instance-id", "", "this instance's id in the cluster; default the host name and a random suffix")
	s.duration(&c.clusterLeaseTTL, "CLUSTER_LEASE_TTL", "cluster-lease-ttl", "10s", "how long an instance that stopped heartbeating keeps its channels before the others take them", time.Second, 10*time.Minute)
	s.add("CLUSTER_NAME", "cluster-name", "ingress", "prefix of the cluster's key-value buckets: instances with the same name on one NATS account form one cluster", func(v string) error {
		for _, r := range v {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
				return fmt.Errorf("%q: letters, digits, '_' and '-' only", v)
			}
		}
		c.clusterName = v
		return nil
	})
	s.integer(&c.clusterKVReplicas, "CLUSTER_KV_REPLICAS", "cluster-kv-replicas", "0", "NATS nodes that store each cluster bucket when it is created; 0: 3 in a NATS cluster, else 1", 0, 5)

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
	if err := twitch.CheckURL(c.ircURL); err != nil {
		p = append(p, "  TWITCH_IRC_URL: "+err.Error())
	}
	if c.busDriver == "nats" || c.busDriver == "nats-core" {
		if err := natsbus.CheckURL(c.natsURL); err != nil {
			p = append(p, "  NATS_URL: "+err.Error())
		}
	}
	if (c.natsTLSCert == "") != (c.natsTLSKey == "") {
		p = append(p, "  NATS_TLS_CERT and NATS_TLS_KEY go together; set both or neither")
	}
	if c.outbox == "disk" && c.busDriver != "nats" && c.busDriver != "nats-core" && c.busDriver != "pubsub" {
		p = append(p, "  OUTBOX=disk is for the nats, nats-core and pubsub drivers; "+c.busDriver+" needs none (set OUTBOX=auto or off)")
	}
	if c.clusterMode == "nats" {
		if c.busDriver == "embedded" {
			p = append(p, "  CLUSTER=nats with MESSAGE_BUS_DRIVER=embedded: each instance would have its own stream; use a shared bus (nats, pubsub)")
		}
		if c.busDriver != "nats" && c.busDriver != "nats-core" {
			if err := natsbus.CheckURL(c.natsURL); err != nil {
				p = append(p, "  NATS_URL (CLUSTER=nats): "+err.Error())
			}
		}
	}
	if c.busDriver == "pubsub" && c.pubsubProject == "" && getenv("GOOGLE_CLOUD_PROJECT") == "" {
		p = append(p, "  MESSAGE_BUS_DRIVER=pubsub needs PUBSUB_PROJECT_ID or GOOGLE_CLOUD_PROJECT")
	}
	return p
}

// channelLogin checks and normalises one TWITCH_CHANNELS item: a Twitch
// login (1-25 of a-z, 0-9, _; upper case and a leading '#' are
// normalised).
func channelLogin(s string) (string, error) {
	name, err := twitch.NormalizeChannel(s)
	if err != nil {
		return "", errors.New(strings.TrimPrefix(err.Error(), "twitch: "))
	}
	return name, nil
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

// loadConfig reads the configuration from args and the environment. It
// prints --help and every configuration problem itself; c is nil when the
// service must not start, and code is then the exit code (0 after --help,
// 2 for a bad configuration).
func loadConfig(args []string, getenv func(string) string, stdout, stderr io.Writer) (c *config, code int) {
	c = &config{}
	s := newSettings(c)
	err := s.load("ingress-egress", args, getenv)
	if errors.Is(err, errHelp) {
		fmt.Fprintf(stdout, "usage: ingress-egress [flags]   (or: ingress-egress parse|encode|replay|version)\n\nEvery setting is an environment variable and a flag; the flag wins.\n\n")
		s.usage(stdout)
		fmt.Fprint(stdout, otherEnvHelp)
		return nil, 0
	}
	// Every problem at once: the values that do not parse and the checks
	// between settings.
	var bad problems
	if err != nil && !errors.As(err, &bad) {
		fmt.Fprintln(stderr, err.Error())
		return nil, 2
	}
	bad = append(bad, c.check(getenv)...)
	if len(bad) > 0 {
		fmt.Fprintln(stderr, bad.Error())
		fmt.Fprintln(stderr, "(ingress-egress --help lists every setting)")
		return nil, 2
	}
	c.settings = s
	return c, 0
}

func parseLevel(s string) slog.Level {
	var l slog.Level
	l.UnmarshalText([]byte(s))
	return l
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

// publisherOptions are the publisher's options.
func (c *config) publisherOptions(log *slog.Logger) bus.Options {
	return bus.Options{
		Prefix:        c.busPrefix,
		MaxRetries:    c.maxRetries,
		MaxQueue:      c.queueSize,
		MaxQueueBytes: c.queueBytes,
		BatchDelay:    cmp.Or(c.batchDelay, -1), // bus: 0 is its default, negative no wait
		Logger:        log,
	}
}

// envelopeOptions are the envelope encoder's options.
func (c *config) envelopeOptions() *envelope.Options {
	return &envelope.Options{
		TypePrefix:              c.typePrefix,
		FinalizationDestination: c.finalizationDestination,
		Kinds:                   c.kinds,
	}
}

// natsOptions are the options of the nats and nats-core drivers.
func (c *config) natsOptions(log *slog.Logger) natsbus.Options {
	o := natsbus.Options{
		URL:         c.natsURL,
		CredsFile:   c.natsCreds,
		Token:       c.natsToken,
		TLSCAFile:   c.natsTLSCA,
		TLSCertFile: c.natsTLSCert,
		TLSKeyFile:  c.natsTLSKey,
		Logger:      log,
	}
	switch {
	case c.busDriver == "nats-core":
		o.Mode = natsbus.Core
	case c.ensureStream:
		o.Stream = &natsbus.StreamOptions{Name: c.natsStream, Subjects: []string{c.busPrefix + "internal.>"}}
	}
	return o
}

// twitchOptions are the connection manager's options, with its credentials
// and the handler of every line.
func (c *config) twitchOptions(auth twitch.AuthSource, h twitch.Handler, log *slog.Logger) twitch.Options {
	return twitch.Options{
		URL:              c.ircURL,
		Login:            c.botUsername,
		Auth:             auth,
		Channels:         c.channels,
		Handler:          h,
		Membership:       c.membership,
		ReconnectInitial: c.reconnectInitial,
		ReconnectMax:     c.reconnectMax,
		PingInterval:     c.pingInterval,
		PongTimeout:      c.pongTimeout,
		JoinRate:         c.joinRate,
		ConnectRate:      c.connectRate,
		JoinWindow:       10 * time.Second,
		ChannelsPerConn:  c.channelsPerConn,
		MaxLine:          c.maxLine,
		ReadCoalesce:     c.readCoalesce,
		Logger:           log, // the manager names its component
	}
}
