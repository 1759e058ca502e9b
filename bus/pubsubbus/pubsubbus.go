// Package pubsubbus is the Google Cloud Pub/Sub transport of bus
// (cloud.google.com/go/pubsub/v2): one topic per subject (topic ids allow
// the dots), explicit batching, flow control that blocks, and attributes for
// the deduplication key and the traceparent.
//
// Delivery: at-least-once. A message counts as delivered when Pub/Sub
// returned its server id. Pub/Sub has no publish-side deduplication: a
// republish after a lost response can store a second copy, which carries the
// same "msgId" attribute for consumers to drop.
//
// Ordering keys are off. With a key, Pub/Sub orders only messages published
// to the same region, caps each key at 1 MB/s, and after any failed publish
// pauses the key until ResumePublish — while bus.Publisher re-sends failed
// messages after later ones anyway. Consumers order by the envelope's
// timestamp instead.
//
// The emulator is used when PUBSUB_EMULATOR_HOST is set (the client
// library reads it).
package pubsubbus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
	"unicode/utf8"

	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"google.golang.org/api/option"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ingress-egress/ingress-egress/bus"
)

// Attribute names set on every message (when the value is not empty and
// valid UTF-8).
const (
	AttrMsgID       = "msgId"
	AttrTraceParent = "traceparent"
	AttrContentType = "content-type"
)

// Options configure a Driver.
type Options struct {
	// ProjectID is the Google Cloud project (GOOGLE_CLOUD_PROJECT or
	// PUBSUB_PROJECT_ID). Required unless Client is set.
	ProjectID string
	// Client, when set, is used instead of creating one (and is not closed
	// by Close).
	Client *pubsub.Client
	// ClientOptions are passed to pubsub.NewClient.
	ClientOptions []option.ClientOption
	// CreateTopics creates a subject's topic on first use when it is
	// missing (for the emulator and development). Default off: in
	// production the topics belong to the platform.
	CreateTopics bool

	// DelayThreshold, CountThreshold and ByteThreshold are the client
	// library's batching: a publish RPC goes when the first is reached.
	// Defaults 5 ms, 100 messages, 1 MB.
	DelayThreshold time.Duration
	CountThreshold int
	ByteThreshold  int
	// Timeout bounds one publish, the library's own retries included; then
	// the message fails and bus.Publisher retries it. Default 30 s.
	Timeout time.Duration
	// MaxOutstandingMessages and MaxOutstandingBytes bound what is sent and
	// not yet answered per topic; beyond them Send blocks (flow control
	// Block, never the library's unbounded default). Defaults 4096 and
	// 32 MiB.
	MaxOutstandingMessages int
	MaxOutstandingBytes    int

	// Logger.
	// Nil discards, as in every package of the service: main passes its
	// logger.
	Logger *slog.Logger
}

// Driver publishes to Pub/Sub. It implements bus.Driver.
type Driver struct {
	opts   Options
	c      *pubsub.Client
	own    bool
	topics map[string]*pubsub.Publisher // by subject; touched only in Send and Close
	log    *slog.Logger
}

