// Command floor is the load harness's floor target: the service's I/O with
// no per-line work. It reads chat exactly as the service does (the
// service's own twitch.Manager, anonymous, with the service's defaults:
// TWITCH_JOIN_RATE 20, TWITCH_CONNECT_RATE 5, 90 channels per connection,
// TWITCH_READ_COALESCE 5 ms) and publishes as the service does (bus.New
// over the bus/natsbus driver in core mode, with the service's publisher
// settings), but for each PRIVMSG it only finds the id tag with a byte
// search and publishes a body of the size the service's envelope would
// have: {"payload":{"messageId":"<id>"},"pad":"xxx…"}, padded to ratio ×
// the line's length, where ratio is the service's envelope bytes per line
// byte, measured with envelope.Encoder on the harness's corpus at start.
// Subject, Content-Type and a traceparent of the service's length are set
// as the service sets them, so the bytes on the wire are the same size.
// What the service spends per line above this process's CPU is its own
// work: parsing, the envelope, ids.
//
// On SIGTERM or SIGINT it stops reading, closes the publisher (bounded by
// --drain) and prints one JSON summary line to stdout, in the format of the
// Go peer (bench/peers/gopeer).
//
//	floor --irc 127.0.0.1:6667 --channels ch0,ch1 --nats nats://127.0.0.1:4222
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ingress-egress/ingress-egress/bus"
	"github.com/ingress-egress/ingress-egress/bus/natsbus"
	"github.com/ingress-egress/ingress-egress/twitch"
)

type config struct {
	irc             string // URL for twitch.Options.URL
	channels        []string
	natsURL         string
	jetstream       bool
	subject         string
	busPrefix       string
	joinRate        int
	connectRate     int
	channelsPerConn int
	readCoalesce    time.Duration
	ratio           float64 // 0: measure at start
	seed            int64
	drain           time.Duration
	logLevel        slog.Level
}

// Summary is the JSON line printed at exit (the Go peer's format).
type Summary struct {
	Peer        string  `json:"peer"`
	Mode        string  `json:"mode"`
	Channels    int     `json:"channels"`
	Connections int     `json:"connections"`
	Received    int64   `json:"received"`
	Published   int64   `json:"published"`
	Duplicates  int64   `json:"duplicates"`
	Errors      int64   `json:"errors"`
	Seconds     float64 `json:"seconds"`
}

func main() {
	cfg, err := parseFlags(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "floor:", err)
		os.Exit(2)
	}
	if err := run(cfg); err != nil {
		fmt.Fprintln(os.Stderr, "floor:", err)
		os.Exit(1)
	}
}

func parseFlags(args []string) (config, error) {
	var cfg config
	fs := flag.NewFlagSet("floor", flag.ContinueOnError)
	fs.StringVar(&cfg.irc, "irc", "127.0.0.1:6667", "chat server: `host:port` (plain TCP) or a URL the service accepts (tcp://, ws://, …)")
	list := fs.String("channels", "", "comma-separated channels to join")
	fs.StringVar(&cfg.natsURL, "nats", "nats://127.0.0.1:4222", "NATS server URL")
	fs.BoolVar(&cfg.jetstream, "jetstream", false, "publish to a JetStream stream (that exists already) and wait for its acks, with a Nats-Msg-Id, as the service with OUTBOX=off; default core NATS")
	fs.StringVar(&cfg.subject, "subject", "", "subject to publish to (default <bus-prefix>"+bus.Ingress+")")
	fs.StringVar(&cfg.busPrefix, "bus-prefix", "", "the service's BUS_PREFIX (prefix of the failure subject, and of the default subject)")
	fs.IntVar(&cfg.joinRate, "join-rate", 20, "the service's TWITCH_JOIN_RATE: JOINs per 10 s per Twitch identity")
	fs.IntVar(&cfg.connectRate, "connect-rate", 5, "the service's TWITCH_CONNECT_RATE: new anonymous connections per second")
	fs.IntVar(&cfg.channelsPerConn, "channels-per-conn", 90, "the service's TWITCH_CHANNELS_PER_CONN")
	fs.DurationVar(&cfg.readCoalesce, "read-coalesce", 5*time.Millisecond, "the service's TWITCH_READ_COALESCE")
	fs.Float64Var(&cfg.ratio, "ratio", 0, "body bytes per line byte (0: the service's envelope ratio, measured on the corpus at start)")
	fs.Int64Var(&cfg.seed, "seed", 1, "corpus seed for measuring the ratio (the harness's)")
	fs.DurationVar(&cfg.drain, "drain", 20*time.Second, "at exit, how long the publisher may take to send what it holds")
	level := fs.String("log-level", "warn", "log level on stderr")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	for _, c := range strings.Split(*list, ",") {
		if c = strings.TrimPrefix(strings.TrimSpace(c), "#"); c != "" {
			cfg.channels = append(cfg.channels, strings.ToLower(c))
		}
	}
	if len(cfg.channels) == 0 {
		return cfg, errors.New("no channels: give --channels")
	}
	if !strings.Contains(cfg.irc, "://") {
		cfg.irc = "tcp://" + cfg.irc
	}
	if cfg.subject == "" {
		cfg.subject = cfg.busPrefix + bus.Ingress
	}
	if cfg.joinRate < 1 || cfg.connectRate < 1 || cfg.channelsPerConn < 1 || cfg.readCoalesce < 0 || cfg.ratio < 0 || cfg.drain <= 0 {
		return cfg, errors.New("--join-rate, --connect-rate and --channels-per-conn must be ≥ 1, --read-coalesce and --ratio ≥ 0, --drain > 0")
	}
	if err := cfg.logLevel.UnmarshalText([]byte(*level)); err != nil {
		return cfg, fmt.Errorf("--log-level: %w", err)
	}
	return cfg, nil
}

