package firestoreauth

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ingress-egress/ingress-egress/twitch"
)

// canary starts every secret of these tests; it must never be seen in a
// log, an error or a status.
const canary = "CANARYfs5ecret"

// memStore is an in-memory store for synctest bubbles (no network there).
type memStore struct {
	mu        sync.Mutex
	rec       record
	exists    bool
	version   int
	loads     int
	commits   int
	loadErr   error
	commitErr error
}

func (m *memStore) put(r record) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.version++
	r.path = "twitch_tokens/mybot"
	r.updateTime = time.Unix(int64(m.version), 0)
	m.rec, m.exists = r, true
}

func (m *memStore) get() record {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.rec
}

func (m *memStore) setErrs(load, commit error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.loadErr, m.commitErr = load, commit
}

func (m *memStore) counts() (loads, commits int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.loads, m.commits
}

func (m *memStore) load(ctx context.Context) (record, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.loads++
	if m.loadErr != nil {
		return record{}, m.loadErr
	}
	if !m.exists {
		return record{}, fmt.Errorf("%w: twitch_tokens/mybot", ErrDocumentNotFound)
	}
	return cloneRecord(m.rec), nil
}

func (m *memStore) commit(ctx context.Context, base, fresh record) (record, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.commits++
	if m.commitErr != nil {
		return record{}, m.commitErr
	}
	if !sameTokens(m.rec, base) {
		return cloneRecord(m.rec), nil
	}
	m.version++
	fresh.updateTime = time.Unix(int64(m.version), 0)
	m.rec = fresh
	return cloneRecord(fresh), nil
}

// fakeOAuth answers from functions and records the time of each call.
type fakeOAuth struct {
	mu        sync.Mutex
	validates []time.Time
	refreshes []time.Time
	validate  func(n int, tok twitch.Token) (twitch.TokenInfo, error)
	refresh   func(n int, tok twitch.Token) (twitch.TokenGrant, error)
}

func (f *fakeOAuth) Validate(ctx context.Context, tok twitch.Token) (twitch.TokenInfo, error) {
	f.mu.Lock()
	f.validates = append(f.validates, time.Now())
	n, fn := len(f.validates), f.validate
	f.mu.Unlock()
	return fn(n, tok)
}

func (f *fakeOAuth) Refresh(ctx context.Context, tok twitch.Token) (twitch.TokenGrant, error) {
	f.mu.Lock()
	f.refreshes = append(f.refreshes, time.Now())
	n, fn := len(f.refreshes), f.refresh
	f.mu.Unlock()
	return fn(n, tok)
}

func (f *fakeOAuth) times() (validates, refreshes []time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]time.Time(nil), f.validates...), append([]time.Time(nil), f.refreshes...)
}

var okInfo = twitch.TokenInfo{Login: "mybot", UserID: "141981764", Scopes: []string{"chat:read"}, ExpiresIn: 4 * time.Hour}

// syncBuffer collects log output from several goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// leakCheck captures the logs of a test and, when it ends, fails it if a
// canary appears in them, in the status JSON or in any captured text.
type leakCheck struct {
	logs  syncBuffer
	mu    sync.Mutex
	texts []string
}

func newLeakCheck(t *testing.T, statusOf func() twitch.AuthStatus) (*leakCheck, *slog.Logger) {
	lc := &leakCheck{}
	log := slog.New(slog.NewJSONHandler(&lc.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	t.Cleanup(func() {
		var all strings.Builder
		all.WriteString(lc.logs.String())
		if statusOf != nil {
			j, err := json.Marshal(statusOf())
			if err != nil {
				t.Errorf("status JSON: %v", err)
			}
			all.Write(j)
			fmt.Fprintf(&all, "%+v %#v", statusOf(), statusOf())
		}
		lc.mu.Lock()
		for _, s := range lc.texts {
			all.WriteString(s)
		}
		lc.mu.Unlock()
		if i := strings.Index(all.String(), canary); i >= 0 {
			t.Errorf("a secret leaked into logs, errors or status: …%s<SECRET HERE>", all.String()[max(0, i-200):i])
		}
	})
	return lc, log
}

// see records a text (an error, a printed value) for the leak scan.
func (lc *leakCheck) see(v ...any) {
	lc.mu.Lock()
	defer lc.mu.Unlock()
	lc.texts = append(lc.texts, fmt.Sprint(v...), fmt.Sprintf("%+v", v))
}
