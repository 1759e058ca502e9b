package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/ingress-egress/ingress-egress/ircv3"
)

// parsedLine is one output object of `parse`, in the atoms vocabulary of
// the ircdocs parser tests.
type parsedLine struct {
	Tags   map[string]string `json:"tags,omitempty"`
	Source string            `json:"source,omitempty"`
	Verb   string            `json:"verb"`
	Params []string          `json:"params"`
}

type parseError struct {
	Error string `json:"error"`
}

// runParse reads raw lines (LF or CRLF separated) from stdin and writes one
// JSON object per input line, in input order, streaming.
func runParse(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("parse", flag.ContinueOnError)
	fs.SetOutput(stderr)
	maxLine := fs.Int("max-line", ircv3.DefaultMaxLine, "longest accepted line in bytes, without its line ending")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: ingress-egress parse [--max-line N] < lines\n\nWrites {\"tags\",\"source\",\"verb\",\"params\"} or {\"error\"} per input line.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	out := bufio.NewWriterSize(stdout, 64<<10)
	enc := json.NewEncoder(out)
	enc.SetEscapeHTML(false)
	rd := ircv3.NewReader(stdin, *maxLine)
	var m ircv3.Message
	for {
		line, err := rd.ReadLine()
		switch {
		case err == nil || errors.Is(err, ircv3.ErrTruncated):
			// A last line without a newline is still a line.
		case errors.Is(err, ircv3.ErrLineTooLong):
			enc.Encode(parseError{err.Error()})
			continue
		case errors.Is(err, io.EOF):
			if err := out.Flush(); err != nil {
				fmt.Fprintln(stderr, "parse:", err)
				return 1
			}
			return 0
		default:
			out.Flush()
			fmt.Fprintln(stderr, "parse: read:", err)
			return 1
		}
		if err := m.Parse(line); err != nil {
			enc.Encode(parseError{err.Error()})
			continue
		}
		p := parsedLine{Source: string(m.Source), Verb: string(m.Command), Params: make([]string, 0, m.NumParams())}
		it := m.TagIter()
		for it.Next() {
			if p.Tags == nil {
				p.Tags = make(map[string]string)
			}
			p.Tags[string(it.Key())] = string(ircv3.AppendUnescaped(nil, it.Value()))
		}
		for _, param := range m.Params() {
			p.Params = append(p.Params, string(param))
		}
		if err := enc.Encode(p); err != nil {
			fmt.Fprintln(stderr, "parse: write:", err)
			return 1
		}
	}
}
