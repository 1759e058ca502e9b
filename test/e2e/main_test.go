package e2e

// End-to-end tests of the service binary, run as a process by package
// test/harness: the fake Twitch server, NATS, the fake OAuth service and
// the emulators on loopback, the bus read back with a client.

import (
	"testing"

	"github.com/ingress-egress/ingress-egress/test/harness"
)

func TestMain(m *testing.M) { harness.Main(m) }
