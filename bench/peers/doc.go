// Package peers holds the smoke tests of the comparison peers: gopeer (the Go
// program a Go user would write: go-twitch-irc + encoding/json + nats.go) and
// twurple (the seed's Node stack: @twurple/chat + nats). Each test runs the
// peer as a process against a loopback IRC server written in the test and an
// in-process nats-server, sends K tagged PRIVMSGs, and checks with bench/loss
// that every one arrived on the bus exactly once. See README.md.
package peers
