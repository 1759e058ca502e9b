package twitch

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/ingress-egress/ingress-egress/twitch/internal/oauthfake"
)

// syncBuffer is a bytes.Buffer safe for concurrent writers (slog handlers
// in several goroutines).
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

func TestStaticAgainstFakeTwitch(t *testing.T) {
	tests := []struct {
		name      string
		acct      oauthfake.Account
		login     string // StaticOptions.Login
		register  bool   // token known to the fake
		fail      int    // validate answers this status once
		wantReady bool
		wantErr   error  // from ChatAuth
		reason    string // substring of Status().Reason
	}{
		{name: "valid", acct: botAcct, login: "MyBot", register: true, wantReady: true},
		{name: "valid, login learnt", acct: botAcct, register: true, wantReady: true},
		{name: "401", acct: botAcct, login: "mybot", wantErr: ErrTokenInvalid, reason: "cannot be refreshed"},
		{name: "no chat:read", acct: oauthfake.Account{Login: "mybot", UserID: "1", Scopes: []string{"chat:edit"}}, register: true, wantErr: ErrTokenScope, reason: "chat:read"},
		{name: "other login", acct: botAcct, login: "otherbot", register: true, wantErr: ErrAuthUnknownLogin, reason: `"otherbot"`},
		{name: "5xx keeps token", acct: botAcct, login: "mybot", register: true, fail: 503, wantReady: true},
		{name: "5xx without login", acct: botAcct, register: true, fail: 503, wantErr: ErrAuthNotReady, reason: "login unknown"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, c := newFake(t)
			tok := canary + "-static"
			if tt.register {
				f.AddAccess(tok, tt.acct, 2*time.Hour)
			}
			if tt.fail != 0 {
				f.FailNext("/oauth2/validate", tt.fail, `{"status":503,"message":"Service Unavailable"}`)
			}
			var logs syncBuffer
			s, err := NewStatic(StaticOptions{Token: NewToken("oauth:" + tok), Login: tt.login, OAuth: c,
				Logger: slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
			if err != nil {
				t.Fatal(err)
			}
			if s.Ready() {
				t.Fatalf("Ready before validation")
			}
			a, err := s.ChatAuth(context.Background(), "")
			if tt.name == "other login" {
				// ChatAuth("") is refused since the token is for mybot.
				if !errors.Is(err, ErrTokenLogin) {
					t.Fatalf("ChatAuth err = %v, want ErrTokenLogin", err)
				}
				_, err = s.ChatAuth(context.Background(), "mybot")
			}
			st := s.Status()
			stj, _ := json.Marshal(st)
			captured := fmt.Sprint(err, " ", logs.String(), " ", string(stj), fmt.Sprintf("%+v", a))
			if strings.Contains(captured, canary) {
				t.Fatalf("a secret leaked: %s", captured)
			}
			if s.Ready() != tt.wantReady || st.Ready != tt.wantReady {
				t.Fatalf("Ready = %v (status %s), want %v", s.Ready(), stj, tt.wantReady)
			}
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("ChatAuth err = %v, want %v", err, tt.wantErr)
				}
				if !strings.Contains(st.Reason, tt.reason) || st.LastError.At.IsZero() {
					t.Fatalf("status %s, want reason containing %q and a last error", stj, tt.reason)
				}
				return
			}
			if err != nil || a.Login != "mybot" || a.Token.Reveal() != tok || a.Anonymous {
				t.Fatalf("ChatAuth = %+v, %v", a, err)
			}
			if tt.fail == 0 && (st.UserID != "141981764" || !HasScope(st.Scopes, "chat:read") || st.ExpiresAt.IsZero() || !st.LastValidation.OK) {
				t.Fatalf("status %s", stj)
			}
			if tt.fail != 0 && (st.LastValidation.OK || !strings.Contains(st.LastError.Detail, "503")) {
				t.Fatalf("status %s, want the failed validation recorded", stj)
			}
			// The token is revoked; the next login fails and the session
			// invalidates it: the source learns it is bad.
			f.RevokeAccess(tok)
			s.Invalidate(context.Background(), a)
			if _, err := s.ChatAuth(context.Background(), ""); !errors.Is(err, ErrTokenInvalid) || s.Ready() {
				t.Fatalf("after revocation: ChatAuth err = %v, Ready %v", err, s.Ready())
			}
			if strings.Contains(logs.String(), canary) || !strings.Contains(logs.String(), "rejected") {
				t.Fatalf("logs: %s", logs.String())
			}
		})
	}
}

