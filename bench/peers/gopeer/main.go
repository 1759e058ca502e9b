// Command gopeer is the Go comparison peer for the end-to-end benchmark: the
// service a Go user would write today. It reads Twitch chat with
// github.com/gempir/go-twitch-irc/v4 (anonymous, plain TCP to the given
// address), builds the ingress envelope for every PRIVMSG with a struct,
// github.com/google/uuid and encoding/json, and publishes it with nats.go to
// internal.ingress.v1, over core NATS or JetStream (PublishAsync with a
// Nats-Msg-Id). On SIGTERM or SIGINT it disconnects, waits (bounded) for
// outstanding publishes, and prints one JSON summary line to stdout.
//
//	gopeer --irc 127.0.0.1:6667 --channel-count 100 --channel-prefix ch \
//	       --nats nats://127.0.0.1:4222 [--jetstream --stream INGRESS]
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gempir/go-twitch-irc/v4"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

type config struct {
	irc         string
	tls         bool
	channels    []string
	connections int
	joinLimit   string
	natsURL     string
	subject     string
	jetstream   bool
	stream      string
	msgID       bool
	maxPending  int
	drain       time.Duration
}

// Summary is the JSON line printed at exit.
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

type counters struct {
	received, published, duplicates, errors atomic.Int64
}

func main() {
	cfg, err := parseFlags(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "gopeer:", err)
		os.Exit(2)
	}
	if err := run(cfg); err != nil {
		fmt.Fprintln(os.Stderr, "gopeer:", err)
		os.Exit(1)
	}
}

func parseFlags(args []string) (config, error) {
	var cfg config
	fs := flag.NewFlagSet("gopeer", flag.ContinueOnError)
	fs.StringVar(&cfg.irc, "irc", "127.0.0.1:6667", "IRC server `host:port`")
	fs.BoolVar(&cfg.tls, "tls", false, "connect to IRC with TLS")
	list := fs.String("channels", "", "comma-separated channels to join")
	count := fs.Int("channel-count", 0, "join `N` channels named <prefix>0 .. <prefix>N-1 (instead of --channels)")
	prefix := fs.String("channel-prefix", "ch", "channel name prefix for --channel-count")
	fs.IntVar(&cfg.connections, "connections", 1, "spread the channels round-robin over this many IRC clients")
	fs.StringVar(&cfg.joinLimit, "join-limit", "unlimited", "JOIN rate limiter: unlimited, verified or default (20 per 10 s)")
	fs.StringVar(&cfg.natsURL, "nats", nats.DefaultURL, "NATS server URL")
	fs.StringVar(&cfg.subject, "subject", "internal.ingress.v1", "subject to publish to")
	fs.BoolVar(&cfg.jetstream, "jetstream", false, "publish with JetStream PublishAsync instead of core NATS")
	fs.StringVar(&cfg.stream, "stream", "", "JetStream stream `NAME` (created over --subject if missing)")
	fs.BoolVar(&cfg.msgID, "msg-id", true, "JetStream: set Nats-Msg-Id to the Twitch message id")
	fs.IntVar(&cfg.maxPending, "max-pending", 4000, "JetStream: max outstanding async publishes")
	fs.DurationVar(&cfg.drain, "drain", 10*time.Second, "at exit, how long to wait for outstanding publishes")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	switch {
	case *list != "" && *count > 0:
		return cfg, errors.New("give --channels or --channel-count, not both")
	case *list != "":
		for _, c := range strings.Split(*list, ",") {
			if c = strings.TrimPrefix(strings.TrimSpace(c), "#"); c != "" {
				cfg.channels = append(cfg.channels, strings.ToLower(c))
			}
		}
	case *count > 0:
		for i := range *count {
			cfg.channels = append(cfg.channels, fmt.Sprintf("%s%d", *prefix, i))
		}
	}
	if len(cfg.channels) == 0 {
		return cfg, errors.New("no channels: give --channels or --channel-count")
	}
	if cfg.connections < 1 || cfg.connections > len(cfg.channels) {
		cfg.connections = min(max(cfg.connections, 1), len(cfg.channels))
	}
	switch cfg.joinLimit {
	case "unlimited", "verified", "default":
	default:
		return cfg, fmt.Errorf("--join-limit %q: want unlimited, verified or default", cfg.joinLimit)
	}
	return cfg, nil
}

