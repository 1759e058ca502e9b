// Package firestoreauth is the Firestore-backed Twitch credential source:
// it reads a token document written by another service (oauth-flow),
// validates the token at start and hourly, refreshes it through Twitch's
// OAuth service shortly before it expires, on a 401 and when a session's
// login fails, and writes the refreshed token back to the same document in
// a transaction that keeps a newer token stored by someone else.
//
// See README.md for the document contract, the settings and what an
// operator sees when a token goes bad.
package firestoreauth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"cloud.google.com/go/firestore"

	"github.com/ingress-egress/ingress-egress/twitch"
)

// Defaults of Options.
const (
	DefaultDatabase      = "(default)"
	DefaultRefreshBefore = 5 * time.Minute
	DefaultRetryMin      = time.Second
	DefaultRetryMax      = time.Minute
	DefaultReloadMin     = 30 * time.Second
	DefaultReloadMax     = 10 * time.Minute
	DefaultOpTimeout     = 30 * time.Second
)

// Options configures a Source. Lookup is required, and Client or Project.
type Options struct {
	// Client to use. Nil: New creates one for Project and Database (and
	// Close closes it); the Firestore library honours
	// FIRESTORE_EMULATOR_HOST.
	Client *firestore.Client
	// Project is the Google Cloud project (GOOGLE_CLOUD_PROJECT or
	// FIRESTORE_PROJECT_ID); firestore.DetectProjectID detects it.
	Project string
	// Database is the Firestore database id; default "(default)".
	Database string

	// Lookup locates the token document: DocPath("twitch_tokens/{login}")
	// or FieldQuery("twitch_tokens", "login", "").
	Lookup Lookup
	// Login is the account (TWITCH_BOT_USERNAME): it fills "{login}" and
	// the token must belong to it. Empty: the document's login.
	Login string

	// OAuth validates and refreshes; default &twitch.OAuthClient{} (which
	// cannot refresh without ClientID and ClientSecret).
	OAuth twitch.OAuth
	// RequiredScopes the token must carry; default [chat:read].
	RequiredScopes []string

	// ValidateEvery: period of validation (and of re-reading the
	// document); default twitch.DefaultValidateEvery (1 h).
	ValidateEvery time.Duration
	// RefreshBefore: refresh this long before expiresAt; default 5 min.
	RefreshBefore time.Duration
	// RetryMin, RetryMax: backoff of failed Firestore reads and writes,
	// refreshes and validations without a verdict; defaults 1 s and 1 min.
	RetryMin, RetryMax time.Duration
	// ReloadMin, ReloadMax: backoff of re-reading the document while the
	// source is stuck on a bad token (refresh token rejected, wrong login
	// or scope); defaults 30 s and 10 min.
	ReloadMin, ReloadMax time.Duration
	// OpTimeout bounds one load, validation, refresh or write-back;
	// default 30 s.
	OpTimeout time.Duration

	// Logger receives state changes (never a secret); default: discard.
	Logger *slog.Logger
}

// Source is the Firestore credential source. Start Run; ChatAuth also works
// without it (loading or refreshing inline) but nothing is then refreshed
// ahead of time or validated hourly. Safe for concurrent use.
type Source struct {
	opts    Options
	st      store
	oauth   twitch.OAuth
	log     *slog.Logger
	closeDB func() error
	wake    chan struct{}

	mu       sync.Mutex
	cur      record
	have     bool
	bad      bool  // cur.access was rejected (401, Invalidate): refresh before use
	terminal error // stuck until the document changes
	blocks   bool  // terminal also makes cur unusable (wrong login/scope)
	termRec  record
	pending  *pendingWrite
	flight   chan struct{}

	loadFails, refreshFails, writeFails, validateFails, reloads int
	nextLoad, nextRefresh, nextWrite, nextValidate              time.Time

	status twitch.AuthStatus
}

type pendingWrite struct{ base, fresh record }

// New returns a Source. It fails only on configuration errors; Firestore
// is not contacted until Run or ChatAuth.
func New(ctx context.Context, opts Options) (*Source, error) {
	if opts.Lookup == nil {
		return nil, errors.New("firestoreauth: Options.Lookup is required")
	}
	closeDB := func() error { return nil }
	if opts.Client == nil {
		if opts.Project == "" {
			return nil, errors.New("firestoreauth: Options.Project (or Client) is required")
		}
		if opts.Database == "" {
			opts.Database = DefaultDatabase
		}
		c, err := firestore.NewClientWithDatabase(ctx, opts.Project, opts.Database)
		if err != nil {
			return nil, fmt.Errorf("firestoreauth: cannot create client: %w", err)
		}
		opts.Client, closeDB = c, c.Close
	}
	opts.Login = strings.ToLower(opts.Login)
	s := newSource(&fsStore{db: opts.Client, lookup: opts.Lookup, login: opts.Login}, opts)
	s.closeDB = closeDB
	return s, nil
}

