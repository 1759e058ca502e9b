package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/ingress-egress/ingress-egress/envelope"
	"github.com/ingress-egress/ingress-egress/ircv3"
)

// runEncode implements `ingress-egress encode`: it reads raw IRC lines (LF
// or CRLF separated) from stdin and writes the envelope of each line that
// yields one to stdout, one JSON object per line (JSONL), in input order.
// It streams: output is flushed whenever no more input is buffered. At the
// end it prints to stderr how many lines it read and skipped, and why.
//
// --now fixes the receive time and --seed the random ids (traceId, and id
// for a line without an id tag), so that the output is reproducible.
func runEncode(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("encode", flag.ContinueOnError)
	fs.SetOutput(stderr)
	now := fs.String("now", "", "receive time of every line, RFC 3339 (default: the clock when the line is read)")
	seed := fs.Int64("seed", 0, "seed of the random ids, for reproducible output (default: crypto/rand)")
	kinds := fs.String("kinds", "privmsg", "kinds that yield envelopes, comma-separated: privmsg, usernotice, clearchat, clearmsg")
	typePrefix := fs.String("type-prefix", envelope.DefaultTypePrefix, "prefix of the envelope type")
	finalDest := fs.String("finalization-destination", envelope.DefaultFinalizationDestination, "finalizationDestination of every envelope")
	maxLine := fs.Int("max-line", ircv3.DefaultMaxLine, "longest accepted line in bytes, without its line ending")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: ingress-egress encode [flags] < lines > envelopes.jsonl\n\nWrites one JSON envelope per input line that yields one; counts go to stderr.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "encode: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	k, err := envelope.ParseKinds(*kinds)
	if err != nil {
		fmt.Fprintln(stderr, "encode:", err)
		return 2
	}
	var fixed time.Time
	useClock := *now == ""
	if !useClock {
		if fixed, err = time.Parse(time.RFC3339Nano, *now); err != nil {
			fmt.Fprintf(stderr, "encode: --now: %v\n", err)
			return 2
		}
	}
	enc := envelope.NewEncoder(&envelope.Options{TypePrefix: *typePrefix, FinalizationDestination: *finalDest, Kinds: k})
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "seed" {
			enc.Seed(uint64(*seed))
		}
	})

	var c struct{ lines, envelopes, notEnabled, noChannel, noText, unparsable, tooLong int }
	report := func() {
		fmt.Fprintf(stderr, "encode: %d lines, %d envelopes, %d skipped (%d not enabled, %d without channel, %d without text, %d unparsable, %d too long)\n",
			c.lines, c.envelopes, c.lines-c.envelopes, c.notEnabled, c.noChannel, c.noText, c.unparsable, c.tooLong)
	}
	out := bufio.NewWriterSize(stdout, 64<<10)
	rd := ircv3.NewReader(stdin, *maxLine)
	var m ircv3.Message
	buf := make([]byte, 0, 16<<10)
	for {
		line, err := rd.ReadLine()
		switch {
		case err == nil || errors.Is(err, ircv3.ErrTruncated):
			// A last line without a newline is still a line.
		case errors.Is(err, ircv3.ErrLineTooLong):
			c.lines++
			c.tooLong++
			continue
		case errors.Is(err, io.EOF):
			if err := out.Flush(); err != nil {
				fmt.Fprintln(stderr, "encode:", err)
				return 1
			}
			report()
			return 0
		default:
			out.Flush()
			report()
			fmt.Fprintln(stderr, "encode: read:", err)
			return 1
		}
		c.lines++
		at := fixed
		if useClock {
			at = time.Now()
		}
		if err := m.Parse(line); err != nil {
			c.unparsable++
			continue
		}
		buf, err = enc.Append(buf[:0], line, &m, at)
		switch err {
		case nil:
			c.envelopes++
			buf = append(buf, '\n')
			if _, err := out.Write(buf); err != nil {
				fmt.Fprintln(stderr, "encode:", err)
				return 1
			}
		case envelope.ErrNotEnabled:
			c.notEnabled++
		case envelope.ErrNoChannel:
			c.noChannel++
		case envelope.ErrNoText:
			c.noText++
		}
		if rd.Buffered() == 0 {
			if err := out.Flush(); err != nil {
				fmt.Fprintln(stderr, "encode:", err)
				return 1
			}
		}
	}
}
