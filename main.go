// Command ingress-egress reads Twitch chat over IRCv3 and publishes every
// message as a JSON envelope to a message bus.
//
// With no subcommand it runs the service (ingress-egress --help lists every
// setting). Subcommands:
//
//	ingress-egress parse          raw IRC lines on stdin → one JSON object per line
//	ingress-egress encode         raw IRC lines on stdin → one JSON envelope per line (JSONL)
//	ingress-egress replay FILE|-  publish a capture through the envelope path to the bus
//	ingress-egress version        print the version
package main

import (
	"fmt"
	"io"
	"os"
)

// version is set at build time with -ldflags "-X main.version=..."; without
// it, currentBuild (version.go) takes the version the go command stamped.
var version = "dev"

func main() {
	os.Exit(run(os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr))
}

func run(args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) int {
	cmd := ""
	if len(args) > 0 {
		cmd = args[0]
	}
	switch cmd {
	case "", "serve":
		if cmd == "serve" {
			args = args[1:]
		}
		return runService(args, getenv, stdout, stderr)
	case "parse":
		return runParse(args[1:], stdin, stdout, stderr)
	case "encode":
		return runEncode(args[1:], stdin, stdout, stderr)
	case "replay":
		return runReplay(args[1:], getenv, stdin, stdout, stderr)
	case "version":
		fmt.Fprintf(stdout, "ingress-egress %s\n", currentBuild())
		return 0
	case "help":
		usage(stdout)
		return 0
	default:
		if cmd[0] == '-' { // flags of the service
			return runService(args, getenv, stdout, stderr)
		}
		usage(stderr)
		return 2
	}
}

func usage(w io.Writer) {
	fmt.Fprint(w, `usage: ingress-egress [flags]            run the service (--help lists every setting)
       ingress-egress <command> [flags]

commands:
  parse          read raw IRC lines on stdin, write one JSON object per line
  encode         read raw IRC lines on stdin, write one envelope per line that yields one
  replay FILE|-  publish a capture of raw lines through the envelope path to the bus
  version        print the version
`)
}
