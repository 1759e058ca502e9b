// Package natstest starts NATS JetStream clusters in the test process, on
// 127.0.0.1, for tests of what runs on a NATS cluster: nodes routed to one
// another that a test can stop (a crash, as far as the others can tell)
// and start again.
package natstest

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Cluster is a cluster of JetStream nodes running in the test process,
// routed to one another on loopback.
type Cluster struct {
	t     testing.TB
	opts  []*server.Options
	nodes []*server.Server // nil when stopped
}

// freePorts returns n distinct free TCP ports on 127.0.0.1.
func freePorts(t testing.TB, n int) []int {
	t.Helper()
	var ls []net.Listener
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		l.Close()
	}
	return ports
}

// StartCluster starts n JetStream nodes in one cluster (one node: a
// plain server) and waits until JetStream answers. They are stopped when the test ends.
//
// Each mod is applied to every node's options before it starts (e.g.
// Cluster.NoAdvertise, so that clients know only the URLs they were given).
func StartCluster(t testing.TB, n int, mod ...func(*server.Options)) *Cluster {
	t.Helper()
	c := &Cluster{t: t}
	routePorts := freePorts(t, n)
	clientPorts := freePorts(t, n)
	var routes []string
	for _, p := range routePorts {
		routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", p))
	}
	dir := t.TempDir()
	for i := range n {
		o := &server.Options{
			ServerName: fmt.Sprintf("n%d", i+1),
			Host:       "127.0.0.1",
			Port:       clientPorts[i],
			JetStream:  true,
			StoreDir:   filepath.Join(dir, fmt.Sprintf("n%d", i+1)),
			NoLog:      true,
			NoSigs:     true,
			Cluster: server.ClusterOpts{
				Name: "c1",
				Host: "127.0.0.1",
				Port: routePorts[i],
			},
			Routes: server.RoutesFromStr(strings.Join(routes, ",")),
		}
		if n == 1 {
			// A single node is a plain server: a JetStream cluster of
			// one would wait for peers.
			o.Cluster, o.Routes = server.ClusterOpts{}, nil
		}
		for _, f := range mod {
			f(o)
		}
		c.opts = append(c.opts, o)
		c.nodes = append(c.nodes, nil)
		c.Start(i)
	}
	t.Cleanup(func() {
		for i := range c.nodes {
			c.Stop(i)
		}
	})
	c.WaitJetStream()
	return c
}

// Start starts node i (again, on its ports and store).
func (c *Cluster) Start(i int) {
	c.t.Helper()
	s, err := server.NewServer(c.opts[i])
	if err != nil {
		c.t.Fatal(err)
	}
	go s.Start()
	if !s.ReadyForConnections(60 * time.Second) {
		c.t.Fatalf("nats node %d not ready", i+1)
	}
	c.nodes[i] = s
}

// Stop shuts node i down (a crash, as far as the others can tell: its
// routes and clients drop).
func (c *Cluster) Stop(i int) {
	if s := c.nodes[i]; s != nil {
		s.Shutdown()
		s.WaitForShutdown()
		c.nodes[i] = nil
	}
}

// URL returns the client URLs of every node, for a client that fails over.
func (c *Cluster) URL() string {
	var us []string
	for _, o := range c.opts {
		us = append(us, fmt.Sprintf("nats://127.0.0.1:%d", o.Port))
	}
	return strings.Join(us, ",")
}

// WaitJetStream waits until a JetStream request succeeds through the
// cluster.
func (c *Cluster) WaitJetStream() {
	c.t.Helper()
	nc := c.Connect()
	defer nc.Close()
	js, _ := jetstream.New(nc)
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err := js.AccountInfo(ctx)
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("JetStream not available in the cluster: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Connect returns a client connection that fails over between the nodes
// and never gives up; closed when the test ends.
func (c *Cluster) Connect() *nats.Conn {
	c.t.Helper()
	nc, err := nats.Connect(c.URL(), nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond),
		nats.RetryOnFailedConnect(true), nats.ReconnectBufSize(-1),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			if testing.Verbose() {
				subj := ""
				if sub != nil {
					subj = sub.Subject
				}
				c.t.Logf("nats async error on %q: %v", subj, err)
			}
		}))
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(nc.Close)
	return nc
}

// StreamLeader returns the index of the node leading stream, or -1.
func (c *Cluster) StreamLeader(stream string) int {
	for i, s := range c.nodes {
		if s != nil && s.JetStreamIsStreamLeader(server.DEFAULT_GLOBAL_ACCOUNT, stream) {
			return i
		}
	}
	return -1
}

// NodeURL returns the client URL of node i.
func (c *Cluster) NodeURL(i int) string { return fmt.Sprintf("nats://127.0.0.1:%d", c.opts[i].Port) }

// Size returns the number of nodes.
func (c *Cluster) Size() int { return len(c.opts) }