// traceParent is a W3C traceparent of the length the service writes for
// every envelope (55 bytes); the floor sends the same one every time.
const traceParent = "00-0123456789abcdef0123456789abcdef-0123456789abcdef-01"

// floor is the twitch.Handler: for each PRIVMSG, the id, a body of the
// envelope's size, Publish. Calls come concurrently from every connection;
// each borrows a buffer from a pool, so the steady state allocates nothing.
type floor struct {
	pub       *bus.Publisher
	subject   string
	ratio     float64
	jetstream bool      // set MsgID
	bufs      sync.Pool // *[]byte

	received, errors atomic.Int64
}

func newFloor(pub *bus.Publisher, subject string, ratio float64) *floor {
	f := &floor{pub: pub, subject: subject, ratio: ratio}
	f.bufs.New = func() any { b := make([]byte, 0, 8192); return &b }
	return f
}

var privmsg = []byte("PRIVMSG")

// HandleLine implements twitch.Handler.
func (f *floor) HandleLine(ctx context.Context, l *twitch.Line) error {
	if !bytes.Equal(l.Msg.Command, privmsg) {
		return nil
	}
	f.received.Add(1)
	bp := f.bufs.Get().(*[]byte)
	defer f.bufs.Put(bp)
	*bp = appendBody((*bp)[:0], findID(l.Raw), bodySize(f.ratio, len(l.Raw)))
	m := bus.Message{
		Subject:     f.subject,
		Data:        *bp,
		TraceParent: traceParent,
		ContentType: "application/json",
		Received:    l.Received,
	}
	if f.jetstream {
		// The stream's dedup key, of the length of the service's (its
		// envelope id, a UUID, as the Twitch id is). Core NATS does not
		// put it on the wire (natsbus sends Nats-Msg-Id in JetStream mode
		// only): there the string is not made.
		m.MsgID = string(findID(l.Raw))
	}
	err := f.pub.Publish(ctx, m)
	if err != nil {
		// As the service: a line read and not accepted is counted, and
		// stops the manager.
		f.errors.Add(1)
		return err
	}
	return nil
}

func run(cfg config) error {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	start := time.Now()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: cfg.logLevel}))

	ratio := cfg.ratio
	if ratio == 0 {
		// As many corpus lines as the harness's templates hold at most.
		var err error
		if ratio, err = envelopeRatio(cfg.seed, cfg.channels, 4096); err != nil {
			return err
		}
	}
	fmt.Fprintf(os.Stderr, "floor: body %.3f × the line's bytes (the service's envelope ratio)\n", ratio)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	mode, modeName := natsbus.Core, "core"
	if cfg.jetstream {
		mode, modeName = natsbus.JetStream, "jetstream"
	}
	d, err := natsbus.New(ctx, natsbus.Options{URL: cfg.natsURL, Mode: mode, Name: "floor", Logger: log})
	if err != nil {
		return fmt.Errorf("nats bus: %w", err)
	}
	// The service's publisher settings (config.go publisherOptions, with
	// the defaults of PUBLISH_MAX_RETRIES, PUBLISH_QUEUE,
	// PUBLISH_QUEUE_BYTES and PUBLISH_BATCH_DELAY).
	pub := bus.New(d, bus.Options{
		Prefix:        cfg.busPrefix,
		MaxRetries:    5,
		MaxQueue:      8192,
		MaxQueueBytes: 32 << 20,
		BatchDelay:    time.Millisecond,
		Logger:        log.With("component", "bus"),
	})
	f := newFloor(pub, cfg.subject, ratio)
	f.jetstream = cfg.jetstream
	mgr, err := twitch.New(twitch.Options{
		URL:             cfg.irc,
		Channels:        cfg.channels,
		Handler:         f,
		JoinRate:        cfg.joinRate,
		ConnectRate:     cfg.connectRate,
		JoinWindow:      10 * time.Second,
		ChannelsPerConn: cfg.channelsPerConn,
		ReadCoalesce:    cfg.readCoalesce,
		Logger:          log,
	})
	if err != nil {
		pub.Close(ctx)
		return err
	}
	runErr := make(chan error, 1)
	go func() { runErr <- mgr.Run(ctx) }()

	var failed error
	select {
	case <-sigs:
	case err := <-runErr:
		// Run returns before a signal only on a Handler's error.
		failed = fmt.Errorf("twitch: %w", err)
	}
	mgr.Close() // stops reading; no Publish after it returns
	dctx, dcancel := context.WithTimeout(context.Background(), cfg.drain)
	rep, err := pub.Close(dctx)
	dcancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "floor: publisher close:", err)
	}
	st := rep.Stats
	conns := (len(cfg.channels) + cfg.channelsPerConn - 1) / cfg.channelsPerConn
	out, _ := json.Marshal(Summary{
		Peer:        "floor",
		Mode:        modeName,
		Channels:    len(cfg.channels),
		Connections: conns,
		Received:    f.received.Load(),
		Published:   int64(st.Acked),
		Errors:      f.errors.Load() + int64(st.Lost+st.Unknown+st.FailureEvents),
		Seconds:     time.Since(start).Seconds(),
	})
	fmt.Println(string(out))
	return failed
}
