package outbox_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"cloud.google.com/go/pubsub/v2/pstest"
	"github.com/googleapis/gax-go/v2"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/ingress-egress/ingress-egress/bus"
	"github.com/ingress-egress/ingress-egress/bus/outbox"
	"github.com/ingress-egress/ingress-egress/bus/pubsubbus"
)

const project = "test-project"

// outage is a pstest reactor for Publish: while down, every call fails
// UNAVAILABLE (nothing is stored), as when Pub/Sub cannot be reached.
type outage struct {
	down   atomic.Bool
	failed atomic.Int64
}

func (o *outage) React(any) (bool, any, error) {
	if o.down.Load() {
		o.failed.Add(1)
		return true, nil, status.Error(codes.Unavailable, "pubsub is down")
	}
	return false, nil, nil
}

// TestRemotePubSubOutage: Pub/Sub refuses every publish for a while with
// messages being published; afterwards every message is stored by Pub/Sub
// once, with its attributes.
func TestRemotePubSubOutage(t *testing.T) {
	r := &outage{}
	srv := pstest.NewServer(pstest.ServerReactorOption{FuncName: "Publish", Reactor: r})
	t.Cleanup(func() { srv.Close() })
	conn, err := grpc.NewClient(srv.Addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	c, err := pubsub.NewClient(context.Background(), project, option.WithGRPCConn(conn))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	// No library retries: the errors reach the outbox.
	c.TopicAdminClient.CallOptions.Publish = []gax.CallOption{gax.WithRetry(func() gax.Retryer {
		return gax.OnCodes(nil, gax.Backoff{})
	})}
	for _, topic := range []string{ingress, finalize} {
		if _, err := c.TopicAdminClient.CreateTopic(context.Background(), &pubsubpb.Topic{Name: "projects/" + project + "/topics/" + topic}); err != nil {
			t.Fatal(err)
		}
	}
	d, err := pubsubbus.New(context.Background(), pubsubbus.Options{Client: c, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	ob := openOutbox(t, outbox.Options{Dir: t.TempDir(), Remote: d})
	p := newPublisher(ob, bus.Options{})
	const n = 6000
	var published atomic.Int64
	pubErr := make(chan error, 1)
	go func() {
		for i := range n {
			if err := p.Publish(context.Background(), message(i)); err != nil {
				pubErr <- err
				return
			}
			published.Store(int64(i + 1))
			if i%500 == 499 {
				time.Sleep(2 * time.Millisecond)
			}
		}
		pubErr <- nil
	}()
	waitFor(t, 60*time.Second, "1,000 forwarded", func() bool { return ob.Stats().Forwarded >= 1000 })
	r.down.Store(true)
	waitFor(t, 60*time.Second, "4,000 published during the outage", func() bool { return published.Load() >= 4000 })
	waitFor(t, 30*time.Second, "the outbox to report the remote degraded", func() bool { return ob.Stats().Remote == "degraded" })
	if st := ob.Stats(); !st.Ready || !p.Ready() || st.Messages == 0 {
		t.Errorf("while Pub/Sub is down: outbox ready %v, publisher ready %v, %d messages stored; want true, true, > 0", st.Ready, p.Ready(), st.Messages)
	}
	r.down.Store(false)
	if err := <-pubErr; err != nil {
		t.Fatal(err)
	}
	drain(t, p, ob, 120*time.Second)
	st := ob.Stats()
	if st.Forwarded != n || st.Unavailable == 0 || r.failed.Load() == 0 || st.Remote != "ok" {
		t.Errorf("after recovery: stats = %+v, %d publish calls refused", st, r.failed.Load())
	}
	closePublisher(t, p)

	seen := map[string]int{}
	for _, m := range srv.Messages() {
		if m.Topic != "projects/"+project+"/topics/"+ingress {
			t.Errorf("message on %s", m.Topic)
			continue
		}
		id := m.Attributes[pubsubbus.AttrMsgID]
		seen[id]++
		var i int
		if _, err := fmtSscanf(id, &i); err != nil || string(m.Data) != string(envelope(i)) ||
			m.Attributes[pubsubbus.AttrTraceParent] != message(i).TraceParent {
			t.Fatalf("stored message %q: %.40q attributes %v", id, m.Data, m.Attributes)
		}
	}
	dups := 0
	for _, c := range seen {
		if c > 1 {
			dups++
		}
	}
	if len(seen) != n || dups != 0 {
		t.Errorf("Pub/Sub holds %d distinct messages (%d duplicated), want %d once each", len(seen), dups, n)
	}
	t.Logf("%d published, %d publish calls refused during the outage, %d stored by Pub/Sub, %d duplicated", n, r.failed.Load(), len(seen), dups)
}
