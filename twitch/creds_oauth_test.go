package twitch

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/ingress-egress/ingress-egress/twitch/internal/oauthfake"
)

// canary is a secret that must never be seen outside Reveal.
const canary = "CANARYc4n4ry5ecret"

var botAcct = oauthfake.Account{Login: "mybot", UserID: "141981764", Scopes: []string{"chat:read", "chat:edit"}}

func newFake(t *testing.T) (*oauthfake.Server, *OAuthClient) {
	t.Helper()
	f := oauthfake.New(t)
	f.Prefix = canary
	f.ClientSecret = canary + "-client-secret"
	return f, &OAuthClient{BaseURL: f.URL, ClientID: f.ClientID, ClientSecret: NewToken(f.ClientSecret)}
}

func TestOAuthValidate(t *testing.T) {
	f, c := newFake(t)
	good := canary + "-good"
	f.AddAccess(good, botAcct, time.Hour)
	tests := []struct {
		name    string
		tok     string
		fail    int // FailNext status, 0: none
		body    string
		wantErr error // nil: success expected
		wantOAE int   // OAuthError status expected
	}{
		{name: "valid", tok: good},
		{name: "oauth prefix", tok: "oauth:" + good},
		{name: "unknown", tok: canary + "-unknown", wantErr: ErrTokenInvalid},
		{name: "empty", tok: "", wantErr: ErrTokenInvalid},
		{name: "server error", tok: good, fail: 500, body: `{"status":500,"message":"internal error ` + good + `"}`, wantOAE: 500},
		{name: "bad json", tok: good, fail: 200, body: `{"login":`, wantErr: errAny},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.fail != 0 {
				f.FailNext("/oauth2/validate", tt.fail, tt.body)
			}
			info, err := c.Validate(context.Background(), NewToken(tt.tok))
			if err != nil && strings.Contains(err.Error(), canary) {
				t.Fatalf("error leaks a secret: %v", err)
			}
			switch {
			case tt.wantOAE != 0:
				var oe *OAuthError
				if !errors.As(err, &oe) || oe.Status != tt.wantOAE || !oe.Temporary() {
					t.Fatalf("Validate err = %v, want OAuthError %d", err, tt.wantOAE)
				}
			case tt.wantErr == errAny:
				if err == nil {
					t.Fatalf("Validate err = nil, want an error")
				}
			case tt.wantErr != nil:
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Validate err = %v, want %v", err, tt.wantErr)
				}
			default:
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				if info.Login != "mybot" || info.UserID != "141981764" || !HasScope(info.Scopes, "chat:read") ||
					info.ClientID != f.ClientID || info.ExpiresIn <= 50*time.Minute || info.ExpiresIn > time.Hour {
					t.Fatalf("Validate = %+v", info)
				}
			}
		})
	}
}

var errAny = errors.New("any error")

