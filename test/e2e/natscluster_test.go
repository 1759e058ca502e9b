package e2e

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ingress-egress/ingress-egress/test/harness"
)

// natsNodes is a three-node NATS JetStream cluster of nats-server
// processes on loopback, built without the race detector: under 2,000
// lines/s published by two replicas, nodes in the race-instrumented test
// process took most of the machine. The nodes do not advertise their
// client URLs: a client knows only those it was given (a proxy, for an
// instance cut off).
type natsNodes struct {
	t        *testing.T
	bin      string
	ports    []int // client
	monitors []int
	routes   []int
	dirs     []string
	procs    []*harness.Proc
}

func startNATSNodes(t *testing.T, n int) *natsNodes {
	t.Helper()
	c := &natsNodes{t: t, bin: harness.NATSServerBinary(t), procs: make([]*harness.Proc, n)}
	used := map[int]bool{}
	port := func() int {
		for {
			if p := harness.FreePort(t); !used[p] {
				used[p] = true
				return p
			}
		}
	}
	dir := t.TempDir()
	for i := range n {
		c.ports = append(c.ports, port())
		c.monitors = append(c.monitors, port())
		c.routes = append(c.routes, port())
		c.dirs = append(c.dirs, filepath.Join(dir, fmt.Sprintf("n%d", i+1)))
	}
	for i := range n {
		c.start(i)
	}
	c.waitJetStream()
	return c
}

// start starts node i (again, on its ports and store) and waits until it
// answers.
func (c *natsNodes) start(i int) {
	c.t.Helper()
	var routes []string
	for _, r := range c.routes {
		routes = append(routes, "nats://127.0.0.1:"+strconv.Itoa(r))
	}
	p := harness.StartProgram(c.t, c.bin, map[string]string{"HOME": c.dirs[i]},
		"-a", "127.0.0.1", "-p", strconv.Itoa(c.ports[i]), "-m", strconv.Itoa(c.monitors[i]),
		"-js", "-sd", c.dirs[i], "-n", fmt.Sprintf("n%d", i+1),
		"--cluster_name", "c1", "--cluster", "nats://127.0.0.1:"+strconv.Itoa(c.routes[i]),
		"--routes", strings.Join(routes, ","), "--no_advertise=true")
	c.procs[i] = p
	url := "http://127.0.0.1:" + strconv.Itoa(c.monitors[i]) + "/healthz?js-server-only=true"
	harness.WaitFor(c.t, 30*time.Second, 20*time.Millisecond, fmt.Sprintf("nats node %d up", i+1), func() (bool, string) {
		select {
		case <-p.Done():
			c.t.Fatalf("nats node %d exited:\n%s", i+1, harness.Tail(p.Stderr(), 4000))
		default:
		}
		resp, err := harness.HTTPClient.Get(url)
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, resp.Status
	})
}

// Stop kills node i with SIGKILL: a crash.
func (c *natsNodes) Stop(i int) {
	c.t.Helper()
	c.procs[i].Signal(syscall.SIGKILL)
	if _, ok := c.procs[i].Wait(10 * time.Second); !ok {
		c.t.Fatalf("nats node %d still running 10 s after SIGKILL", i+1)
	}
}

// URL returns the client URLs of every node.
func (c *natsNodes) URL() string {
	var us []string
	for i := range c.ports {
		us = append(us, c.NodeURL(i))
	}
	return strings.Join(us, ",")
}

// NodeURL returns the client URL of node i.
func (c *natsNodes) NodeURL(i int) string { return "nats://127.0.0.1:" + strconv.Itoa(c.ports[i]) }

// Connect returns a client connection that fails over between the nodes;
// closed when the test ends.
func (c *natsNodes) Connect() *nats.Conn {
	c.t.Helper()
	nc, err := nats.Connect(c.URL(), nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond),
		nats.RetryOnFailedConnect(true), nats.ReconnectBufSize(-1))
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(nc.Close)
	return nc
}

// waitJetStream waits until a JetStream request succeeds: the meta leader
// is elected.
func (c *natsNodes) waitJetStream() {
	c.t.Helper()
	js, err := jetstream.New(c.Connect())
	if err != nil {
		c.t.Fatal(err)
	}
	harness.WaitFor(c.t, 30*time.Second, 50*time.Millisecond, "JetStream available in the NATS cluster", func() (bool, string) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_, err := js.AccountInfo(ctx)
		if err != nil {
			return false, err.Error()
		}
		return true, ""
	})
}

// StreamLeader returns the index of the node that leads stream, or -1.
func (c *natsNodes) StreamLeader(stream string) int {
	c.t.Helper()
	js, err := jetstream.New(c.Connect())
	if err != nil {
		c.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, stream)
	if err != nil || s.CachedInfo().Cluster == nil {
		return -1
	}
	name := s.CachedInfo().Cluster.Leader
	for i := range c.ports {
		if name == fmt.Sprintf("n%d", i+1) {
			return i
		}
	}
	return -1
}
