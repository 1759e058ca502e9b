package twitch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"
)

// DefaultOAuthURL is the base URL of Twitch's OAuth service.
const DefaultOAuthURL = "https://id.twitch.tv"

// OAuth is the part of Twitch's OAuth API the credential sources use.
// *OAuthClient implements it; tests substitute fakes.
type OAuth interface {
	// Validate calls GET /oauth2/validate. A 401 gives an error wrapping
	// ErrTokenInvalid.
	Validate(ctx context.Context, access Token) (TokenInfo, error)
	// Refresh calls POST /oauth2/token with grant_type=refresh_token. A 400
	// "Invalid refresh token" gives an error wrapping ErrRefreshTokenInvalid.
	Refresh(ctx context.Context, refresh Token) (TokenGrant, error)
}

// TokenInfo is Twitch's answer to /oauth2/validate.
type TokenInfo struct {
	ClientID  string
	Login     string
	UserID    string
	Scopes    []string
	ExpiresIn time.Duration // 0: the token does not expire
}

// TokenGrant is Twitch's answer to a refresh: a new access token, the
// refresh token to use next time (the old one when Twitch sent none), and
// the new token's lifetime (0 when not given).
type TokenGrant struct {
	AccessToken  Token
	RefreshToken Token
	ExpiresIn    time.Duration
	Scopes       []string
}

// OAuthError is a non-success answer of Twitch's OAuth service that is not
// one of the sentinel cases. Message is Twitch's "message" field, cut to 200
// bytes, with any secret of the request removed.
type OAuthError struct {
	Op      string // "validate" or "refresh"
	Status  int    // HTTP status code
	Message string
}

func (e *OAuthError) Error() string {
	if e.Message == "" {
		return fmt.Sprintf("twitch: oauth %s: HTTP %d", e.Op, e.Status)
	}
	return fmt.Sprintf("twitch: oauth %s: HTTP %d: %s", e.Op, e.Status, e.Message)
}

// Temporary reports whether retrying the same request may succeed (5xx,
// 429).
func (e *OAuthError) Temporary() bool {
	return e.Status >= 500 || e.Status == http.StatusTooManyRequests
}

// OAuthClient calls Twitch's OAuth endpoints. The zero value talks to
// DefaultOAuthURL without client credentials (enough for Validate). It is
// safe for concurrent use; do not change its fields after first use.
type OAuthClient struct {
	// BaseURL of the OAuth service; default DefaultOAuthURL. Tests point it
	// at an httptest server.
	BaseURL string
	// ClientID and ClientSecret of the registered app (TWITCH_CLIENT_ID,
	// TWITCH_CLIENT_SECRET); needed by Refresh.
	ClientID     string
	ClientSecret Token
	// HTTP is the client to use; default a client with a 15 s timeout.
	HTTP *http.Client
}

var defaultOAuthHTTP = &http.Client{Timeout: 15 * time.Second}

// maxOAuthBody caps how much of a response is read.
const maxOAuthBody = 64 << 10

func (c *OAuthClient) base() string {
	if c == nil || c.BaseURL == "" {
		return DefaultOAuthURL
	}
	return strings.TrimRight(c.BaseURL, "/")
}

func (c *OAuthClient) httpClient() *http.Client {
	if c == nil || c.HTTP == nil {
		return defaultOAuthHTTP
	}
	return c.HTTP
}

// Validate implements OAuth. Twitch documents: "Your app must validate the
// OAuth token when it starts and on an hourly basis thereafter."
func (c *OAuthClient) Validate(ctx context.Context, access Token) (TokenInfo, error) {
	if access.IsZero() {
		return TokenInfo{}, fmt.Errorf("%w (empty token)", ErrTokenInvalid)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base()+"/oauth2/validate", nil)
	if err != nil {
		return TokenInfo{}, fmt.Errorf("twitch: oauth validate: cannot build request: %w", err)
	}
	req.Header.Set("Authorization", "OAuth "+access.Reveal())
	status, body, err := c.do(req, "validate", access)
	if err != nil {
		return TokenInfo{}, err
	}
	switch {
	case status == http.StatusOK:
		var v struct {
			ClientID  string   `json:"client_id"`
			Login     string   `json:"login"`
			Scopes    []string `json:"scopes"`
			UserID    string   `json:"user_id"`
			ExpiresIn int64    `json:"expires_in"`
		}
		if err := json.Unmarshal(body, &v); err != nil {
			return TokenInfo{}, fmt.Errorf("twitch: oauth validate: cannot decode response: %s", errText(err, access))
		}
		return TokenInfo{
			ClientID:  v.ClientID,
			Login:     strings.ToLower(v.Login),
			UserID:    v.UserID,
			Scopes:    v.Scopes,
			ExpiresIn: seconds(v.ExpiresIn),
		}, nil
	case status == http.StatusUnauthorized:
		// {"status": 401, "message": "invalid access token"}
		return TokenInfo{}, fmt.Errorf("%w (validate: 401 %s)", ErrTokenInvalid, message(body, access))
	default:
		return TokenInfo{}, &OAuthError{Op: "validate", Status: status, Message: message(body, access)}
	}
}

