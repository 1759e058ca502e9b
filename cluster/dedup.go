package cluster

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// DuplicateWindow returns the name of the stream that stores subject and
// its deduplication window. Every replica of a channel publishes each
// message with the same Nats-Msg-Id; the stream stores one copy only if the
// copies arrive within that window of each other.
func DuplicateWindow(ctx context.Context, js jetstream.JetStream, subject string) (stream string, window time.Duration, err error) {
	name, err := js.StreamNameBySubject(ctx, subject)
	if err != nil {
		return "", 0, fmt.Errorf("cluster: the stream of %s: %w", subject, err)
	}
	s, err := js.Stream(ctx, name)
	if err != nil {
		return name, 0, fmt.Errorf("cluster: stream %s: %w", name, err)
	}
	return name, s.CachedInfo().Config.Duplicates, nil
}
