package testenv

import (
	"net"
	"testing"
)

func TestPubSubEmulatorStartsAndStops(t *testing.T) {
	addr := PubSubEmulator(t)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	c.Close()
}
