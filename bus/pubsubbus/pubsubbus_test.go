package pubsubbus_test

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
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
	"github.com/ingress-egress/ingress-egress/bus/pubsubbus"
	"github.com/ingress-egress/ingress-egress/internal/testenv"
)

const (
	project  = "test-project"
	ingress  = "test.internal.ingress.v1"
	finalize = "test.internal.finalize.v1"
)

var quiet = slog.New(slog.DiscardHandler)

func message(i int) bus.Message {
	return bus.Message{Subject: ingress, Data: fmt.Appendf(nil, `{"v":"1","id":"%d"}`, i),
		MsgID: fmt.Sprintf("msg-%d", i), TraceParent: fmt.Sprintf("00-%032x-%016x-01", i+1, i+1),
		ContentType: "application/json"}
}

func createTopicAndSub(t *testing.T, c *pubsub.Client, topic, sub string) {
	t.Helper()
	ctx := context.Background()
	tn := "projects/" + project + "/topics/" + topic
	if _, err := c.TopicAdminClient.CreateTopic(ctx, &pubsubpb.Topic{Name: tn}); err != nil && status.Code(err) != codes.AlreadyExists {
		t.Fatal(err)
	}
	if _, err := c.SubscriptionAdminClient.CreateSubscription(ctx, &pubsubpb.Subscription{
		Name: "projects/" + project + "/subscriptions/" + sub, Topic: tn, AckDeadlineSeconds: 60,
	}); err != nil {
		t.Fatal(err)
	}
}

