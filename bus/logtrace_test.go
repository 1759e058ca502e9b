package bus_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"testing/synctest"

	"github.com/ingress-egress/ingress-egress/bus"
	"github.com/ingress-egress/ingress-egress/bus/bustest"
)

// TestPerMessageLogsCarryTrace checks that the per-message warning (a
// failure event) names the message's trace, the trace-id of its
// traceparent, so that the log line joins the message's trace in Cloud
// Logging. Lost messages are not logged one by one but in bounded entries
// of ids (see Report.Log): the entry names the id.
func TestPerMessageLogsCarryTrace(t *testing.T) {
	for _, tc := range []struct {
		name, line, want string
		failEvent        bool
	}{
		{"failure event", "WARN bus: message published as failure event", " trace=0af7651916cd43dd8448eb211c80319c", false},
		{"lost", "ERROR bus: undelivered message ids", " msgIds=[m0]", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				d := bustest.New()
				d.SetFail(func(m bus.Message, n int) error {
					if m.Subject == subject || tc.failEvent {
						return bus.Permanent(errors.New("permissions violation"))
					}
					return nil
				})
				lg := &logs{}
				p := bus.New(d, bus.Options{Prefix: "test.", Logger: slog.New(lg)})
				if err := p.Publish(context.Background(), msg(0, envelope(0))); err != nil {
					t.Fatal(err)
				}
				p.Flush(context.Background())
				p.Close(context.Background())
				lg.mu.Lock()
				defer lg.mu.Unlock()
				found := false
				for _, r := range lg.recs {
					if strings.HasPrefix(r, tc.line) {
						found = true
						if !strings.Contains(r, tc.want) || !strings.Contains(r, "m0") {
							t.Errorf("log line %q does not name the message's %q and id", r, tc.want)
						}
					}
				}
				if !found {
					t.Errorf("no %q line in %q", tc.line, lg.recs)
				}
			})
		})
	}
}
