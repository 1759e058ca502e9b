package twitch

import (
	"errors"
	"slices"
	"strings"
	"time"
)

// Errors of the credential sources. Each is wrapped with context; test with
// errors.Is. None of them, nor any error a source returns, contains a secret.
var (
	// ErrAuthNotReady: the source has no usable token yet (Firestore
	// unreachable, document missing or malformed, refresh failing). The
	// wrapping error says why.
	ErrAuthNotReady = errors.New("twitch: credentials not ready")
	// ErrAuthUnknownLogin: ChatAuth asked for a login the source has no
	// credentials for.
	ErrAuthUnknownLogin = errors.New("twitch: no credentials for login")
	// ErrTokenInvalid: Twitch answered 401 to /oauth2/validate; the access
	// token is expired or revoked.
	ErrTokenInvalid = errors.New("twitch: access token invalid")
	// ErrRefreshTokenInvalid: Twitch answered 400 "Invalid refresh token" to
	// /oauth2/token; only a new authorisation (oauth-flow) fixes it.
	ErrRefreshTokenInvalid = errors.New("twitch: refresh token invalid")
	// ErrTokenScope: the token lacks a scope the chat login needs (chat:read).
	ErrTokenScope = errors.New("twitch: token lacks a required scope")
	// ErrTokenLogin: the token belongs to another login than configured.
	ErrTokenLogin = errors.New("twitch: token belongs to another login")
)

// ScopeChatRead is the scope Twitch requires for an authenticated IRC login
// that reads chat.
const ScopeChatRead = "chat:read"

// AuthMode names the kind of credential source.
type AuthMode string

// The credential source kinds.
const (
	AuthAnonymous AuthMode = "anonymous" // justinfan login, read-only
	AuthStatic    AuthMode = "static"    // one token from configuration, not refreshable
	AuthFirestore AuthMode = "firestore" // token document written by oauth-flow, refreshed here
)

// AuthEvent is the outcome of one validation, refresh or document read.
// Detail is a human-readable result ("ok", "401 invalid access token",
// "refresh token rejected ..."); it never contains a secret.
type AuthEvent struct {
	At     time.Time `json:"at"`
	OK     bool      `json:"ok"`
	Detail string    `json:"detail,omitempty"`
}

// AuthStatus is a snapshot of a credential source for /_debug/twitch and
// logs. It never contains a token or the client secret; it is a copy the
// caller owns.
type AuthStatus struct {
	Mode   AuthMode `json:"mode"`
	Ready  bool     `json:"ready"`
	Reason string   `json:"reason,omitempty"` // why not ready; empty when ready

	Login     string    `json:"login,omitempty"`
	UserID    string    `json:"userId,omitempty"`
	Scopes    []string  `json:"scopes,omitempty"`
	ExpiresAt time.Time `json:"expiresAt,omitzero"` // zero: unknown

	// Document is the Firestore document the token comes from (firestore
	// mode only), e.g. "twitch_tokens/mybot".
	Document string `json:"document,omitempty"`
	// PendingWriteBack: a refreshed token is in use but not yet stored in
	// Firestore (firestore mode only); it is retried.
	PendingWriteBack bool `json:"pendingWriteBack,omitempty"`

	LastLoad       AuthEvent `json:"lastLoad,omitzero"` // last read of the token document
	LastValidation AuthEvent `json:"lastValidation,omitzero"`
	LastRefresh    AuthEvent `json:"lastRefresh,omitzero"`
	LastError      AuthEvent `json:"lastError,omitzero"` // most recent failure of any kind

	// Counts of validations and refreshes by outcome, since start.
	Validations        uint64 `json:"validations"`
	ValidationFailures uint64 `json:"validationFailures"`
	Refreshes          uint64 `json:"refreshes"`
	RefreshFailures    uint64 `json:"refreshFailures"`
}

// Clone returns a deep copy of s.
func (s AuthStatus) Clone() AuthStatus {
	s.Scopes = slices.Clone(s.Scopes)
	return s
}

// HasScope reports whether scope is among scopes.
func HasScope(scopes []string, scope string) bool {
	return slices.Contains(scopes, scope)
}

// Redact returns s with every occurrence of each non-empty secret replaced
// by REDACTED. Sources pass every foreign error text (HTTP bodies, client
// library errors) through it before it reaches a log, an error or a status.
func Redact(s string, secrets ...Token) string {
	for _, t := range secrets {
		if len(t.s) >= 4 && strings.Contains(s, t.s) {
			s = strings.ReplaceAll(s, t.s, redacted)
		}
	}
	return s
}
