package load

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ingress-egress/ingress-egress/bus/natsbus"
)

// Ceiling measures what JetStream itself takes on this machine: a bare
// nats.go PublishMsgAsync loop with a Nats-Msg-Id on every message and at
// most 4,096 acks pending and the service's three headers (the logic of
// bench/bus_test.go's impl=raw), of
// size-byte messages to a fresh stream with a 2 min duplicate window, for d.
// It returns the acknowledged messages per second.
func Ceiling(ctx context.Context, natsURL string, size int, d time.Duration) (float64, error) {
	nc, err := nats.Connect(natsURL)
	if err != nil {
		return 0, err
	}
	defer nc.Close()
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(4096),
		jetstream.WithPublishAsyncTimeout(30*time.Second))
	if err != nil {
		return 0, err
	}
	name := fmt.Sprintf("CEILING_%d", time.Now().UnixNano())
	subj := "ceiling." + strconv.FormatInt(time.Now().UnixNano(), 10)
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: name, Subjects: []string{subj},
		Duplicates: 2 * time.Minute, MaxBytes: 4 << 30, Storage: jetstream.FileStorage}); err != nil {
		return 0, err
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		_ = js.DeleteStream(dctx, name)
		cancel()
	}()
	payload := make([]byte, max(size, 16))
	for i := range payload {
		payload[i] = 'x'
	}
	wait := jetstream.WithStallWait(time.Minute)
	var id []byte
	n := 0
	start := time.Now()
	end := start.Add(d)
	for time.Now().Before(end) && ctx.Err() == nil {
		for range 256 {
			id = strconv.AppendInt(id[:0], int64(n), 10)
			n++
			m := &nats.Msg{Subject: subj, Data: payload, Header: nats.Header{
				natsbus.HeaderMsgID: {string(id)}, natsbus.HeaderContentType: {"application/json"},
				natsbus.HeaderTraceParent: {"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}}}
			if _, err := js.PublishMsgAsync(m, wait); err != nil {
				return 0, err
			}
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-time.After(60 * time.Second):
		return 0, fmt.Errorf("load: ceiling: %d acks still pending", js.PublishAsyncPending())
	}
	return float64(n) / time.Since(start).Seconds(), nil
}