// TestEmulatorRoundTrip publishes through the gcloud emulator and receives
// back exactly what was sent, attributes included.
func TestEmulatorRoundTrip(t *testing.T) {
	addr := testenv.PubSubEmulator(t)
	t.Setenv("PUBSUB_EMULATOR_HOST", addr)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	admin, err := pubsub.NewClient(ctx, project)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	createTopicAndSub(t, admin, ingress, "sub-ingress")

	d, err := pubsubbus.New(ctx, pubsubbus.Options{ProjectID: project, CreateTopics: true, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	p := bus.New(d, bus.Options{Logger: quiet, Prefix: "test."})
	const n = 200
	for i := range n {
		m := message(i)
		if i == 5 {
			m.MsgID = "bad\xffutf8" // not valid UTF-8: left out of the attributes
		}
		if err := p.Publish(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	rep, err := p.Close(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if s := rep.Stats; s.Acked != n || s.Lost != 0 || s.FailureEvents != 0 {
		t.Fatalf("stats = %+v", s)
	}

	var mu sync.Mutex
	got := map[string]*pubsub.Message{}
	rctx, rcancel := context.WithTimeout(ctx, 30*time.Second)
	defer rcancel()
	err = admin.Subscriber("sub-ingress").Receive(rctx, func(_ context.Context, m *pubsub.Message) {
		m.Ack()
		mu.Lock()
		defer mu.Unlock()
		got[string(m.Data)] = m
		if len(got) == n {
			rcancel()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != n {
		t.Fatalf("received %d distinct messages, want %d", len(got), n)
	}
	for i := range n {
		want := message(i)
		m := got[string(want.Data)]
		if m == nil {
			t.Fatalf("message %d not received", i)
		}
		wantID := want.MsgID
		if i == 5 {
			wantID = ""
		}
		if m.Attributes[pubsubbus.AttrMsgID] != wantID || m.Attributes[pubsubbus.AttrTraceParent] != want.TraceParent ||
			m.Attributes[pubsubbus.AttrContentType] != "application/json" {
			t.Errorf("message %d attributes = %v", i, m.Attributes)
		}
		if m.OrderingKey != "" {
			t.Errorf("message %d has ordering key %q", i, m.OrderingKey)
		}
	}
}

// scripted is a pstest reactor for Publish: it fails calls by a script, can
// slow every call, and otherwise lets the fake store the messages.
type scripted struct {
	calls atomic.Int64
	fail  func(call int64, req *pubsubpb.PublishRequest) error
	delay time.Duration
}

func (s *scripted) React(req any) (bool, any, error) {
	n := s.calls.Add(1)
	if s.delay > 0 {
		time.Sleep(s.delay)
	}
	if s.fail != nil {
		if err := s.fail(n, req.(*pubsubpb.PublishRequest)); err != nil {
			return true, nil, err
		}
	}
	return false, nil, nil
}

// newFake starts pstest with the reactor and returns a client whose own
// publish retries are off, so that errors reach bus.Publisher.
func newFake(t *testing.T, r *scripted) (*pstest.Server, *pubsub.Client) {
	t.Helper()
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
	// No library retries: a retryer that retries no code.
	c.TopicAdminClient.CallOptions.Publish = []gax.CallOption{gax.WithRetry(func() gax.Retryer {
		return gax.OnCodes(nil, gax.Backoff{})
	})}
	for _, topic := range []string{ingress, finalize} {
		if _, err := c.TopicAdminClient.CreateTopic(context.Background(), &pubsubpb.Topic{Name: "projects/" + project + "/topics/" + topic}); err != nil {
			t.Fatal(err)
		}
	}
	return srv, c
}

func TestScriptedFailures(t *testing.T) {
	for _, tc := range []struct {
		name      string
		fail      func(call int64, req *pubsubpb.PublishRequest) error
		delay     time.Duration
		n         int
		wantAcked uint64
		wantEv    uint64
		wantLost  uint64
		check     func(t *testing.T, s bus.Stats)
	}{
		{"errors then success", func(call int64, _ *pubsubpb.PublishRequest) error {
			if call <= 2 {
				return status.Error(codes.Internal, "transient")
			}
			return nil
		}, 0, 50, 50, 0, 0, func(t *testing.T, s bus.Stats) {
			if s.Retries == 0 {
				t.Errorf("Retries = 0, want > 0")
			}
		}},
		{"unavailable then success", func(call int64, _ *pubsubpb.PublishRequest) error {
			if call <= 3 {
				return status.Error(codes.Unavailable, "down")
			}
			return nil
		}, 0, 50, 50, 0, 0, func(t *testing.T, s bus.Stats) {
			if s.Unavailable == 0 || s.Retries != 0 {
				t.Errorf("Unavailable %d Retries %d, want >0 and 0", s.Unavailable, s.Retries)
			}
		}},
		{"permanent error becomes a failure event", func(_ int64, req *pubsubpb.PublishRequest) error {
			if req.Topic == "projects/"+project+"/topics/"+ingress {
				return status.Error(codes.InvalidArgument, "bad message")
			}
			return nil
		}, 0, 10, 0, 10, 0, func(t *testing.T, s bus.Stats) {
			if s.Permanent != 10 || s.Retries != 0 {
				t.Errorf("Permanent %d Retries %d, want 10 0 (not retried)", s.Permanent, s.Retries)
			}
		}},
		{"failure event fails too", func(_ int64, req *pubsubpb.PublishRequest) error {
			return status.Error(codes.PermissionDenied, "denied")
		}, 0, 10, 0, 0, 10, nil},
		{"slow server under flow control", nil, 20 * time.Millisecond, 300, 300, 0, 0, func(t *testing.T, s bus.Stats) {
			if s.Blocked == 0 {
				t.Errorf("Blocked = 0: flow control and the bounded queue never pushed back")
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &scripted{fail: tc.fail, delay: tc.delay}
			srv, c := newFake(t, r)
			d, err := pubsubbus.New(context.Background(), pubsubbus.Options{Client: c, Logger: quiet,
				MaxOutstandingMessages: 20, CountThreshold: 10})
			if err != nil {
				t.Fatal(err)
			}
			p := bus.New(d, bus.Options{Logger: quiet, Prefix: "test.", MaxQueue: 64, BatchSize: 16, MaxInFlight: 2,
				RetryBackoff: time.Millisecond, MaxBackoff: 10 * time.Millisecond})
			for i := range tc.n {
				if err := p.Publish(context.Background(), message(i)); err != nil {
					t.Fatal(err)
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			rep, err := p.Close(ctx)
			if err != nil {
				t.Fatal(err)
			}
			s := rep.Stats
			if s.Acked != tc.wantAcked || s.FailureEvents != tc.wantEv || s.Lost != tc.wantLost {
				t.Errorf("acked/events/lost = %d/%d/%d, want %d/%d/%d", s.Acked, s.FailureEvents, s.Lost, tc.wantAcked, tc.wantEv, tc.wantLost)
			}
			if sum := s.Acked + s.FailureEvents + s.Lost + s.Unknown; sum != s.Accepted || s.Accepted != uint64(tc.n) {
				t.Errorf("acked+events+lost+unknown = %d, accepted %d, published %d", sum, s.Accepted, tc.n)
			}
			stored := map[string]int{}
			for _, m := range srv.Messages() {
				if m.Topic == "projects/"+project+"/topics/"+ingress {
					stored[m.Attributes[pubsubbus.AttrMsgID]]++
				}
			}
			if uint64(len(stored)) != tc.wantAcked {
				t.Errorf("server stored %d distinct ingress messages, want %d", len(stored), tc.wantAcked)
			}
			if tc.check != nil {
				tc.check(t, s)
			}
		})
	}
}
