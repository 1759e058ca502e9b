// Command ingress-egress reads Twitch chat over IRCv3 and publishes every
// message as a JSON envelope to a message bus.
//
// Subcommands:
//
//	ingress-egress parse     raw IRC lines on stdin → one JSON object per line
//	ingress-egress version   print the version
package main

import (
	"fmt"
	"io"
	"os"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	cmd := ""
	if len(args) > 0 {
		cmd = args[0]
	}
	switch cmd {
	case "parse":
		return runParse(args[1:], stdin, stdout, stderr)
	case "version":
		fmt.Fprintf(stdout, "ingress-egress %s\n", version)
		return 0
	case "help", "-h", "-help", "--help":
		usage(stdout)
		return 0
	default:
		usage(stderr)
		return 2
	}
}

func usage(w io.Writer) {
	fmt.Fprint(w, `usage: ingress-egress <command> [flags]

commands:
  parse     read raw IRC lines on stdin, write one JSON object per line
  version   print the version
`)
}