// Refresh implements OAuth.
func (c *OAuthClient) Refresh(ctx context.Context, refresh Token) (TokenGrant, error) {
	if refresh.IsZero() {
		return TokenGrant{}, fmt.Errorf("%w (empty refresh token)", ErrRefreshTokenInvalid)
	}
	var clientID string
	var secret Token
	if c != nil {
		clientID, secret = c.ClientID, c.ClientSecret
	}
	if clientID == "" || secret.IsZero() {
		return TokenGrant{}, errors.New("twitch: oauth refresh: client id and client secret are required")
	}
	form := url.Values{
		"grant_type":    {"refresh_token"},
		"refresh_token": {refresh.Reveal()},
		"client_id":     {clientID},
		"client_secret": {secret.Reveal()},
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base()+"/oauth2/token", strings.NewReader(form.Encode()))
	if err != nil {
		return TokenGrant{}, fmt.Errorf("twitch: oauth refresh: cannot build request: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	status, body, err := c.do(req, "refresh", refresh, secret)
	if err != nil {
		return TokenGrant{}, err
	}
	if status != http.StatusOK {
		msg := message(body, refresh, secret)
		// {"error": "Bad Request", "status": 400, "message": "Invalid refresh token"}
		if status == http.StatusBadRequest && strings.EqualFold(msg, "Invalid refresh token") {
			return TokenGrant{}, fmt.Errorf("%w (refresh: 400 %s)", ErrRefreshTokenInvalid, msg)
		}
		return TokenGrant{}, &OAuthError{Op: "refresh", Status: status, Message: msg}
	}
	var v struct {
		AccessToken  string          `json:"access_token"`
		RefreshToken string          `json:"refresh_token"`
		ExpiresIn    int64           `json:"expires_in"`
		Scope        json.RawMessage `json:"scope"`
	}
	if err := json.Unmarshal(body, &v); err != nil {
		return TokenGrant{}, fmt.Errorf("twitch: oauth refresh: cannot decode response: %s", errText(err, refresh, secret))
	}
	if v.AccessToken == "" {
		return TokenGrant{}, errors.New("twitch: oauth refresh: response has no access_token")
	}
	g := TokenGrant{
		AccessToken:  NewToken(v.AccessToken),
		RefreshToken: NewToken(v.RefreshToken),
		ExpiresIn:    seconds(v.ExpiresIn),
		Scopes:       parseScope(v.Scope),
	}
	if g.RefreshToken.IsZero() {
		g.RefreshToken = refresh
	}
	return g, nil
}

// do sends req and reads at most maxOAuthBody bytes of the answer. Transport
// errors name the operation and the URL, never a secret (tokens travel in a
// header and the body, not the URL).
func (c *OAuthClient) do(req *http.Request, op string, secrets ...Token) (int, []byte, error) {
	req.Header.Set("Accept", "application/json")
	resp, err := c.httpClient().Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("twitch: oauth %s: %s", op, errText(err, secrets...))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxOAuthBody))
	if err != nil {
		return 0, nil, fmt.Errorf("twitch: oauth %s: cannot read response: %s", op, errText(err, secrets...))
	}
	return resp.StatusCode, body, nil
}

// message returns the "message" field of a Twitch error body, cut to 200
// bytes of printable text, secrets removed.
func message(body []byte, secrets ...Token) string {
	var v struct {
		Message string `json:"message"`
	}
	if json.Unmarshal(body, &v) != nil || v.Message == "" {
		return ""
	}
	return sanitize(v.Message, secrets...)
}

func errText(err error, secrets ...Token) string { return sanitize(err.Error(), secrets...) }

// sanitize removes secrets and control characters and cuts s to 200 bytes
// (on a rune boundary).
func sanitize(s string, secrets ...Token) string {
	s = Redact(s, secrets...)
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	if len(s) > 200 {
		i := 200
		for i > 0 && !utf8.RuneStart(s[i]) {
			i--
		}
		s = s[:i] + "…"
	}
	return s
}

// parseScope accepts Twitch's "scope" as an array (what the token endpoint
// sends) or a space-separated string (what some examples show).
func parseScope(raw json.RawMessage) []string {
	if len(raw) == 0 {
		return nil
	}
	var list []string
	if json.Unmarshal(raw, &list) == nil {
		return list
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return strings.Fields(s)
	}
	return nil
}

func seconds(n int64) time.Duration {
	if n <= 0 {
		return 0
	}
	if n > int64((1<<63-1)/time.Second) {
		n = int64((1<<63 - 1) / time.Second)
	}
	return time.Duration(n) * time.Second
}
