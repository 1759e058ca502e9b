package firestoreauth

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/ingress-egress/ingress-egress/twitch"
)

// These tests run the source's timer loop in fake time (testing/synctest)
// against an in-memory store and a fake OAuth service.

func rec(access, refresh string, expires time.Time) record {
	return record{login: "mybot", userID: "141981764", access: twitch.NewToken(access),
		refresh: twitch.NewToken(refresh), expiresAt: expires, scopes: []string{"chat:read"}}
}

type harness struct {
	t     *testing.T
	st    *memStore
	oa    *fakeOAuth
	s     *Source
	lc    *leakCheck
	start time.Time
	stop  func()
}

func newHarness(t *testing.T, oa *fakeOAuth, opts Options) *harness {
	h := &harness{t: t, st: &memStore{}, oa: oa, start: time.Now()}
	var src *Source
	lc, log := newLeakCheck(t, func() twitch.AuthStatus { return src.Status() })
	opts.OAuth, opts.Logger = oa, log
	src = newSource(h.st, opts)
	h.s, h.lc = src, lc
	return h
}

func (h *harness) run() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.s.Run(ctx) }()
	h.stop = func() {
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			h.t.Errorf("Run = %v, want context.Canceled", err)
		}
	}
	h.t.Cleanup(h.stop)
}

func rel(ts []time.Time, start time.Time) []time.Duration {
	out := make([]time.Duration, len(ts))
	for i, t := range ts {
		out[i] = t.Sub(start).Round(time.Millisecond)
	}
	return out
}

func TestHourlyValidation(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		oa := &fakeOAuth{validate: func(int, twitch.Token) (twitch.TokenInfo, error) { return okInfo, nil }}
		h := newHarness(t, oa, Options{})
		h.st.put(rec(canary+"-a1", canary+"-r1", h.start.Add(100*time.Hour)))
		h.run()
		synctest.Wait()
		if !h.s.Ready() {
			t.Fatalf("not ready: %+v", h.s.Status())
		}
		time.Sleep(5*time.Hour + time.Minute)
		v, r := oa.times()
		want := []time.Duration{0, time.Hour, 2 * time.Hour, 3 * time.Hour, 4 * time.Hour, 5 * time.Hour}
		if fmt.Sprint(rel(v, h.start)) != fmt.Sprint(want) || len(r) != 0 {
			t.Fatalf("validations at %v, want %v; refreshes %v", rel(v, h.start), want, rel(r, h.start))
		}
		// The document is re-read with every validation.
		if loads, _ := h.st.counts(); loads != 6 {
			t.Fatalf("document read %d times, want 6 (start + hourly)", loads)
		}
		st := h.s.Status()
		if !st.LastValidation.OK || st.LastValidation.At.Sub(h.start) != 5*time.Hour || st.Mode != twitch.AuthFirestore {
			t.Fatalf("status %+v", st)
		}
	})
}

func TestValidationBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		oa := &fakeOAuth{validate: func(n int, _ twitch.Token) (twitch.TokenInfo, error) {
			if n == 2 || n == 3 {
				return twitch.TokenInfo{}, &twitch.OAuthError{Op: "validate", Status: 503}
			}
			return okInfo, nil
		}}
		h := newHarness(t, oa, Options{RetryMin: 10 * time.Second})
		h.st.put(rec(canary+"-a1", canary+"-r1", h.start.Add(100*time.Hour)))
		h.run()
		time.Sleep(2*time.Hour + time.Minute)
		v, _ := oa.times()
		want := []time.Duration{0, time.Hour, time.Hour + 10*time.Second, time.Hour + 30*time.Second, 2*time.Hour + 30*time.Second}
		if fmt.Sprint(rel(v, h.start)) != fmt.Sprint(want) {
			t.Fatalf("validations at %v, want %v", rel(v, h.start), want)
		}
		if !h.s.Ready() {
			t.Fatalf("a validation without a verdict made the source not ready")
		}
	})
}

