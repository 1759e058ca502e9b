package twitch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"
)

// Defaults of the credential sources' timing.
const (
	DefaultValidateEvery = time.Hour        // Twitch: validate at start and hourly
	DefaultRetryMin      = 30 * time.Second // first retry after a failed check
	DefaultRetryMax      = 10 * time.Minute // cap of the retry backoff
	defaultOpTimeout     = 30 * time.Second // one validation or refresh
)

// StaticOptions configures a Static source. Only Token is required.
type StaticOptions struct {
	// Token is the user access token (TWITCH_OAUTH_TOKEN; a leading
	// "oauth:" is accepted by NewToken).
	Token Token
	// Login the token belongs to (TWITCH_BOT_USERNAME), lowercase. Empty:
	// learnt from the first successful validation. When set, a token of
	// another login is rejected.
	Login string
	// OAuth validates the token; default &OAuthClient{} (DefaultOAuthURL).
	OAuth OAuth
	// ValidateEvery is the validation period; default DefaultValidateEvery.
	ValidateEvery time.Duration
	// RetryMin and RetryMax bound the backoff after a validation that failed
	// without a verdict (network error, 5xx); defaults DefaultRetryMin and
	// DefaultRetryMax.
	RetryMin, RetryMax time.Duration
	// RequiredScopes the token must carry; default [ScopeChatRead].
	RequiredScopes []string
	// Logger receives state changes (never a secret); default: discard.
	Logger *slog.Logger
}

// Static is a credential source with one token from configuration. It
// validates the token at start (Run, or the first ChatAuth) and every
// ValidateEvery. It cannot refresh: once Twitch answers 401, or the token
// lacks a required scope or belongs to another login, the source is not
// ready and ChatAuth fails until the process is restarted with a new token.
// A validation that fails without a verdict (network, 5xx) keeps the token
// in use and is retried with backoff. Safe for concurrent use.
type Static struct {
	opts StaticOptions
	log  *slog.Logger

	mu        sync.Mutex
	login     string
	userID    string
	scopes    []string
	expiresAt time.Time
	attempted bool  // a validation has finished (any outcome)
	bad       error // definitive verdict against the token
	failures  int   // validations in a row without a verdict
	flight    chan struct{}
	st        AuthStatus
}

// NewStatic returns a Static source. It does no I/O; start Run.
func NewStatic(opts StaticOptions) (*Static, error) {
	if opts.Token.IsZero() {
		return nil, errors.New("twitch: static credentials: empty token")
	}
	if opts.OAuth == nil {
		opts.OAuth = &OAuthClient{}
	}
	if opts.ValidateEvery <= 0 {
		opts.ValidateEvery = DefaultValidateEvery
	}
	if opts.RetryMin <= 0 {
		opts.RetryMin = DefaultRetryMin
	}
	if opts.RetryMax < opts.RetryMin {
		opts.RetryMax = max(DefaultRetryMax, opts.RetryMin)
	}
	if opts.RequiredScopes == nil {
		opts.RequiredScopes = []string{ScopeChatRead}
	}
	opts.Login = strings.ToLower(opts.Login)
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Static{opts: opts, log: log, login: opts.Login}
	s.st = AuthStatus{Mode: AuthStatic, Login: opts.Login, Reason: "not validated yet"}
	return s, nil
}

// Run validates the token now and then every ValidateEvery, until ctx is
// done; it returns ctx.Err(). After a definitive verdict against the token
// it only waits for ctx.
func (s *Static) Run(ctx context.Context) error {
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-timer.C:
		}
		s.validate(ctx)
		s.mu.Lock()
		bad, failures, last := s.bad, s.failures, s.st.LastValidation.At
		s.mu.Unlock()
		if bad != nil {
			<-ctx.Done()
			return ctx.Err()
		}
		next := last.Add(s.opts.ValidateEvery)
		if failures > 0 {
			next = last.Add(RetryDelay(failures, s.opts.RetryMin, s.opts.RetryMax))
		}
		timer.Reset(max(time.Until(next), 0))
	}
}

// ChatAuth implements AuthSource. It waits for the first validation when
// none has finished yet.
func (s *Static) ChatAuth(ctx context.Context, login string) (Auth, error) {
	for range 2 {
		s.mu.Lock()
		if login != "" && s.login != "" && !strings.EqualFold(login, s.login) {
			s.mu.Unlock()
			return Auth{}, fmt.Errorf("%w %q (static token is for %q)", ErrAuthUnknownLogin, login, s.login)
		}
		if s.attempted {
			a, err := s.authLocked(time.Now())
			s.mu.Unlock()
			return a, err
		}
		s.mu.Unlock()
		if err := s.validate(ctx); err != nil && ctx.Err() != nil {
			return Auth{}, ctx.Err()
		}
	}
	return Auth{}, fmt.Errorf("%w: token not validated yet", ErrAuthNotReady)
}

func (s *Static) authLocked(now time.Time) (Auth, error) {
	if s.bad != nil {
		return Auth{}, fmt.Errorf("%w: %w", ErrAuthNotReady, s.bad)
	}
	if !s.expiresAt.IsZero() && !now.Before(s.expiresAt) {
		return Auth{}, fmt.Errorf("%w: static token expired at %s and cannot be refreshed", ErrAuthNotReady, s.expiresAt.UTC().Format(time.RFC3339))
	}
	if s.login == "" {
		return Auth{}, fmt.Errorf("%w: login unknown (not configured, and validation has not succeeded)", ErrAuthNotReady)
	}
	return Auth{Login: s.login, UserID: s.userID, Token: s.opts.Token}, nil
}

