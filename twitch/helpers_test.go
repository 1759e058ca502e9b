package twitch

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/ingress-egress/ingress-egress/twitch/twitchtest"
)

// recorder is a Handler that keeps what it is given.
type recorder struct {
	mu     sync.Mutex
	lines  int
	ids    map[string]int // PRIVMSG id → times delivered
	byCmd  map[string]int
	raws   []string
	keep   bool
	block  chan struct{} // when set, HandleLine waits for it
	onLine func(l *Line)
}

func newRecorder() *recorder {
	return &recorder{ids: make(map[string]int), byCmd: make(map[string]int)}
}

func (r *recorder) HandleLine(ctx context.Context, l *Line) error {
	r.mu.Lock()
	block := r.block
	r.mu.Unlock()
	if block != nil {
		select {
		case <-block:
		case <-ctx.Done():
			return nil
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lines++
	r.byCmd[string(l.Msg.Command)]++
	if l.Msg.IsCommand("PRIVMSG") {
		if id, ok := l.Msg.Tag("id"); ok {
			r.ids[string(id)]++
		}
	}
	if r.keep {
		r.raws = append(r.raws, string(l.Raw))
	}
	if r.onLine != nil {
		r.onLine(l)
	}
	return nil
}

func (r *recorder) count(cmd string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.byCmd[cmd]
}

func (r *recorder) privmsgs() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.ids)
}

// fakeAuth hands out tokens in turn; Invalidate moves to the next.
type fakeAuth struct {
	mu          sync.Mutex
	login       string
	tokens      []string
	i           int
	calls       int
	invalidated int
}

func (a *fakeAuth) ChatAuth(ctx context.Context, login string) (Auth, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.calls++
	return Auth{Login: a.login, Token: NewToken(a.tokens[a.i])}, nil
}

func (a *fakeAuth) Invalidate(ctx context.Context, au Auth) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.invalidated++
	if au.Token.Reveal() == a.tokens[a.i] && a.i < len(a.tokens)-1 {
		a.i++
	}
}

// pipeManager starts a fake server on pipes and a manager connected to it,
// running until the returned stop is called (which waits for both).
func pipeManager(t *testing.T, cfg twitchtest.Config, proto string, o Options) (*Manager, *twitchtest.Server, func()) {
	t.Helper()
	srv := twitchtest.NewServer(cfg)
	url, dial, err := srv.ListenPipe(proto)
	if err != nil {
		t.Fatal(err)
	}
	o.URL, o.Dial = url, dial
	if proto == "tls" || proto == "wss" {
		o.TLSConfig = srv.ClientTLS()
	}
	m, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- m.Run(context.Background()) }()
	waitFor(t, time.Second, "running", func() bool {
		m.mu.Lock()
		defer m.mu.Unlock()
		return m.running
	})
	stop := func() {
		m.Close()
		if err := <-done; err != nil {
			t.Errorf("Run = %v, want nil after Close", err)
		}
		srv.Close()
	}
	return m, srv, stop
}

// waitFor polls cond (in a synctest bubble the sleep is fake time) and
// fails the test after limit.
func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", limit, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func statusString(st Status) string {
	s := fmt.Sprintf("ready=%v wanted=%d joined=%d gaps=%d failed=%v", st.Ready, st.Wanted, st.Joined, st.Gaps, st.Failed)
	for _, c := range st.Connections {
		s += fmt.Sprintf("\n  conn %d: %s joined=%v pending=%v err=%q counters=%+v", c.ID, c.State, c.Joined, c.Pending, c.LastError, c.Counters)
	}
	return s
}