func TestRefreshBeforeExpiryTimer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		oa := &fakeOAuth{
			validate: func(int, twitch.Token) (twitch.TokenInfo, error) { return okInfo, nil },
			refresh: func(n int, tok twitch.Token) (twitch.TokenGrant, error) {
				if n <= 2 {
					return twitch.TokenGrant{}, errors.New("dial tcp: i/o timeout")
				}
				return twitch.TokenGrant{AccessToken: twitch.NewToken(fmt.Sprintf("%s-a%d", canary, n)),
					RefreshToken: twitch.NewToken(fmt.Sprintf("%s-r%d", canary, n)), ExpiresIn: 4 * time.Hour, Scopes: []string{"chat:read"}}, nil
			},
		}
		h := newHarness(t, oa, Options{RefreshBefore: 5 * time.Minute, RetryMin: time.Second})
		h.st.put(rec(canary+"-a1", canary+"-r1", h.start.Add(time.Hour)))
		h.run()
		time.Sleep(55*time.Minute - time.Second)
		if _, r := oa.times(); len(r) != 0 {
			t.Fatalf("refreshed too early: %v", rel(r, h.start))
		}
		time.Sleep(time.Minute)
		// 55 min: fails; +1 s fails; +2 s succeeds.
		_, r := oa.times()
		want := []time.Duration{55 * time.Minute, 55*time.Minute + time.Second, 55*time.Minute + 3*time.Second}
		if fmt.Sprint(rel(r, h.start)) != fmt.Sprint(want) {
			t.Fatalf("refreshes at %v, want %v", rel(r, h.start), want)
		}
		got := h.st.get()
		if got.access.Reveal() != canary+"-a3" || got.refresh.Reveal() != canary+"-r3" ||
			got.expiresAt.Sub(h.start) != 4*time.Hour+55*time.Minute+3*time.Second {
			t.Fatalf("document after refresh: access %q expires %v", got.access.Reveal(), got.expiresAt.Sub(h.start))
		}
		a, err := h.s.ChatAuth(t.Context(), "mybot")
		if err != nil || a.Token.Reveal() != canary+"-a3" {
			t.Fatalf("ChatAuth = %v, %v", a, err)
		}
		// The next refresh comes 5 min before the new expiry.
		time.Sleep(4 * time.Hour)
		if _, r := oa.times(); len(r) != 4 || r[3].Sub(h.start) != 4*time.Hour+50*time.Minute+3*time.Second {
			t.Fatalf("refreshes at %v", rel(r, h.start))
		}
	})
}

func TestStuckThenHealedTimer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		oa := &fakeOAuth{
			validate: func(_ int, tok twitch.Token) (twitch.TokenInfo, error) {
				if strings.HasSuffix(tok.Reveal(), "-a1") {
					return twitch.TokenInfo{}, fmt.Errorf("x: %w (401 invalid access token)", twitch.ErrTokenInvalid)
				}
				return okInfo, nil
			},
			refresh: func(int, twitch.Token) (twitch.TokenGrant, error) {
				return twitch.TokenGrant{}, fmt.Errorf("x: %w (400 Invalid refresh token)", twitch.ErrRefreshTokenInvalid)
			},
		}
		h := newHarness(t, oa, Options{ReloadMin: 30 * time.Second, ReloadMax: 2 * time.Minute})
		h.st.put(rec(canary+"-a1", canary+"-r1", h.start.Add(3*time.Hour)))
		h.run()
		synctest.Wait()
		st := h.s.Status()
		if h.s.Ready() || !strings.Contains(st.Reason, "400 Invalid refresh token") || !strings.Contains(st.Reason, "oauth-flow") {
			t.Fatalf("after 401 + 400: status %+v", st)
		}
		_, err := h.s.ChatAuth(t.Context(), "")
		h.lc.see(err)
		if !errors.Is(err, twitch.ErrAuthNotReady) {
			t.Fatalf("ChatAuth err = %v", err)
		}
		loads0, _ := h.st.counts()
		time.Sleep(10 * time.Minute)
		loads, _ := h.st.counts()
		// Re-reads 30 s, 1 min, then every 2 min apart: 0:30, 1:30, 3:30, 5:30, 7:30, 9:30.
		if loads-loads0 != 6 {
			t.Fatalf("re-read the document %d times in 10 min, want 6", loads-loads0)
		}
		if _, r := oa.times(); len(r) != 1 {
			t.Fatalf("refreshed %d times while stuck, want 1", len(r))
		}
		// oauth-flow re-authorises.
		h.st.put(rec(canary+"-a9", canary+"-r9", time.Now().Add(4*time.Hour)))
		time.Sleep(2 * time.Minute)
		if !h.s.Ready() {
			t.Fatalf("not healed: %+v", h.s.Status())
		}
		a, err := h.s.ChatAuth(t.Context(), "")
		if err != nil || a.Token.Reveal() != canary+"-a9" {
			t.Fatalf("ChatAuth = %v, %v", a, err)
		}
	})
}

