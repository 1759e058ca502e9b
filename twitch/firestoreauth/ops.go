package firestoreauth

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ingress-egress/ingress-egress/twitch"
)

// The operations below run one at a time, in the flight slot of do.

// opLoad reads the document (first load, retries, and re-reads while
// stuck).
func (s *Source) opLoad(ctx context.Context) {
	rec, err := s.st.load(ctx)
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	if err != nil {
		s.loadFailedLocked(err)
		if s.terminal != nil {
			s.reloads++
			s.nextLoad = now.Add(twitch.RetryDelay(s.reloads+1, s.opts.ReloadMin, s.opts.ReloadMax))
		} else {
			s.nextLoad = now.Add(twitch.RetryDelay(s.loadFails, s.opts.RetryMin, s.opts.RetryMax))
		}
		return
	}
	s.loadOKLocked()
	s.adoptLocked(rec, true)
	if s.terminal != nil {
		s.reloads++
		s.nextLoad = now.Add(twitch.RetryDelay(s.reloads+1, s.opts.ReloadMin, s.opts.ReloadMax))
	}
}

func (s *Source) loadFailedLocked(err error) {
	s.loadFails++
	s.eventLocked(&s.status.LastLoad, false, err.Error())
	if s.loadFails == 1 {
		s.log.Warn("cannot read the twitch token document; retrying with backoff",
			"error", s.status.LastLoad.Detail, "cachedToken", s.have)
	}
}

func (s *Source) loadOKLocked() {
	if s.loadFails > 0 {
		s.log.Info("twitch token document readable again", "failures", s.loadFails)
	}
	s.loadFails = 0
	s.eventLocked(&s.status.LastLoad, true, "ok")
}

// adoptLocked takes a document just read. A pending write-back whose base
// the document still holds keeps the refreshed token in use; any other
// token in the document (written by oauth-flow or another replica) wins.
// A changed document ends a stuck state. validate asks for a validation of
// a newly adopted token.
func (s *Source) adoptLocked(rec record, validate bool) {
	now := time.Now()
	if s.pending != nil {
		if sameTokens(rec, s.pending.base) {
			return
		}
		s.log.Info("token document changed by another writer; dropping our pending write-back", "document", rec.path)
		s.pending, s.writeFails = nil, 0
	}
	changed := !s.have || !sameTokens(rec, s.cur)
	if s.terminal != nil {
		if sameTokens(rec, s.termRec) && rec.updateTime.Equal(s.termRec.updateTime) {
			if changed {
				s.cur = rec
			}
			return
		}
		s.log.Info("token document changed; credentials leave the stuck state", "document", rec.path,
			"was", s.safe(s.terminal.Error()))
		s.terminal, s.blocks, s.reloads = nil, false, 0
		changed = true
	}
	if s.have && rec.userID == "" && rec.login == s.cur.login {
		rec.userID = s.cur.userID // learnt from validation
	}
	s.cur, s.have = rec, true
	if changed {
		s.bad = false
		s.refreshFails, s.nextRefresh = 0, time.Time{}
		if validate {
			s.validateFails, s.nextValidate = 0, now
		}
		s.log.Info("twitch token loaded from firestore", "document", rec.path, "login", rec.login,
			"userId", rec.userID, "expiresAt", rec.expiresAt, "scopes", rec.scopes)
	}
	if s.opts.Login != "" && rec.login != s.opts.Login {
		s.stuckLocked(rec, true, fmt.Errorf("document %s is for login %q, expected %q; fix the document or the configured login", rec.path, rec.login, s.opts.Login))
	}
}

// stuckLocked enters the state that only a changed document ends.
func (s *Source) stuckLocked(rec record, blocks bool, why error) {
	s.terminal, s.blocks, s.termRec = why, blocks, rec
	s.reloads = 0
	s.nextLoad = time.Now().Add(s.opts.ReloadMin)
	s.status.LastError = twitch.AuthEvent{At: time.Now(), Detail: s.safe(why.Error())}
	s.log.Error("twitch credentials not ready until the token document changes", "document", rec.path,
		"reason", s.safe(why.Error()))
}

// freshRead: a document read this recent (or half ValidateEvery, if
// shorter) is not repeated before a validation.
const freshRead = time.Minute