// New creates a Driver (and a client, unless opts.Client is set). It does
// not contact the server.
func New(ctx context.Context, opts Options) (*Driver, error) {
	if opts.DelayThreshold <= 0 {
		opts.DelayThreshold = 5 * time.Millisecond
	}
	if opts.CountThreshold <= 0 {
		opts.CountThreshold = 100
	}
	if opts.ByteThreshold <= 0 {
		opts.ByteThreshold = 1e6
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 30 * time.Second
	}
	if opts.MaxOutstandingMessages <= 0 {
		opts.MaxOutstandingMessages = 4096
	}
	if opts.MaxOutstandingBytes <= 0 {
		opts.MaxOutstandingBytes = 32 << 20
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	d := &Driver{opts: opts, c: opts.Client, topics: make(map[string]*pubsub.Publisher),
		log: opts.Logger.With("component", "pubsubbus")}
	if d.c == nil {
		if opts.ProjectID == "" {
			return nil, errors.New("pubsubbus: no project id")
		}
		c, err := pubsub.NewClient(ctx, opts.ProjectID, opts.ClientOptions...)
		if err != nil {
			return nil, fmt.Errorf("pubsubbus: client: %w", err)
		}
		d.c, d.own = c, true
	}
	return d, nil
}

// TopicName is the full resource name of a subject's topic.
func (d *Driver) TopicName(subject string) string {
	return "projects/" + d.c.Project() + "/topics/" + subject
}

func (d *Driver) topic(ctx context.Context, subject string) *pubsub.Publisher {
	if t := d.topics[subject]; t != nil {
		return t
	}
	if d.opts.CreateTopics {
		_, err := d.c.TopicAdminClient.CreateTopic(ctx, &pubsubpb.Topic{Name: d.TopicName(subject)})
		if err != nil && status.Code(err) != codes.AlreadyExists {
			d.log.Warn("pubsub: cannot create topic", "topic", subject, "error", err.Error())
		}
	}
	t := d.c.Publisher(subject)
	t.PublishSettings.DelayThreshold = d.opts.DelayThreshold
	t.PublishSettings.CountThreshold = d.opts.CountThreshold
	t.PublishSettings.ByteThreshold = d.opts.ByteThreshold
	t.PublishSettings.Timeout = d.opts.Timeout
	t.PublishSettings.FlowControlSettings = pubsub.FlowControlSettings{
		MaxOutstandingMessages: d.opts.MaxOutstandingMessages,
		MaxOutstandingBytes:    d.opts.MaxOutstandingBytes,
		LimitExceededBehavior:  pubsub.FlowControlBlock,
	}
	t.EnableMessageOrdering = false
	d.topics[subject] = t
	return t
}

// attr returns v if it may be an attribute value (valid UTF-8, ≤ 1024
// bytes), else "".
func attr(v string) string {
	if len(v) > 1024 || !utf8.ValidString(v) {
		return ""
	}
	return v
}

type batchState struct {
	res []*pubsub.PublishResult
}

// Send implements bus.Driver. It blocks while the topic's flow control is
// full.
func (d *Driver) Send(ctx context.Context, b *bus.Batch) {
	st, _ := b.State.(*batchState)
	if st == nil {
		st = &batchState{}
		b.State = st
	}
	st.res = st.res[:0]
	for i := range b.Msgs {
		m := &b.Msgs[i]
		var attrs map[string]string
		for _, kv := range [...][2]string{{AttrMsgID, m.MsgID}, {AttrTraceParent, m.TraceParent}, {AttrContentType, m.ContentType}} {
			if v := attr(kv[1]); v != "" {
				if attrs == nil {
					attrs = make(map[string]string, 3)
				}
				attrs[kv[0]] = v
			}
		}
		st.res = append(st.res, d.topic(ctx, m.Subject).Publish(ctx, &pubsub.Message{Data: m.Data, Attributes: attrs}))
	}
}

// Wait implements bus.Driver.
func (d *Driver) Wait(ctx context.Context, b *bus.Batch) {
	st, _ := b.State.(*batchState)
	if st == nil {
		return
	}
	for i, r := range st.res {
		if _, err := r.Get(ctx); err != nil {
			b.Errs[i] = classify(err)
			if ctx.Err() != nil || unanswered(err) {
				b.Errs[i] = bus.NoAnswer(b.Errs[i])
			}
		}
	}
	clear(st.res)
}

// unanswered reports whether a publish that the client had taken failed
// without a verdict from Pub/Sub (a timeout, a dropped or aborted call), so
// that the message may be stored.
func unanswered(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return true
	}
	st, ok := status.FromError(err)
	if !ok {
		return false // the client's own refusal (stopped, oversized): not sent
	}
	switch st.Code() {
	case codes.DeadlineExceeded, codes.Unavailable, codes.Canceled, codes.Aborted, codes.Internal, codes.Unknown:
		return true
	}
	return false
}

// classify sorts Pub/Sub errors into bus's classes.
func classify(err error) error {
	if errors.Is(err, pubsub.ErrOversizedMessage) {
		return bus.Permanent(err)
	}
	if errors.Is(err, pubsub.ErrPublisherStopped) || errors.Is(err, context.Canceled) {
		return bus.Unavailable(err)
	}
	switch status.Code(err) {
	case codes.InvalidArgument, codes.PermissionDenied, codes.OutOfRange:
		return bus.Permanent(err)
	case codes.Unavailable, codes.NotFound, codes.Unauthenticated:
		// NotFound: the topic is missing. Keep the messages (backpressure)
		// rather than turn every one into a failure event that cannot be
		// published either.
		return bus.Unavailable(err)
	}
	return err
}

// Close flushes and stops every topic's publisher, and closes the client if
// New created it.
func (d *Driver) Close() error {
	for _, t := range d.topics {
		t.Stop()
	}
	if d.own {
		return d.c.Close()
	}
	return nil
}