func TestPendingWriteBack(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		oa := &fakeOAuth{
			validate: func(int, twitch.Token) (twitch.TokenInfo, error) { return okInfo, nil },
			refresh: func(n int, tok twitch.Token) (twitch.TokenGrant, error) {
				return twitch.TokenGrant{AccessToken: twitch.NewToken(fmt.Sprintf("%s-a%d", canary, n+1)),
					RefreshToken: twitch.NewToken(fmt.Sprintf("%s-r%d", canary, n+1)), ExpiresIn: time.Hour}, nil
			},
		}
		h := newHarness(t, oa, Options{RetryMin: time.Second, RetryMax: 8 * time.Second})
		h.st.put(rec(canary+"-a1", canary+"-r1", h.start.Add(time.Hour)))
		h.run()
		synctest.Wait()
		down := errors.New("rpc error: code = Unavailable desc = connection refused")
		h.st.setErrs(down, down)
		// Refresh at 55 min from the cached refresh token; the write fails.
		time.Sleep(56 * time.Minute)
		st := h.s.Status()
		a, err := h.s.ChatAuth(t.Context(), "")
		if err != nil || a.Token.Reveal() != canary+"-a2" || !st.PendingWriteBack || !st.Ready {
			t.Fatalf("ChatAuth = %v, %v; status %+v", a, err, st)
		}
		// The second refresh (1 h later) must still be based on what the
		// document holds (a1/r1), not on the unsaved a2.
		time.Sleep(time.Hour)
		if a, _ := h.s.ChatAuth(t.Context(), ""); a.Token.Reveal() != canary+"-a3" {
			t.Fatalf("token %q, want a3", a.Token.Reveal())
		}
		h.st.setErrs(nil, nil)
		time.Sleep(10 * time.Second)
		got := h.st.get()
		if got.access.Reveal() != canary+"-a3" || got.refresh.Reveal() != canary+"-r3" || h.s.Status().PendingWriteBack {
			t.Fatalf("document holds %q/%q, pending %v; want a3/r3 stored", got.access.Reveal(), got.refresh.Reveal(), h.s.Status().PendingWriteBack)
		}
	})
}

func TestFirestoreDownAtStartTimer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		oa := &fakeOAuth{validate: func(int, twitch.Token) (twitch.TokenInfo, error) { return okInfo, nil }}
		h := newHarness(t, oa, Options{RetryMin: time.Second, RetryMax: 4 * time.Second})
		h.st.put(rec(canary+"-a1", canary+"-r1", h.start.Add(4*time.Hour)))
		h.st.setErrs(errors.New("rpc error: code = Unavailable"), nil)
		h.run()
		time.Sleep(20 * time.Second)
		loads, _ := h.st.counts()
		// Reads at 0, 1, 3, 7, 11, 15, 19 s.
		if loads != 7 || h.s.Ready() || !strings.Contains(h.s.Status().Reason, "Unavailable") {
			t.Fatalf("loads %d, status %+v", loads, h.s.Status())
		}
		h.st.setErrs(nil, nil)
		time.Sleep(5 * time.Second)
		if !h.s.Ready() {
			t.Fatalf("not ready after Firestore came back: %+v", h.s.Status())
		}
	})
}

func TestShortLifetimeDoesNotSpin(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		oa := &fakeOAuth{
			validate: func(int, twitch.Token) (twitch.TokenInfo, error) { return okInfo, nil },
			refresh: func(n int, tok twitch.Token) (twitch.TokenGrant, error) {
				return twitch.TokenGrant{AccessToken: twitch.NewToken(fmt.Sprintf("%s-a%d", canary, n+1)),
					RefreshToken: twitch.NewToken(canary + "-r"), ExpiresIn: time.Minute}, nil
			},
		}
		h := newHarness(t, oa, Options{RefreshBefore: 5 * time.Minute})
		h.st.put(rec(canary+"-a1", canary+"-r", h.start.Add(time.Minute)))
		h.run()
		time.Sleep(10 * time.Minute)
		// Every 30 s (half the 1 min lifetime), not in a tight loop.
		if _, r := oa.times(); len(r) < 15 || len(r) > 22 {
			t.Fatalf("%d refreshes in 10 min with a 1 min lifetime, want about 20", len(r))
		}
		if !h.s.Ready() {
			t.Fatalf("not ready: %+v", h.s.Status())
		}
	})
}
