package twitch

import (
	"context"
	"log/slog"
)

// Token is an OAuth access or refresh token. Every way of printing it
// (String, GoString, LogValue, JSON) says REDACTED; only Reveal gives the
// secret, and only the code that writes PASS or calls Twitch's OAuth endpoints
// should call it.
type Token struct{ s string }

// NewToken wraps a secret. A leading "oauth:" is removed.
func NewToken(s string) Token {
	if len(s) > 6 && s[:6] == "oauth:" {
		s = s[6:]
	}
	return Token{s: s}
}

// Reveal returns the secret itself.
func (t Token) Reveal() string { return t.s }

// IsZero reports whether the token is empty.
func (t Token) IsZero() bool { return t.s == "" }

const redacted = "REDACTED"

func (t Token) String() string               { return redacted }
func (t Token) GoString() string             { return redacted }
func (t Token) LogValue() slog.Value         { return slog.StringValue(redacted) }
func (t Token) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }
func (t Token) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// Auth is what a session needs to log in to Twitch chat.
type Auth struct {
	Login     string // lowercase login the session uses for NICK
	UserID    string // Twitch user id, empty when unknown
	Token     Token  // access token, zero for anonymous
	Anonymous bool   // read-only justinfan login, no PASS sent
}

// AuthSource provides chat credentials to the connection manager. It is
// implemented by the anonymous, static and Firestore sources.
//
// ChatAuth returns the credentials to log in as login (empty: the source's
// own account). It may block on the network and honours ctx.
//
// Invalidate tells the source that the server rejected a (login failure
// NOTICE); the next ChatAuth must not return the same token without first
// refreshing or re-reading it.
type AuthSource interface {
	ChatAuth(ctx context.Context, login string) (Auth, error)
	Invalidate(ctx context.Context, a Auth)
}
