// Command twitchsim runs the fake Twitch chat server on loopback, so that
// the service (or anything else) can be pointed at it:
//
//	go run ./twitch/twitchtest/cmd/twitchsim -tcp 127.0.0.1:6667 -ws 127.0.0.1:8080 -rate 100 -channels a,b
//	TWITCH_IRC_URL=ws://127.0.0.1:8080 go run .
//
// It generates PRIVMSGs with unique ids for the channels at the given rate
// (to the clients that joined them), and on SIGUSR1 sends RECONNECT to
// every client, on SIGUSR2 closes every connection. It stops on SIGINT or
// SIGTERM.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/ingress-egress/ingress-egress/twitch/twitchtest"
)

func main() {
	var (
		tcpAddr  = flag.String("tcp", "127.0.0.1:6667", "plain TCP listen address (empty: none)")
		tlsAddr  = flag.String("tls", "", "TLS listen address, self-signed certificate (empty: none)")
		wsAddr   = flag.String("ws", "127.0.0.1:8080", "WebSocket listen address (empty: none)")
		wssAddr  = flag.String("wss", "", "secure WebSocket listen address, self-signed (empty: none)")
		channels = flag.String("channels", "", "comma-separated channels to generate PRIVMSGs for")
		rate     = flag.Float64("rate", 10, "PRIVMSGs per second over all channels")
		tokens   = flag.String("tokens", "", "login:token pairs accepted, comma-separated (empty: any token)")
		joinLim  = flag.Int("join-limit", 20, "JOINs per 10 s before a client is dropped (negative: no limit)")
		pingIvl  = flag.Duration("ping", 5*time.Minute, "server PING interval (0: none)")
		perFrame = flag.Int("lines-per-frame", 1, "lines packed into one WebSocket message")
	)
	flag.Parse()
	cfg := twitchtest.Config{JoinLimit: *joinLim, PingInterval: *pingIvl, LinesPerFrame: *perFrame}
	if *tokens != "" {
		cfg.Tokens = map[string]string{}
		for _, kv := range strings.Split(*tokens, ",") {
			login, tok, ok := strings.Cut(kv, ":")
			if !ok {
				log.Fatalf("twitchsim: -tokens: %q is not login:token", kv)
			}
			cfg.Tokens[login] = tok
		}
	}
	srv := twitchtest.NewServer(cfg)
	defer srv.Close()
	for _, l := range []struct{ proto, addr string }{{"tcp", *tcpAddr}, {"tls", *tlsAddr}, {"ws", *wsAddr}, {"wss", *wssAddr}} {
		if l.addr == "" {
			continue
		}
		url, err := srv.ListenAddr(l.proto, l.addr)
		if err != nil {
			log.Fatalf("twitchsim: listen %s %s: %v", l.proto, l.addr, err)
		}
		fmt.Println("listening:", url)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *channels != "" {
		var chans []string
		for _, c := range strings.Split(*channels, ",") {
			chans = append(chans, strings.TrimPrefix(strings.ToLower(strings.TrimSpace(c)), "#"))
		}
		go srv.Generate(ctx, twitchtest.Gen{Channels: chans, Rate: *rate})
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGUSR1, syscall.SIGUSR2)
	tick := time.NewTicker(10 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			fmt.Println("stopping")
			return
		case s := <-sig:
			if s == syscall.SIGUSR1 {
				fmt.Println("RECONNECT sent to", srv.Reconnect(), "clients")
			} else {
				srv.CloseAll()
				fmt.Println("closed every connection")
			}
		case <-tick.C:
			fmt.Printf("clients %d stats %+v\n", len(srv.Clients()), srv.Stats())
		}
	}
}
