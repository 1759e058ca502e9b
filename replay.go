package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/ingress-egress/ingress-egress/ircv3"
	"github.com/ingress-egress/ingress-egress/twitch"
)

// runReplay publishes a capture of raw lines (as `parse` reads them)
// through the same envelope path to the configured bus: for backfills and
// load tests. Every line's receive time is the time it is read.
func runReplay(args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 || (len(args[0]) > 1 && args[0][0] == '-') {
		fmt.Fprintln(stderr, "usage: ingress-egress replay FILE|- [service flags]   (--help lists them)")
		if len(args) > 0 && (args[0] == "--help" || args[0] == "-h") {
			return 0
		}
		return 2
	}
	name := args[0]
	c, code := loadConfig(args[1:], getenv, stdout, stderr)
	if c == nil {
		return code
	}
	in := stdin
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			fmt.Fprintln(stderr, "replay:", err)
			return 1
		}
		defer f.Close()
		in = f
	}
	log := newLogger(stderr, c.logFormat, parseLevel(c.logLevel), "")
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	// The pipeline alone: replay needs no Twitch connection and no HTTP.
	p, err := newPipeline(ctx, c, getenv, stdout, log)
	if err != nil {
		fmt.Fprintln(stderr, "replay:", err)
		return 1
	}
	defer p.close()
	pub, ing := p.pub, p.ingest

	progress := isTerminal(stderr)
	rd := ircv3.NewReader(in, c.maxLine)
	var l twitch.Line
	var lines, parseErrs, oversized uint64
	start, lastShown := time.Now(), time.Now()
	for ctx.Err() == nil {
		raw, err := rd.ReadLine()
		if errors.Is(err, ircv3.ErrLineTooLong) {
			oversized++
			continue
		}
		if err != nil && !errors.Is(err, ircv3.ErrTruncated) {
			if !errors.Is(err, io.EOF) {
				fmt.Fprintln(stderr, "replay: read:", err)
			}
			break
		}
		lines++
		if perr := l.Msg.Parse(raw); perr != nil {
			parseErrs++
			continue
		}
		l.Raw, l.Received = raw, time.Now()
		if err := ing.HandleLine(ctx, &l); err != nil {
			break
		}
		if progress && time.Since(lastShown) > 250*time.Millisecond {
			lastShown = time.Now()
			st := pub.Stats()
			fmt.Fprintf(stderr, "\rreplay: %d lines, %d envelopes, %d acknowledged, %.0f lines/s   ", lines, ing.envelopes.Load(), st.Acked, float64(lines)/time.Since(start).Seconds())
		}
	}
	if progress {
		fmt.Fprintln(stderr)
	}
	cctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	undrained := false
	if p.outbox != nil {
		// Wait until the outbox forwarded what it stored: what it could
		// not forward in time stays in DATA_DIR/outbox for the next start.
		if err := pub.Flush(cctx); err == nil {
			if err := p.outbox.Drain(cctx); err != nil {
				undrained = true
				fmt.Fprintf(stderr, "replay: %v; they stay in the outbox under DATA_DIR and are forwarded at the next start\n", err)
			}
		}
	}
	report, cerr := pub.Close(cctx)
	st := pub.Stats()
	ic := ing.counters()
	elapsed := time.Since(start)
	fmt.Fprintf(stderr, "replay: %d lines in %v (%.0f lines/s): %d envelopes, %d acknowledged, %d failure events, %d lost, %d undelivered; skipped: %d parse errors, %d oversized, %d not published kinds, %d without envelope\n",
		lines, elapsed.Round(time.Millisecond), float64(lines)/elapsed.Seconds(), ic.Envelopes, st.Acked, st.FailureEvents, st.Lost, len(report.Undelivered),
		parseErrs, oversized, ic.NotEnabled, ic.NoEnvelope)
	if cerr != nil || st.Lost > 0 || len(report.Undelivered) > 0 || ctx.Err() != nil || undrained {
		return 1
	}
	return 0
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