func newSource(st store, opts Options) *Source {
	if opts.OAuth == nil {
		opts.OAuth = &twitch.OAuthClient{}
	}
	if opts.RequiredScopes == nil {
		opts.RequiredScopes = []string{twitch.ScopeChatRead}
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&opts.ValidateEvery, twitch.DefaultValidateEvery)
	def(&opts.RefreshBefore, DefaultRefreshBefore)
	def(&opts.RetryMin, DefaultRetryMin)
	def(&opts.RetryMax, max(DefaultRetryMax, opts.RetryMin))
	def(&opts.ReloadMin, DefaultReloadMin)
	def(&opts.ReloadMax, max(DefaultReloadMax, opts.ReloadMin))
	def(&opts.OpTimeout, DefaultOpTimeout)
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Source{
		opts: opts, st: st, oauth: opts.OAuth, log: log,
		closeDB: func() error { return nil },
		wake:    make(chan struct{}, 1),
		status:  twitch.AuthStatus{Mode: twitch.AuthFirestore, Login: opts.Login},
	}
}

// Close closes the Firestore client if New created it. Stop Run first.
func (s *Source) Close() error { return s.closeDB() }

// Run keeps the credentials fresh until ctx is done and returns ctx.Err():
// it loads the document (retrying with capped backoff while Firestore is
// unreachable or the document missing or malformed), validates the token
// at start and every ValidateEvery, refreshes it RefreshBefore its expiry,
// retries pending write-backs, and while stuck on a bad token re-reads the
// document with backoff until oauth-flow replaces it.
func (s *Source) Run(ctx context.Context) error {
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-timer.C:
		case <-s.wake:
		}
		s.step(ctx)
		s.mu.Lock()
		next := s.nextWakeLocked()
		s.mu.Unlock()
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(max(time.Until(next), 0))
	}
}

// step runs the first due task.
func (s *Source) step(ctx context.Context) {
	s.mu.Lock()
	now := time.Now()
	var op func(context.Context)
	switch {
	case (!s.have || s.terminal != nil) && !now.Before(s.nextLoad):
		op = s.opLoad
	case s.pending != nil && !now.Before(s.nextWrite):
		op = s.opWrite
	case s.have && s.terminal == nil && s.needsRefreshLocked(now) && !now.Before(s.nextRefresh):
		stale := s.cur.access
		op = func(ctx context.Context) { s.opRefresh(ctx, stale) }
	case s.have && s.terminal == nil && !now.Before(s.nextValidate):
		op = s.opCheck
	}
	s.mu.Unlock()
	if op != nil {
		s.do(ctx, op)
	}
}

func (s *Source) nextWakeLocked() time.Time {
	next := time.Now().Add(s.opts.ValidateEvery)
	earlier := func(t time.Time) {
		if t.Before(next) {
			next = t
		}
	}
	if !s.have || s.terminal != nil {
		earlier(s.nextLoad)
	}
	if s.pending != nil {
		earlier(s.nextWrite)
	}
	if s.have && s.terminal == nil {
		earlier(s.nextValidate)
		if s.bad {
			earlier(s.nextRefresh)
		} else if !s.cur.expiresAt.IsZero() {
			t := s.cur.expiresAt.Add(-s.opts.RefreshBefore)
			if t.Before(s.nextRefresh) {
				t = s.nextRefresh
			}
			earlier(t)
		}
	}
	return next
}

func (s *Source) needsRefreshLocked(now time.Time) bool {
	return s.bad || (!s.cur.expiresAt.IsZero() && !now.Before(s.cur.expiresAt.Add(-s.opts.RefreshBefore)))
}

// usableLocked reports whether cur may be handed to a session.
func (s *Source) usableLocked(now time.Time) bool {
	return s.have && !s.bad && !(s.terminal != nil && s.blocks) &&
		(s.cur.expiresAt.IsZero() || now.Before(s.cur.expiresAt))
}

// do runs op in the single flight slot, or waits for the op already in
// flight (then returns: the caller looks at the state again). The op runs
// detached from ctx, bounded by OpTimeout, so that one caller giving up
// does not fail the others.
func (s *Source) do(ctx context.Context, op func(context.Context)) {
	s.mu.Lock()
	if ch := s.flight; ch != nil {
		s.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
		}
		return
	}
	ch := make(chan struct{})
	s.flight = ch
	s.mu.Unlock()
	go func() {
		opCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.opts.OpTimeout)
		defer cancel()
		op(opCtx)
		s.mu.Lock()
		s.flight = nil
		s.mu.Unlock()
		close(ch)
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}()
	select {
	case <-ch:
	case <-ctx.Done():
	}
}