// Invalidate implements AuthSource: the server rejected a.Token, so the
// token is validated again now; a 401 makes the source not ready.
func (s *Static) Invalidate(ctx context.Context, a Auth) {
	if a.Token.Reveal() != s.opts.Token.Reveal() {
		return
	}
	s.log.Warn("twitch rejected the static token at login; validating it again")
	s.validate(ctx)
}

// Close does nothing: a static source holds no client of its own.
func (s *Static) Close() error { return nil }

// Ready reports whether the token has been checked and is not known to be
// bad or expired.
func (s *Static) Ready() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, err := s.authLocked(time.Now())
	return s.attempted && err == nil
}

// Status returns a snapshot; it never contains the token.
func (s *Static) Status() AuthStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.st.Clone()
	st.Ready = false
	st.Reason = ""
	if !s.attempted {
		st.Reason = "not validated yet"
	} else if _, err := s.authLocked(time.Now()); err != nil {
		st.Reason = strings.TrimPrefix(err.Error(), ErrAuthNotReady.Error()+": ")
	} else {
		st.Ready = true
	}
	return st
}

// validate runs one validation, or joins the one in flight, and waits for
// it or ctx. The validation itself is not cancelled with ctx (other callers
// may share it); it is bounded by defaultOpTimeout.
func (s *Static) validate(ctx context.Context) error {
	s.mu.Lock()
	ch := s.flight
	if ch == nil {
		ch = make(chan struct{})
		s.flight = ch
		go s.runValidation(context.WithoutCancel(ctx), ch)
	}
	s.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *Static) runValidation(ctx context.Context, done chan struct{}) {
	ctx, cancel := context.WithTimeout(ctx, defaultOpTimeout)
	defer cancel()
	info, err := s.opts.OAuth.Validate(ctx, s.opts.Token)
	now := time.Now()

	s.mu.Lock()
	defer func() {
		s.flight = nil
		close(done)
		s.mu.Unlock()
	}()
	wasOK := s.attempted && s.bad == nil && s.failures == 0
	s.attempted = true
	if err == nil {
		err = CheckToken(info, s.opts.Login, s.opts.RequiredScopes)
	}
	switch {
	case err == nil:
		s.failures = 0
		s.login, s.userID, s.scopes = info.Login, info.UserID, slices.Clone(info.Scopes)
		if info.ExpiresIn > 0 {
			s.expiresAt = now.Add(info.ExpiresIn)
		} else {
			s.expiresAt = time.Time{}
		}
		s.st.Login, s.st.UserID, s.st.Scopes, s.st.ExpiresAt = s.login, s.userID, slices.Clone(s.scopes), s.expiresAt
		s.st.LastValidation = AuthEvent{At: now, OK: true, Detail: "ok"}
		s.st.Validations++
		if !wasOK {
			s.log.Info("twitch static token valid", "login", s.login, "userId", s.userID,
				"scopes", s.scopes, "expiresAt", s.expiresAt)
		}
	case errors.Is(err, ErrTokenInvalid), errors.Is(err, ErrTokenScope), errors.Is(err, ErrTokenLogin):
		s.bad = fmt.Errorf("static token rejected, it cannot be refreshed (configure a new token): %w", err)
		detail := sanitize(err.Error(), s.opts.Token)
		s.st.LastValidation = AuthEvent{At: now, Detail: detail}
		s.st.ValidationFailures++
		s.st.LastError = s.st.LastValidation
		s.log.Error("twitch static token rejected; credentials not ready until a new token is configured", "error", detail)
	default:
		s.failures++
		detail := sanitize(err.Error(), s.opts.Token)
		s.st.LastValidation = AuthEvent{At: now, Detail: detail}
		s.st.ValidationFailures++
		s.st.LastError = s.st.LastValidation
		if s.failures == 1 {
			s.log.Warn("twitch token validation failed; keeping the token and retrying", "error", detail)
		}
	}
}

// CheckToken reports whether a validated token belongs to a user, fits login
// (when not empty) and carries every scope in scopes; the error wraps
// ErrTokenLogin or ErrTokenScope.
func CheckToken(info TokenInfo, login string, scopes []string) error {
	if login != "" && !strings.EqualFold(info.Login, login) {
		return fmt.Errorf("%w: token is for %q, expected %q", ErrTokenLogin, info.Login, login)
	}
	if info.Login == "" {
		return fmt.Errorf("%w: token has no user (an app access token cannot log in to chat)", ErrTokenLogin)
	}
	for _, sc := range scopes {
		if !HasScope(info.Scopes, sc) {
			return fmt.Errorf("%w: %s (has %s)", ErrTokenScope, sc, strings.Join(info.Scopes, " "))
		}
	}
	return nil
}

// RetryDelay returns lo·2^(n-1), capped at hi, for the n-th failure
// (n ≥ 1): the credential sources' retry schedule.
func RetryDelay(n int, lo, hi time.Duration) time.Duration {
	d := lo
	for i := 1; i < n && d < hi; i++ {
		d *= 2
	}
	return min(d, hi)
}

// String describes the source without the token, so that printing or
// logging it (fmt %v, %+v, %#v) shows no secret.
func (s *Static) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return fmt.Sprintf("twitch.Static{login:%q}", s.login)
}

// GoString is String.
func (s *Static) GoString() string { return s.String() }

// LogValue is String.
func (s *Static) LogValue() slog.Value { return slog.StringValue(s.String()) }
