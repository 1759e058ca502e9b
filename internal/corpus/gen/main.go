// Command gen writes the benchmark corpus: `go generate ./internal/corpus`
// runs it as `go run ./gen -seed 1 -n 10000 -o ../../ircv3/testdata/twitch-corpus.irc`.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/ingress-egress/ingress-egress/internal/corpus"
)

func main() {
	seed := flag.Int64("seed", corpus.Seed, "generator seed")
	n := flag.Int("n", corpus.Lines, "number of lines")
	out := flag.String("o", "", "output file (default stdout)")
	flag.Parse()
	if err := run(*seed, *n, *out); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

func run(seed int64, n int, out string) error {
	if out == "" {
		return corpus.Write(os.Stdout, seed, n)
	}
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	if err := corpus.Write(f, seed, n); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
