// Command load runs the end-to-end load scenarios: the fake Twitch server
// drives the ingress-egress binary, the two comparison peers and the floor
// (bench/peers) into one NATS server with JetStream (a child process of this
// command, so that its CPU is counted apart), a consumer reads every
// envelope back, and bench/loss checks every line. It writes every run's
// result as one JSON line to -out, and the Markdown report and SVG chart
// (bench/report). bench/load.sh builds everything and runs it.
//
//	load -scenarios one,hundred,thousand,tenk,saturate,ceiling,soak -duration 20s -soak 10m
//	load -scenarios hundredk     # 100,000 channels, default join limits, 50k lines/s for 5 min, restart (~20 min)
//	load -render results.jsonl   # only rewrite the report from saved results
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ingress-egress/ingress-egress/bench/load"
	"github.com/ingress-egress/ingress-egress/bench/report"
)

func main() {
	if load.ServeBus() {
		return
	}
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(1)
	}
}

type options struct {
	scenarios, targets, buses []string
	duration, soak, step      time.Duration
	satRates                  []float64
	satChannels               int
	out, md, svg, render      string
	notes                     string
	soakBuses                 []string
	hk                        hundredK
	service, gopeer, node, js string
	floor                     string
	verbose                   bool
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

func run() error {
	var o options
	scen := flag.String("scenarios", "one,hundred,thousand,tenk,saturate,ceiling", "scenarios to run: one (1 channel, max rate), hundred (100 ch, 10k/s), thousand (1,000 ch, 10k/s), tenk (10,000 ch over ≥100 connections, 50k/s), saturate (step the rate up), ceiling (bare JetStream PublishAsync), soak (ours, 1,000 ch, 10k/s for -soak), hundredk (ours: 100,000 ch with the default join limits, then a restart; 10,000 ch over WebSocket; 1,000 ch restarted; see -hundredk-*)")
	targets := flag.String("targets", "ingress-egress,go-twitch-irc,twurple", "targets: ingress-egress, go-twitch-irc, twurple, floor (the service's chat reading and core publishing with no per-line work: what the I/O alone costs; core bus only)")
	buses := flag.String("buses", "core,jetstream", "buses: core, jetstream (direct publishing), outbox (the service through its durable outbox into the same JetStream stream, ours only), embedded (the service's own, ours only)")
	flag.DurationVar(&o.duration, "duration", 20*time.Second, "send window of each run (soak aside)")
	flag.DurationVar(&o.soak, "soak", 10*time.Minute, "send window of the soak run")
	soakBus := flag.String("soak-buses", "jetstream", "buses of the soak run (core, jetstream, embedded), one run each")
	flag.DurationVar(&o.step, "step", 8*time.Second, "send window of each saturation step")
	rates := flag.String("sat-rates", "10000,20000,40000,60000,80000,120000,160000,240000,320000", "saturation steps, lines/s")
	flag.IntVar(&o.satChannels, "sat-channels", 100, "channels of the saturation runs")
	flag.StringVar(&o.out, "out", "out/results.jsonl", "append every run's result here, one JSON line each")
	flag.StringVar(&o.md, "md", "REPORT.md", "Markdown report to write")
	flag.StringVar(&o.svg, "svg", "report.svg", "SVG chart to write")
	flag.StringVar(&o.notes, "notes", "report/notes.md", "Markdown inserted after the targets table (the analysis); missing: none")
	flag.StringVar(&o.render, "render", "", "only write the report from this results file")
	flag.StringVar(&o.service, "service", "out/ingress-egress", "the ingress-egress binary")
	flag.StringVar(&o.gopeer, "gopeer", "out/gopeer", "the bench/peers/gopeer binary")
	flag.StringVar(&o.floor, "floor", "out/floor", "the bench/peers/floor binary")
	flag.StringVar(&o.node, "node", "node", "node binary for the Twurple peer")
	flag.StringVar(&o.js, "twurple", "peers/twurple/peer.js", "the Twurple peer's peer.js")
	flag.BoolVar(&o.verbose, "v", false, "log the targets' output")
	flag.IntVar(&o.hk.channels, "hundredk-channels", 100_000, "hundredk: channels of the plain-TCP run (0: none)")
	flag.DurationVar(&o.hk.duration, "hundredk-duration", 5*time.Minute, "hundredk: send window of the plain-TCP run")
	flag.Float64Var(&o.hk.rate, "hundredk-rate", 50_000, "hundredk: lines/s over all channels")
	flag.IntVar(&o.hk.wsChannels, "hundredk-ws-channels", 10_000, "hundredk: channels of the WebSocket run (0: none)")
	flag.DurationVar(&o.hk.wsDuration, "hundredk-ws-duration", time.Minute, "hundredk: send window of the WebSocket run")
	flag.IntVar(&o.hk.rejoinChannels, "hundredk-rejoin-channels", 1000, "hundredk: channels of the restart run (0: none)")
	flag.StringVar(&o.hk.bus, "hundredk-bus", "core", "hundredk: bus (core, jetstream)")
	flag.IntVar(&o.hk.joinRate, "hundredk-join-rate", 0, "hundredk: the service's TWITCH_JOIN_RATE, and the fake server's limit (0: the defaults, 20 per 10 s; more only for a quick trial)")
	flag.IntVar(&o.hk.connectRate, "hundredk-connect-rate", 0, "hundredk: the service's TWITCH_CONNECT_RATE (0: its default, 5/s; more only for a quick trial)")
	flag.Parse()
	o.scenarios, o.targets, o.buses = splitList(*scen), splitList(*targets), splitList(*buses)
	o.soakBuses = splitList(*soakBus)
	for _, r := range splitList(*rates) {
		v, err := strconv.ParseFloat(r, 64)
		if err != nil {
			return fmt.Errorf("-sat-rates: %v", err)
		}
		o.satRates = append(o.satRates, v)
	}
	if o.render != "" {
		return render(&o, o.render)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := os.MkdirAll(filepath.Dir(o.out), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(o.out, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()

	exe, err := os.Executable()
	if err != nil {
		return err
	}
	busDir, err := os.MkdirTemp("", "load-bus-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(busDir)
	bus, err := load.StartBusProcess(ctx, exe, busDir)
	if err != nil {
		return err
	}
	defer bus.Stop()
	fmt.Fprintf(os.Stderr, "bus: %s (pid %d)\n", bus.URL, bus.PID)

	base := load.Config{NATSURL: bus.URL, BusPID: bus.PID, Service: abs(o.service), GoPeer: abs(o.gopeer),
		Node: o.node, TwurpleJS: abs(o.js), Floor: abs(o.floor), Log: os.Stderr}
	if !o.verbose {
		base.Log = progressOnly{}
	}
	save := func(r load.Result) {
		b, _ := json.Marshal(r)
		f.Write(append(b, '\n'))
	}
	do := func(c load.Config) load.Result {
		r, err := load.Run(ctx, c)
		if err != nil {
			r.Err = err.Error()
			fmt.Fprintf(os.Stderr, "%s %s/%s: %v\n", c.Scenario, c.Target, c.Bus, err)
		}
		save(r)
		return r
	}
	for _, s := range o.scenarios {
		if ctx.Err() != nil {
			break
		}
		switch s {
		case "one", "hundred", "thousand", "tenk":
			ch, rate := map[string]int{"one": 1, "hundred": 100, "thousand": 1000, "tenk": 10000}[s],
				map[string]float64{"one": -1, "hundred": 10000, "thousand": 10000, "tenk": 50000}[s]
			for _, b := range o.buses {
				for _, t := range o.targets {
					if err := load.TargetBus(t, b); err != nil {
						if t == load.Floor { // asked for by name: say why it does not run
							fmt.Fprintf(os.Stderr, "%s %s/%s skipped: %v\n", s, t, b, err)
						}
						continue
					}
					c := base
					c.Scenario, c.Target, c.Bus, c.Channels, c.Rate, c.Duration = s, t, b, ch, rate, o.duration
					c.JoinTimeout = 5 * time.Minute
					do(c)
				}
			}
		case "soak":
			for _, b := range o.soakBuses {
				c := base
				c.Scenario, c.Target, c.Bus, c.Channels, c.Rate, c.Duration = "soak", load.Ours, b, 1000, 10000, o.soak
				do(c)
			}
		case "saturate":
			for _, b := range o.buses {
				for _, t := range o.targets {
					if err := load.TargetBus(t, b); err != nil {
						if t == load.Floor {
							fmt.Fprintf(os.Stderr, "saturate %s/%s skipped: %v\n", t, b, err)
						}
						continue
					}
					for _, rate := range o.satRates {
						c := base
						c.Scenario, c.Target, c.Bus, c.Channels, c.Rate, c.Duration = "saturate", t, b, o.satChannels, rate, o.step
						c.Drain = 3 * time.Second
						r := do(c)
						if !r.Sustained() || ctx.Err() != nil {
							break
						}
					}
				}
			}
		case "hundredk":
			for _, c := range o.hk.configs(base, o.duration) {
				if ctx.Err() != nil {
					break
				}
				do(c)
			}
		case "ceiling":
			size := 1100
			c, err := load.Ceiling(ctx, bus.URL, size, o.duration)
			r := load.Result{Scenario: "ceiling", Target: "nats.go PublishAsync", Bus: "jetstream", Start: time.Now(),
				AckedPerSec: c, InPerSec: c, EnvelopeBytes: size, Load1: 0}
			if err != nil {
				r.Err = err.Error()
			}
			fmt.Fprintf(os.Stderr, "ceiling: %.0f msgs/s of %d B (%v)\n", c, size, err)
			save(r)
		default:
			return fmt.Errorf("unknown scenario %q", s)
		}
	}
	f.Close()
	return render(&o, o.out)
}

// hundredK is the 100,000-channel scenario: the service with its default
// join and connect limits (anonymous: 20 JOINs per 10 s per connection, 5
// new connections per second) against a fake server that enforces
// Twitch's 20 JOINs per 10 s per login, 90 channels per connection.
type hundredK struct {
	channels, wsChannels, rejoinChannels int
	joinRate, connectRate                int // 0: the defaults
	duration, wsDuration                 time.Duration
	rate                                 float64
	bus                                  string
}

// configs returns its runs: the plain-TCP run (join, rate for duration,
// restart and rejoin), the WebSocket run (the same over ws://, for
// wsDuration) and the restart run of rejoinChannels (10k lines/s for
// short, then a restart).
func (h hundredK) configs(base load.Config, short time.Duration) []load.Config {
	one := func(scenario, transport string, channels int, rate float64, d time.Duration) load.Config {
		c := base
		c.Scenario, c.Target, c.Bus, c.Transport = scenario, load.Ours, h.bus, transport
		c.Channels, c.Rate, c.Duration = channels, rate, d
		c.JoinRate, c.ConnectRate, c.ServerJoinLimit = -1, h.connectRate, 20
		if h.joinRate > 0 {
			c.JoinRate, c.ServerJoinLimit = h.joinRate, h.joinRate
		}
		c.Restart = true
		// Joining 1,112 connections at 5 per second and 90 channels each at
		// 20 per 10 s takes ~4.5 min; the bound leaves room for a busy box.
		c.JoinTimeout = 20 * time.Minute
		c.Drain = 10 * time.Second
		return c
	}
	var out []load.Config
	if h.channels > 0 {
		out = append(out, one("hundredk", "tcp", h.channels, h.rate, h.duration))
	}
	if h.wsChannels > 0 {
		out = append(out, one("hundredk-ws", "ws", h.wsChannels, h.rate, h.wsDuration))
	}
	if h.rejoinChannels > 0 {
		out = append(out, one("rejoin", "tcp", h.rejoinChannels, 10_000, short))
	}
	return out
}

func abs(p string) string {
	a, err := filepath.Abs(p)
	if err != nil {
		return p
	}
	return a
}

// progressOnly keeps the harness's own progress lines (they start with a
// time) and drops the targets' output.
type progressOnly struct{}

func (progressOnly) Write(b []byte) (int, error) {
	if len(b) > 0 && b[0] != '[' {
		os.Stderr.Write(b)
	}
	return len(b), nil
}

// render reads results (one JSON line each; for a scenario, target and bus
// run more than once, the last run counts, saturation steps aside) and
// writes the report.
func render(o *options, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	var rs []load.Result
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		var r load.Result
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return fmt.Errorf("%s: %v", path, err)
		}
		rs = append(rs, r)
	}
	if err := sc.Err(); err != nil {
		return err
	}
	rs = slices.DeleteFunc(rs, func(r load.Result) bool { return r.Scenario == "" })
	d := report.Data{Machine: report.ThisMachine(), Results: rs}
	if b, err := os.ReadFile(o.notes); err == nil {
		d.Notes = string(b)
	}
	md, err := os.Create(o.md)
	if err != nil {
		return err
	}
	if err := report.Markdown(md, &d, filepath.Base(o.svg)); err != nil {
		md.Close()
		return err
	}
	if err := md.Close(); err != nil {
		return err
	}
	svg, err := os.Create(o.svg)
	if err != nil {
		return err
	}
	if err := report.SVG(svg, &d); err != nil {
		svg.Close()
		return err
	}
	return svg.Close()
}
