package twitch

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/ingress-egress/ingress-egress/twitch/twitchtest"
)

func TestJoinAndReceive(t *testing.T) {
	for _, proto := range []string{"tcp", "tls", "ws", "wss"} {
		t.Run(proto, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				rec := newRecorder()
				m, srv, stop := pipeManager(t, twitchtest.Config{}, proto, Options{
					Channels: []string{"#Alpha", "beta"},
					Handler:  rec,
				})
				defer stop()
				waitFor(t, 30*time.Second, "ready", m.Ready)
				n := srv.Generate(context.Background(), twitchtest.Gen{Channels: []string{"alpha", "beta"}, Rate: 1000, Count: 200})
				if n != 200 {
					t.Fatalf("Generate = %d, want 200", n)
				}
				waitFor(t, 10*time.Second, "200 PRIVMSGs", func() bool { return rec.privmsgs() == 200 })
				st := m.Status()
				if !st.Ready || st.Wanted != 2 || st.Joined != 2 || len(st.Connections) != 1 {
					t.Fatalf("status:\n%s", statusString(st))
				}
				c := st.Connections[0]
				if got := strings.Join(c.Joined, ","); got != "alpha,beta" {
					t.Errorf("joined = %q, want alpha,beta", got)
				}
				if !strings.HasPrefix(c.Login, "justinfan") {
					t.Errorf("login = %q, want justinfan…", c.Login)
				}
				if c.Counters.ByCommand["PRIVMSG"] != 200 || c.Counters.ByCommand["ROOMSTATE"] != 2 {
					t.Errorf("by command = %v", c.Counters.ByCommand)
				}
				if _, err := json.Marshal(st); err != nil {
					t.Errorf("status does not marshal: %v", err)
				}
			})
		})
	}
}