// ChatAuth implements twitch.AuthSource. With no usable token it loads the
// document or refreshes inline (joining an operation in flight) and fails
// with an error wrapping twitch.ErrAuthNotReady when that does not help.
func (s *Source) ChatAuth(ctx context.Context, login string) (twitch.Auth, error) {
	for range 3 {
		s.mu.Lock()
		want := s.opts.Login
		if want == "" && s.have {
			want = s.cur.login
		}
		if login != "" && want != "" && !strings.EqualFold(login, want) {
			s.mu.Unlock()
			return twitch.Auth{}, fmt.Errorf("%w %q (this source is for %q)", twitch.ErrAuthUnknownLogin, login, want)
		}
		now := time.Now()
		if s.usableLocked(now) {
			a := twitch.Auth{Login: s.cur.login, UserID: s.cur.userID, Token: s.cur.access}
			s.mu.Unlock()
			return a, nil
		}
		var op func(context.Context)
		switch {
		case s.terminal != nil:
			// Only a changed document helps; Run re-reads it.
		case !s.have:
			op = s.opLoad
		default:
			stale := s.cur.access
			op = func(ctx context.Context) { s.opRefresh(ctx, stale) }
		}
		s.mu.Unlock()
		if op == nil {
			break
		}
		s.do(ctx, op)
		if err := ctx.Err(); err != nil {
			return twitch.Auth{}, err
		}
	}
	s.mu.Lock()
	reason := s.reasonLocked(time.Now())
	s.mu.Unlock()
	return twitch.Auth{}, fmt.Errorf("%w: %s", twitch.ErrAuthNotReady, reason)
}

// Invalidate implements twitch.AuthSource: when a.Token is the current
// token it is marked bad and refreshed now (waiting at most for ctx).
func (s *Source) Invalidate(ctx context.Context, a twitch.Auth) {
	s.mu.Lock()
	if !s.have || a.Token.Reveal() != s.cur.access.Reveal() {
		s.mu.Unlock()
		return
	}
	s.bad = true
	s.nextRefresh = time.Time{}
	stale := s.cur.access
	s.mu.Unlock()
	s.log.Warn("twitch rejected the token at login; refreshing it")
	s.do(ctx, func(ctx context.Context) { s.opRefresh(ctx, stale) })
}

// Ready reports whether a token is known, usable and refreshable: false
// before the first load, while stuck on a rejected refresh token or a wrong
// login or scope, and when the token expired or was rejected and no
// refresh has succeeded yet.
func (s *Source) Ready() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.usableLocked(time.Now()) && s.terminal == nil
}

// Status returns a snapshot; it never contains a token.
func (s *Source) Status() twitch.AuthStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.status.Clone()
	now := time.Now()
	st.Ready = s.usableLocked(now) && s.terminal == nil
	st.Reason = ""
	if !st.Ready {
		st.Reason = s.reasonLocked(now)
	}
	st.PendingWriteBack = s.pending != nil
	if s.have {
		st.Login, st.UserID, st.Scopes, st.ExpiresAt = s.cur.login, s.cur.userID, slices.Clone(s.cur.scopes), s.cur.expiresAt
		st.Document = s.cur.path
	}
	return st
}

func (s *Source) reasonLocked(now time.Time) string {
	switch {
	case s.terminal != nil:
		return s.safe(s.terminal.Error())
	case !s.have && s.status.LastLoad.Detail != "":
		return "no token loaded: " + s.status.LastLoad.Detail
	case !s.have:
		return "no token loaded yet"
	case s.bad:
		return "token rejected by Twitch; refresh pending" + lastErr(s.status.LastRefresh)
	case !s.cur.expiresAt.IsZero() && !now.Before(s.cur.expiresAt):
		return "token expired; refresh pending" + lastErr(s.status.LastRefresh)
	}
	return ""
}

func lastErr(e twitch.AuthEvent) string {
	if e.At.IsZero() || e.OK {
		return ""
	}
	return " (last refresh: " + e.Detail + ")"
}

// safe removes every secret the source knows from s and cuts it.
func (s *Source) safe(msg string) string {
	secrets := []twitch.Token{s.cur.access, s.cur.refresh, s.termRec.access, s.termRec.refresh}
	if s.pending != nil {
		secrets = append(secrets, s.pending.fresh.access, s.pending.fresh.refresh)
	}
	msg = twitch.Redact(msg, secrets...)
	if len(msg) > 300 {
		msg = msg[:300] + "…"
	}
	return msg
}

// event records an outcome, and a failure also as LastError. Callers hold mu.
func (s *Source) eventLocked(dst *twitch.AuthEvent, ok bool, detail string) {
	*dst = twitch.AuthEvent{At: time.Now(), OK: ok, Detail: s.safe(detail)}
	switch {
	case dst == &s.status.LastValidation && ok:
		s.status.Validations++
	case dst == &s.status.LastValidation:
		s.status.ValidationFailures++
	case dst == &s.status.LastRefresh && ok:
		s.status.Refreshes++
	case dst == &s.status.LastRefresh:
		s.status.RefreshFailures++
	}
	if !ok {
		s.status.LastError = *dst
	}
}

// String describes the source without secrets, so that printing or logging
// it (fmt %v, %+v, %#v) shows no token.
func (s *Source) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return fmt.Sprintf("firestoreauth.Source{document:%q login:%q}", s.cur.path, s.cur.login)
}

// GoString is String.
func (s *Source) GoString() string { return s.String() }

// LogValue is String.
func (s *Source) LogValue() slog.Value { return slog.StringValue(s.String()) }