func TestOAuthRefresh(t *testing.T) {
	f, c := newFake(t)
	f.Rotate = true
	f.AddRefresh(canary+"-r1", botAcct)
	f.AddRefresh(canary+"-r2", botAcct)

	t.Run("ok", func(t *testing.T) {
		g, err := c.Refresh(context.Background(), NewToken(canary+"-r1"))
		if err != nil {
			t.Fatalf("Refresh: %v", err)
		}
		acc, ref := f.Issued()
		if g.AccessToken.Reveal() != acc || g.RefreshToken.Reveal() != ref || g.ExpiresIn != 4*time.Hour ||
			!HasScope(g.Scopes, "chat:read") {
			t.Fatalf("Refresh = %+v, want access %s refresh %s", g, acc, ref)
		}
		if s := fmt.Sprintf("%v %+v %#v", g, g, g); strings.Contains(s, canary) {
			t.Fatalf("grant prints a secret: %s", s)
		}
	})
	t.Run("rotated refresh token is dead", func(t *testing.T) {
		_, err := c.Refresh(context.Background(), NewToken(canary+"-r1"))
		if !errors.Is(err, ErrRefreshTokenInvalid) || strings.Contains(err.Error(), canary) {
			t.Fatalf("Refresh err = %v, want ErrRefreshTokenInvalid", err)
		}
	})
	t.Run("scope as string", func(t *testing.T) {
		f.FailNext("/oauth2/token", 200, `{"access_token":"a`+canary+`","expires_in":60,"scope":"chat:read chat:edit","token_type":"bearer"}`)
		g, err := c.Refresh(context.Background(), NewToken(canary+"-r2"))
		if err != nil || !HasScope(g.Scopes, "chat:edit") || g.RefreshToken.Reveal() != canary+"-r2" || g.ExpiresIn != time.Minute {
			t.Fatalf("Refresh = %+v, %v; want scopes parsed, old refresh token kept", g, err)
		}
	})
	errCases := []struct {
		name     string
		client   *OAuthClient
		fail     int
		body     string
		sentinel error
		status   int
	}{
		{name: "invalid client", client: &OAuthClient{BaseURL: f.URL, ClientID: "other", ClientSecret: NewToken(f.ClientSecret)}, status: 400},
		{name: "invalid secret", client: &OAuthClient{BaseURL: f.URL, ClientID: f.ClientID, ClientSecret: NewToken(canary + "-wrong")}, status: 403},
		{name: "no client credentials", client: &OAuthClient{BaseURL: f.URL}, sentinel: errAny},
		{name: "server error echoing secret", client: c, fail: 503, body: `{"status":503,"message":"` + canary + `-r2 ` + f.ClientSecret + `"}`, status: 503},
		{name: "no access token", client: c, fail: 200, body: `{"token_type":"bearer"}`, sentinel: errAny},
		{name: "unreachable", client: &OAuthClient{BaseURL: "http://127.0.0.1:1", ClientID: "x", ClientSecret: NewToken(canary)}, sentinel: errAny},
	}
	for _, tt := range errCases {
		t.Run(tt.name, func(t *testing.T) {
			if tt.fail != 0 {
				f.FailNext("/oauth2/token", tt.fail, tt.body)
			}
			_, err := tt.client.Refresh(context.Background(), NewToken(canary+"-r2"))
			if err == nil {
				t.Fatalf("Refresh err = nil")
			}
			if strings.Contains(err.Error(), canary) {
				t.Fatalf("error leaks a secret: %v", err)
			}
			if errors.Is(err, ErrRefreshTokenInvalid) {
				t.Fatalf("Refresh err = %v: must not be terminal", err)
			}
			var oe *OAuthError
			if tt.status != 0 && (!errors.As(err, &oe) || oe.Status != tt.status) {
				t.Fatalf("Refresh err = %v, want OAuthError %d", err, tt.status)
			}
		})
	}
}

func TestTokenRedacted(t *testing.T) {
	a := Auth{Login: "mybot", Token: NewToken("oauth:" + canary)}
	if a.Token.Reveal() != canary {
		t.Fatalf("Reveal = %q, want the prefix removed", a.Token.Reveal())
	}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("x", "auth", a, "token", a.Token)
	j, _ := json.Marshal(a)
	for _, s := range []string{fmt.Sprint(a), fmt.Sprintf("%+v", a), fmt.Sprintf("%#v", a), string(j), buf.String()} {
		if strings.Contains(s, canary) || !strings.Contains(s, "REDACTED") {
			t.Errorf("printed Auth = %s, want REDACTED", s)
		}
	}
}

func TestRedact(t *testing.T) {
	got := Redact("a "+canary+" b "+canary, NewToken(canary), Token{}, NewToken("ab"))
	if got != "a REDACTED b REDACTED" {
		t.Fatalf("Redact = %q", got)
	}
	if got := sanitize(strings.Repeat("é", 300)+"\n", NewToken(canary)); len(got) > 204 || strings.ContainsRune(got, '\n') {
		t.Fatalf("sanitize did not cut: %d bytes", len(got))
	}
}

func TestAnonymous(t *testing.T) {
	var buf bytes.Buffer
	a := NewAnonymous(slog.New(slog.NewTextHandler(&buf, nil)))
	if !strings.Contains(buf.String(), "anonymous") || !strings.Contains(buf.String(), "WARN") {
		t.Fatalf("no warning logged: %q", buf.String())
	}
	for range 100 {
		auth, err := a.ChatAuth(context.Background(), "")
		if err != nil || !auth.Anonymous || !auth.Token.IsZero() {
			t.Fatalf("ChatAuth = %+v, %v", auth, err)
		}
		digits, ok := strings.CutPrefix(auth.Login, "justinfan")
		if !ok || len(digits) < 5 || len(digits) > 8 || strings.Trim(digits, "0123456789") != "" {
			t.Fatalf("login %q, want justinfan + 5..8 digits", auth.Login)
		}
	}
	if !a.Ready() || a.Status().Mode != AuthAnonymous {
		t.Fatalf("Ready %v Status %+v", a.Ready(), a.Status())
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := a.ChatAuth(ctx, ""); err == nil {
		t.Fatalf("ChatAuth with a cancelled ctx: err = nil")
	}
}