// opCheck is the periodic check: re-read the document (a failure keeps the
// cached token), then validate the token.
func (s *Source) opCheck(ctx context.Context) {
	s.mu.Lock()
	last := s.status.LastLoad
	s.mu.Unlock()
	if !last.OK || time.Since(last.At) >= min(freshRead, s.opts.ValidateEvery/2) {
		rec, err := s.st.load(ctx)
		s.mu.Lock()
		if err != nil {
			s.loadFailedLocked(err)
		} else {
			s.loadOKLocked()
			s.adoptLocked(rec, false)
		}
		s.mu.Unlock()
	}
	s.mu.Lock()
	if !s.have || s.terminal != nil {
		s.mu.Unlock()
		return
	}
	tok, login := s.cur.access, s.cur.login
	s.mu.Unlock()

	info, err := s.oauth.Validate(ctx, tok)
	if err == nil {
		err = twitch.CheckToken(info, login, s.opts.RequiredScopes)
	}

	s.mu.Lock()
	now := time.Now()
	if tok.Reveal() != s.cur.access.Reveal() {
		s.mu.Unlock()
		return
	}
	switch {
	case err == nil:
		if s.validateFails > 0 || !s.status.LastValidation.OK {
			s.log.Info("twitch token valid", "login", info.Login, "userId", info.UserID, "scopes", info.Scopes)
		}
		s.validateFails = 0
		s.nextValidate = now.Add(s.opts.ValidateEvery)
		if s.cur.userID == "" {
			s.cur.userID = info.UserID
		}
		s.cur.scopes = info.Scopes
		if s.cur.expiresAt.IsZero() && info.ExpiresIn > 0 {
			s.cur.expiresAt = now.Add(info.ExpiresIn)
		}
		s.eventLocked(&s.status.LastValidation, true, "ok")
		s.mu.Unlock()
	case errors.Is(err, twitch.ErrTokenLogin), errors.Is(err, twitch.ErrTokenScope):
		s.eventLocked(&s.status.LastValidation, false, err.Error())
		s.stuckLocked(s.cur, true, fmt.Errorf("token in %s is not usable for chat: %w; re-authorise with oauth-flow", s.cur.path, err))
		s.mu.Unlock()
	case errors.Is(err, twitch.ErrTokenInvalid):
		s.eventLocked(&s.status.LastValidation, false, err.Error())
		s.nextValidate = now.Add(s.opts.ValidateEvery)
		s.bad, s.nextRefresh = true, time.Time{}
		s.log.Warn("twitch token invalid (401); refreshing", "document", s.cur.path)
		s.mu.Unlock()
		s.opRefresh(ctx, tok)
	default:
		s.validateFails++
		s.nextValidate = now.Add(twitch.RetryDelay(s.validateFails, s.opts.RetryMin, s.opts.RetryMax))
		s.eventLocked(&s.status.LastValidation, false, err.Error())
		if s.validateFails == 1 {
			s.log.Warn("twitch token validation failed; keeping the token, retrying", "error", s.status.LastValidation.Detail)
		}
		s.mu.Unlock()
	}
}