// fakeOAuth answers from functions, without network, for synctest bubbles.
type fakeOAuth struct {
	mu        sync.Mutex
	validates []time.Time
	refreshes []time.Time
	validate  func(n int, tok Token) (TokenInfo, error)
	refresh   func(n int, tok Token) (TokenGrant, error)
}

func (f *fakeOAuth) Validate(ctx context.Context, tok Token) (TokenInfo, error) {
	f.mu.Lock()
	f.validates = append(f.validates, time.Now())
	n, fn := len(f.validates), f.validate
	f.mu.Unlock()
	return fn(n, tok)
}

func (f *fakeOAuth) Refresh(ctx context.Context, tok Token) (TokenGrant, error) {
	f.mu.Lock()
	f.refreshes = append(f.refreshes, time.Now())
	n, fn := len(f.refreshes), f.refresh
	f.mu.Unlock()
	return fn(n, tok)
}

func (f *fakeOAuth) validateTimes() []time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]time.Time(nil), f.validates...)
}

func TestStaticHourlyValidation(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		okInfo := TokenInfo{Login: "mybot", UserID: "1", Scopes: []string{"chat:read"}, ExpiresIn: 50 * time.Hour}
		fo := &fakeOAuth{validate: func(n int, tok Token) (TokenInfo, error) {
			switch {
			case n == 3: // at 2 h: a network error, retried after RetryMin, then 2·RetryMin
				return TokenInfo{}, errors.New("dial tcp: connection refused")
			case n == 4:
				return TokenInfo{}, &OAuthError{Op: "validate", Status: 502}
			case n == 8: // revoked
				return TokenInfo{}, fmt.Errorf("x: %w", ErrTokenInvalid)
			}
			return okInfo, nil
		}}
		s, _ := NewStatic(StaticOptions{Token: NewToken(canary), OAuth: fo})
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error)
		start := time.Now()
		go func() { done <- s.Run(ctx) }()
		synctest.Wait()
		if !s.Ready() {
			t.Fatalf("not ready after the start validation: %+v", s.Status())
		}
		time.Sleep(2*time.Hour + time.Minute) // validations at 0, 1 h, 2 h (fails)
		if s.Ready() != true {
			t.Fatalf("a transient failure made the source not ready")
		}
		time.Sleep(10 * time.Hour)
		got := fo.validateTimes()
		want := []time.Duration{0, time.Hour, 2 * time.Hour, 2*time.Hour + 30*time.Second,
			2*time.Hour + 90*time.Second, 3*time.Hour + 90*time.Second, 4*time.Hour + 90*time.Second,
			5*time.Hour + 90*time.Second}
		if len(got) != len(want) {
			t.Fatalf("validated %d times at %v, want %d", len(got), rel(got, start), len(want))
		}
		for i := range want {
			if got[i].Sub(start) != want[i] {
				t.Fatalf("validation %d at %v, want %v (all: %v)", i, got[i].Sub(start), want[i], rel(got, start))
			}
		}
		if s.Ready() || !strings.Contains(s.Status().Reason, "cannot be refreshed") {
			t.Fatalf("after a 401: Ready %v, status %+v", s.Ready(), s.Status())
		}
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("Run = %v", err)
		}
	})
}

func TestStaticExpiry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fo := &fakeOAuth{validate: func(n int, tok Token) (TokenInfo, error) {
			return TokenInfo{Login: "mybot", Scopes: []string{"chat:read"}, ExpiresIn: 90 * time.Minute}, nil
		}}
		s, _ := NewStatic(StaticOptions{Token: NewToken(canary), OAuth: fo})
		if _, err := s.ChatAuth(t.Context(), "mybot"); err != nil {
			t.Fatalf("ChatAuth: %v", err)
		}
		time.Sleep(91 * time.Minute)
		if _, err := s.ChatAuth(t.Context(), "mybot"); !errors.Is(err, ErrAuthNotReady) || s.Ready() {
			t.Fatalf("after expiry: ChatAuth err = %v, Ready %v", err, s.Ready())
		}
	})
}

func rel(ts []time.Time, start time.Time) []time.Duration {
	out := make([]time.Duration, len(ts))
	for i, t := range ts {
		out[i] = t.Sub(start)
	}
	return out
}
