package faults

// The loss checker's readers of the bus: the JetStream stream read back
// once the run is over, and a Pub/Sub subscription read while it runs (the
// emulator keeps messages in memory only).

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// The service's subjects (topics) without a prefix.
const (
	ingressSubject  = "internal.ingress.v1"
	finalizeSubject = "internal.finalize.v1"
)

// envelopeTimes is the part of an envelope the checker reads.
type envelopeTimes struct {
	Timestamp string `json:"timestamp"`
	Payload   struct {
		MessageID string `json:"messageId"`
	} `json:"payload"`
}

// received decodes one envelope; the id is "" when it is not one.
func received(data []byte, stored time.Time) Received {
	var e envelopeTimes
	if json.Unmarshal(data, &e) != nil {
		return Received{Stored: stored}
	}
	read, _ := time.Parse(time.RFC3339Nano, e.Timestamp)
	return Received{ID: e.Payload.MessageID, Read: read, Stored: stored}
}

// readJetStream reads every envelope of stream on the ingress subject,
// with the time the stream stored it, within 60 s.
func readJetStream(t *testing.T, url, token, stream string) []Received {
	t.Helper()
	opts := []nats.Option{nats.Name("faults-checker")}
	if token != "" {
		opts = append(opts, nats.Token(token))
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		t.Fatalf("nats connect %s: %v", url, err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cons, err := js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{FilterSubjects: []string{ingressSubject}})
	if err != nil {
		t.Fatalf("ordered consumer on %s: %v", stream, err)
	}
	var out []Received
	for i := 0; ctx.Err() == nil && i < 100000; i++ {
		batch, err := cons.Fetch(1000, jetstream.FetchMaxWait(500*time.Millisecond))
		if err != nil {
			t.Fatalf("fetch: %v", err)
		}
		n := 0
		for m := range batch.Messages() {
			n++
			var stored time.Time
			if md, err := m.Metadata(); err == nil {
				stored = md.Timestamp
			}
			out = append(out, received(m.Data(), stored))
		}
		if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) {
			t.Fatalf("fetch: %v", err)
		}
		if n > 0 {
			continue
		}
		info, err := cons.Info(ctx)
		if err != nil {
			t.Fatalf("consumer info: %v", err)
		}
		if info.NumPending == 0 {
			return out
		}
	}
	t.Fatalf("reading %s: not done within 60 s (%d messages read)", stream, len(out))
	return nil
}

// pubsubProject is the emulator's project.
const pubsubProject = "faults-project"

// pubsubReader receives the ingress topic's messages through a
// subscription of its own, for as long as the run lasts; Reconnect makes
// the topic and the subscription again on a restarted emulator.
type pubsubReader struct {
	t *testing.T

	mu     sync.Mutex
	got    []Received
	msgIDs map[string]map[string]bool // payload id → the msgId attributes of its copies
	keyed  int                        // messages with an ordering key
	cancel context.CancelFunc
	done   chan struct{}
	client *pubsub.Client
}

// newPubSubReader creates the topic and a subscription on the emulator at
// addr and starts receiving. The test's cleanup stops it.
func newPubSubReader(t *testing.T, addr string) *pubsubReader {
	t.Helper()
	r := &pubsubReader{t: t}
	r.Reconnect(addr)
	t.Cleanup(r.Stop)
	return r
}

// Reconnect stops receiving, makes the topic and the subscription on the
// emulator at addr (a restarted emulator has neither) and receives again.
func (r *pubsubReader) Reconnect(addr string) {
	r.t.Helper()
	r.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, err := pubsub.NewClient(ctx, pubsubProject, option.WithEndpoint(addr), option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())), option.WithTelemetryDisabled())
	if err != nil {
		r.t.Fatal(err)
	}
	topic := "projects/" + pubsubProject + "/topics/" + ingressSubject
	sub := "projects/" + pubsubProject + "/subscriptions/faults-checker"
	if _, err := c.TopicAdminClient.CreateTopic(ctx, &pubsubpb.Topic{Name: topic}); err != nil && status.Code(err) != codes.AlreadyExists {
		r.t.Fatalf("create topic: %v", err)
	}
	if _, err := c.SubscriptionAdminClient.CreateSubscription(ctx, &pubsubpb.Subscription{Name: sub, Topic: topic, AckDeadlineSeconds: 60}); err != nil && status.Code(err) != codes.AlreadyExists {
		r.t.Fatalf("create subscription: %v", err)
	}
	rctx, rcancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	r.mu.Lock()
	r.cancel, r.done, r.client = rcancel, done, c
	r.mu.Unlock()
	go func() {
		defer close(done)
		for rctx.Err() == nil {
			c.Subscriber(sub).Receive(rctx, func(_ context.Context, m *pubsub.Message) {
				m.Ack()
				rec := received(m.Data, m.PublishTime)
				r.mu.Lock()
				r.got = append(r.got, rec)
				if r.msgIDs == nil {
					r.msgIDs = map[string]map[string]bool{}
				}
				if r.msgIDs[rec.ID] == nil {
					r.msgIDs[rec.ID] = map[string]bool{}
				}
				r.msgIDs[rec.ID][m.Attributes["msgId"]] = true
				if m.OrderingKey != "" {
					r.keyed++
				}
				r.mu.Unlock()
			})
			select { // the emulator went away: try again until stopped
			case <-rctx.Done():
			case <-time.After(200 * time.Millisecond):
			}
		}
	}()
}

// Stop stops receiving. Call it while the emulator runs: the client's
// Receive can hang on one that went away under an open stream (then Stop
// gives up on it after 30 s, leaving its goroutines behind).
func (r *pubsubReader) Stop() {
	r.mu.Lock()
	cancel, done, c := r.cancel, r.done, r.client
	r.cancel, r.done, r.client = nil, nil, nil
	r.mu.Unlock()
	if cancel == nil {
		return
	}
	cancel()
	select {
	case <-done:
		c.Close()
	case <-time.After(30 * time.Second):
		r.t.Logf("the Pub/Sub client's Receive did not return 30 s after its context ended")
	}
}

// Received returns what was received so far.
func (r *pubsubReader) Received() []Received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Received(nil), r.got...)
}

// Count returns how many messages were received so far.
func (r *pubsubReader) Count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.got)
}

// IDMismatches returns how many envelopes were received without a msgId
// attribute, or with copies whose msgId attributes differ (a duplicate a
// subscriber could not drop by msgId), and an example.
func (r *pubsubReader) IDMismatches() (int, string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	n, example := 0, ""
	for id, attrs := range r.msgIDs {
		if len(attrs) != 1 || attrs[""] {
			n++
			if example == "" {
				example = fmt.Sprintf("envelope %s with msgId attributes %v", id, attrs)
			}
		}
	}
	return n, example
}

// Keyed returns how many messages carried an ordering key.
func (r *pubsubReader) Keyed() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.keyed
}