// opRefresh makes sure the current token is no longer stale: it re-reads
// the document (another writer may have refreshed already), else refreshes
// through Twitch and writes the result back.
func (s *Source) opRefresh(ctx context.Context, stale twitch.Token) {
	s.mu.Lock()
	if !s.have || s.terminal != nil || s.cur.access.Reveal() != stale.Reveal() {
		s.mu.Unlock()
		return // replaced meanwhile
	}
	s.mu.Unlock()

	rec, err := s.st.load(ctx)
	s.mu.Lock()
	if err != nil {
		s.loadFailedLocked(err) // refresh with the cached refresh token
	} else {
		s.loadOKLocked()
		s.adoptLocked(rec, false)
		if s.terminal != nil {
			s.mu.Unlock()
			return
		}
		if s.cur.access.Reveal() != stale.Reveal() && !s.needsRefreshLocked(time.Now()) {
			s.eventLocked(&s.status.LastRefresh, true, "not needed: the document already holds a newer token")
			s.log.Info("token document already holds a newer token; no refresh needed", "document", s.cur.path)
			s.mu.Unlock()
			return
		}
	}
	base := s.cur
	docBase := base
	if s.pending != nil {
		docBase = s.pending.base // what the document still holds
	}
	s.mu.Unlock()

	grant, err := s.oauth.Refresh(ctx, base.refresh)
	if err != nil {
		s.mu.Lock()
		defer s.mu.Unlock()
		if errors.Is(err, twitch.ErrRefreshTokenInvalid) {
			s.eventLocked(&s.status.LastRefresh, false, err.Error())
			s.stuckLocked(base, false, fmt.Errorf("refresh token rejected by Twitch (400 Invalid refresh token): re-authorise the account with oauth-flow, which rewrites %s", base.path))
			return
		}
		s.refreshFails++
		s.nextRefresh = time.Now().Add(twitch.RetryDelay(s.refreshFails, s.opts.RetryMin, s.opts.RetryMax))
		s.eventLocked(&s.status.LastRefresh, false, err.Error())
		if s.refreshFails == 1 {
			s.log.Warn("twitch token refresh failed; retrying with backoff", "error", s.status.LastRefresh.Detail)
		}
		return
	}

	fresh := cloneRecord(base)
	fresh.access, fresh.refresh = grant.AccessToken, grant.RefreshToken
	fresh.expiresAt = time.Time{}
	if grant.ExpiresIn > 0 {
		fresh.expiresAt = time.Now().Add(grant.ExpiresIn)
	}
	if grant.Scopes != nil {
		fresh.scopes = grant.Scopes
	}
	committed, err := s.st.commit(ctx, docBase, fresh)

	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	s.refreshFails, s.nextRefresh = 0, time.Time{}
	if grant.ExpiresIn < 2*s.opts.RefreshBefore {
		// A lifetime shorter than the refresh margin would refresh at once
		// again: wait half of it (Invalidate still refreshes at once).
		s.nextRefresh = now.Add(max(s.opts.RetryMin, grant.ExpiresIn/2))
	}
	switch {
	case err != nil:
		// Use the new token; keep trying to store it (the refresh token
		// may have been rotated: losing it would need a re-authorisation).
		s.pending = &pendingWrite{base: docBase, fresh: fresh}
		s.cur, s.bad = fresh, false
		s.writeFails = 1
		s.nextWrite = now.Add(s.opts.RetryMin)
		s.eventLocked(&s.status.LastRefresh, true, "refreshed; write-back pending: "+err.Error())
		s.status.LastError = twitch.AuthEvent{At: now, Detail: s.status.LastRefresh.Detail}
		s.log.Warn("twitch token refreshed but not stored in firestore; retrying the write-back",
			"document", base.path, "error", s.status.LastRefresh.Detail)
	case sameTokens(committed, fresh):
		s.pending = nil
		s.cur, s.bad = committed, false
		s.eventLocked(&s.status.LastRefresh, true, "refreshed and stored")
		s.log.Info("twitch token refreshed", "document", base.path, "expiresAt", fresh.expiresAt)
	default:
		s.pending = nil
		s.adoptLocked(committed, false)
		s.eventLocked(&s.status.LastRefresh, true, "refreshed, but another writer stored a newer token first; using theirs")
		s.log.Info("another writer stored a newer twitch token during our refresh; keeping theirs", "document", base.path)
	}
}

// opWrite retries a pending write-back.
func (s *Source) opWrite(ctx context.Context) {
	s.mu.Lock()
	p := s.pending
	s.mu.Unlock()
	if p == nil {
		return
	}
	committed, err := s.st.commit(ctx, p.base, p.fresh)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pending != p {
		return
	}
	if err != nil {
		s.writeFails++
		s.nextWrite = time.Now().Add(twitch.RetryDelay(s.writeFails, s.opts.RetryMin, s.opts.RetryMax))
		s.status.LastError = twitch.AuthEvent{At: time.Now(), Detail: s.safe(err.Error())}
		return
	}
	s.pending, s.writeFails = nil, 0
	if sameTokens(committed, p.fresh) {
		s.log.Info("pending twitch token write-back stored", "document", p.base.path)
		return
	}
	s.adoptLocked(committed, true)
}