func run(cfg config) error {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	start := time.Now()

	nc, err := nats.Connect(cfg.natsURL, nats.Name("gopeer"), nats.MaxReconnects(-1))
	if err != nil {
		return fmt.Errorf("connect nats: %w", err)
	}
	defer nc.Close()

	var n counters
	var publish func(data []byte, msgID string)
	var js jetstream.JetStream
	mode := "core"
	if cfg.jetstream {
		mode = "jetstream"
		js, err = jetstream.New(nc,
			jetstream.WithPublishAsyncMaxPending(cfg.maxPending),
			jetstream.WithPublishAsyncTimeout(30*time.Second),
			jetstream.WithPublishAsyncErrHandler(func(_ jetstream.JetStream, _ *nats.Msg, err error) {
				n.errors.Add(1)
			}),
			jetstream.WithPublishAsyncAckHandler(func(_ jetstream.JetStream, _ *nats.Msg, ack *jetstream.PubAck) {
				if ack.Duplicate {
					n.duplicates.Add(1)
				} else {
					n.published.Add(1)
				}
			}),
		)
		if err != nil {
			return fmt.Errorf("jetstream: %w", err)
		}
		if cfg.stream != "" {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			_, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
				Name: cfg.stream, Subjects: []string{cfg.subject}, Duplicates: 2 * time.Minute,
			})
			if err != nil {
				// An existing stream with other settings is fine; it must exist.
				_, err = js.Stream(ctx, cfg.stream)
			}
			cancel()
			if err != nil {
				return fmt.Errorf("stream %s: %w", cfg.stream, err)
			}
		}
		publish = func(data []byte, msgID string) {
			var err error
			if cfg.msgID && msgID != "" {
				_, err = js.PublishAsync(cfg.subject, data, jetstream.WithMsgID(msgID), jetstream.WithStallWait(5*time.Second))
			} else {
				_, err = js.PublishAsync(cfg.subject, data, jetstream.WithStallWait(5*time.Second))
			}
			if err != nil {
				n.errors.Add(1)
			}
		}
	} else {
		publish = func(data []byte, _ string) {
			if err := nc.Publish(cfg.subject, data); err != nil {
				n.errors.Add(1)
				return
			}
			n.published.Add(1)
		}
	}

	clients := make([]*twitch.Client, cfg.connections)
	done := make(chan error, cfg.connections)
	for i := range clients {
		c := twitch.NewAnonymousClient()
		c.IrcAddress = cfg.irc
		c.TLS = cfg.tls
		switch cfg.joinLimit {
		case "unlimited":
			c.SetJoinRateLimiter(twitch.CreateUnlimitedRateLimiter())
		case "verified":
			c.SetJoinRateLimiter(twitch.CreateVerifiedRateLimiter())
		}
		c.OnPrivateMessage(func(m twitch.PrivateMessage) {
			n.received.Add(1)
			data, err := json.Marshal(buildEnvelope(m, time.Now()))
			if err != nil {
				n.errors.Add(1)
				return
			}
			publish(data, m.ID)
		})
		c.OnConnect(func() { fmt.Fprintf(os.Stderr, "gopeer: client %d connected to %s\n", i, cfg.irc) })
		var mine []string
		for j := i; j < len(cfg.channels); j += cfg.connections {
			mine = append(mine, cfg.channels[j])
		}
		c.Join(mine...)
		clients[i] = c
		go func() { done <- c.Connect() }()
	}

	var runErr error
	running := len(clients)
	select {
	case <-sigs:
	case err := <-done:
		// Connect returns only on a fatal error (it reconnects by itself).
		running--
		runErr = fmt.Errorf("irc: %w", err)
	}
	for _, c := range clients {
		_ = c.Disconnect()
	}
	// Connect returns once its parser, which runs the callbacks, has stopped:
	// after that nothing more is published.
	stopWait := time.After(5 * time.Second)
wait:
	for ; running > 0; running-- {
		select {
		case <-done:
		case <-stopWait:
			fmt.Fprintf(os.Stderr, "gopeer: %d clients still running after disconnect\n", running)
			break wait
		}
	}

	// Wait, bounded, for what was handed to NATS to be acknowledged.
	if js != nil {
		select {
		case <-js.PublishAsyncComplete():
		case <-time.After(cfg.drain):
			n.errors.Add(int64(js.PublishAsyncPending()))
		}
	} else if err := nc.FlushTimeout(cfg.drain); err != nil {
		fmt.Fprintln(os.Stderr, "gopeer: flush:", err)
		n.errors.Add(1)
	}

	out, _ := json.Marshal(Summary{
		Peer:        "go-twitch-irc",
		Mode:        mode,
		Channels:    len(cfg.channels),
		Connections: cfg.connections,
		Received:    n.received.Load(),
		Published:   n.published.Load(),
		Duplicates:  n.duplicates.Load(),
		Errors:      n.errors.Load(),
		Seconds:     time.Since(start).Seconds(),
	})
	fmt.Println(string(out))
	return runErr
}
