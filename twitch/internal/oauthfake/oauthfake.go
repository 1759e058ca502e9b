// Package oauthfake imitates Twitch's OAuth endpoints /oauth2/validate and
// /oauth2/token (grant_type=refresh_token) on 127.0.0.1 for tests, with the
// status codes and JSON bodies Twitch documents:
//
//	GET /oauth2/validate, Authorization: OAuth <token>
//	  200 {"client_id":"…","login":"…","scopes":["…"],"user_id":"…","expires_in":5520838}
//	  401 {"status":401,"message":"invalid access token"}
//	  401 {"status":401,"message":"missing authorization token"}
//	POST /oauth2/token, form grant_type=refresh_token&refresh_token=…&client_id=…&client_secret=…
//	  200 {"access_token":"…","refresh_token":"…","expires_in":14400,"scope":["…"],"token_type":"bearer"}
//	  400 {"error":"Bad Request","status":400,"message":"Invalid refresh token"}
//	  400 {"status":400,"message":"invalid client"}
//	  403 {"status":403,"message":"invalid client secret"}
//
// It imports only the standard library.
package oauthfake

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// Account is the Twitch user a token belongs to.
type Account struct {
	Login  string
	UserID string
	Scopes []string
}

type access struct {
	acct    Account
	expires time.Time
}

// Server is a fake Twitch OAuth service. Its exported fields may be set
// before the first request.
type Server struct {
	URL          string
	ClientID     string
	ClientSecret string
	// Prefix starts every token the server issues (tests put a canary here).
	Prefix string
	// TTL of issued access tokens (expires_in); default 4 h.
	TTL time.Duration
	// Rotate: a refresh issues a new refresh token and the old one dies
	// (400 Invalid refresh token when used again).
	Rotate bool

	srv *httptest.Server

	mu       sync.Mutex
	accesses map[string]*access
	refresh  map[string]Account
	n        int
	validate int
	refreshN int
	failNext []failure
	onRefr   func(refresh string)
	lastAcc  string
	lastRef  string
}

type failure struct {
	path   string
	status int
	body   string
}

// New starts a server on 127.0.0.1 and closes it when t ends.
func New(t testing.TB) *Server {
	s := &Server{
		ClientID:     "fakeclientid",
		ClientSecret: "fakeclientsecret",
		Prefix:       "tok",
		TTL:          4 * time.Hour,
		accesses:     map[string]*access{},
		refresh:      map[string]Account{},
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("oauthfake: listen: %v", err)
	}
	s.srv = &httptest.Server{Listener: l, Config: &http.Server{Handler: s}}
	s.srv.Start()
	s.URL = s.srv.URL
	t.Cleanup(s.srv.Close)
	return s
}

// AddAccess makes access a valid token of acct for ttl.
func (s *Server) AddAccess(tok string, acct Account, ttl time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.accesses[tok] = &access{acct: acct, expires: time.Now().Add(ttl)}
}

// AddRefresh makes refresh a valid refresh token of acct.
func (s *Server) AddRefresh(tok string, acct Account) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refresh[tok] = acct
}

// RevokeAccess makes the access token invalid (401 on validate).
func (s *Server) RevokeAccess(tok string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.accesses, tok)
}

// RevokeRefresh makes the refresh token invalid (400 on refresh).
func (s *Server) RevokeRefresh(tok string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.refresh, tok)
}

// ValidRefresh reports whether tok is a live refresh token.
func (s *Server) ValidRefresh(tok string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.refresh[tok]
	return ok
}

// OnRefresh sets a hook called with the refresh token before a refresh is
// answered (nil: none). The hook runs without the server's lock.
func (s *Server) OnRefresh(f func(refresh string)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.onRefr = f
}

// FailNext makes the next request to path answer status with body.
func (s *Server) FailNext(path string, status int, body string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failNext = append(s.failNext, failure{path, status, body})
}

// Calls returns how many validate and refresh requests were received.
func (s *Server) Calls() (validate, refresh int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.validate, s.refreshN
}

// Issued returns the access and refresh tokens the last refresh issued.
func (s *Server) Issued() (accessTok, refreshTok string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastAcc, s.lastRef
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	switch r.URL.Path {
	case "/oauth2/validate":
		s.validate++
	case "/oauth2/token":
		s.refreshN++
	}
	for i, f := range s.failNext {
		if f.path == r.URL.Path {
			s.failNext = append(s.failNext[:i], s.failNext[i+1:]...)
			s.mu.Unlock()
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(f.status)
			fmt.Fprint(w, f.body)
			return
		}
	}
	hook := s.onRefr
	s.mu.Unlock()

	switch {
	case r.URL.Path == "/oauth2/validate" && r.Method == http.MethodGet:
		s.serveValidate(w, r)
	case r.URL.Path == "/oauth2/token" && r.Method == http.MethodPost:
		if hook != nil {
			r.ParseForm()
			hook(r.PostForm.Get("refresh_token"))
		}
		s.serveToken(w, r)
	default:
		reply(w, http.StatusNotFound, map[string]any{"error": "Not Found", "status": 404, "message": "not found"})
	}
}

func (s *Server) serveValidate(w http.ResponseWriter, r *http.Request) {
	h := r.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(h, "OAuth ")
	if !ok {
		tok, ok = strings.CutPrefix(h, "Bearer ")
	}
	if !ok || tok == "" {
		reply(w, http.StatusUnauthorized, map[string]any{"status": 401, "message": "missing authorization token"})
		return
	}
	s.mu.Lock()
	a := s.accesses[tok]
	var left time.Duration
	if a != nil {
		left = time.Until(a.expires)
		if left <= 0 {
			delete(s.accesses, tok)
			a = nil
		}
	}
	s.mu.Unlock()
	if a == nil {
		reply(w, http.StatusUnauthorized, map[string]any{"status": 401, "message": "invalid access token"})
		return
	}
	scopes := a.acct.Scopes
	if scopes == nil {
		scopes = []string{}
	}
	reply(w, http.StatusOK, map[string]any{
		"client_id":  s.ClientID,
		"login":      a.acct.Login,
		"scopes":     scopes,
		"user_id":    a.acct.UserID,
		"expires_in": int64(left / time.Second),
	})
}

func (s *Server) serveToken(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		reply(w, http.StatusBadRequest, map[string]any{"status": 400, "message": "invalid request"})
		return
	}
	f := r.PostForm
	if f.Get("grant_type") != "refresh_token" {
		reply(w, http.StatusBadRequest, map[string]any{"status": 400, "message": "unsupported grant type"})
		return
	}
	if f.Get("client_id") != s.ClientID {
		reply(w, http.StatusBadRequest, map[string]any{"status": 400, "message": "invalid client"})
		return
	}
	if f.Get("client_secret") != s.ClientSecret {
		reply(w, http.StatusForbidden, map[string]any{"status": 403, "message": "invalid client secret"})
		return
	}
	old := f.Get("refresh_token")
	s.mu.Lock()
	acct, ok := s.refresh[old]
	if !ok {
		s.mu.Unlock()
		reply(w, http.StatusBadRequest, map[string]any{"error": "Bad Request", "status": 400, "message": "Invalid refresh token"})
		return
	}
	s.n++
	acc, ref := fmt.Sprintf("%s-access-%d", s.Prefix, s.n), fmt.Sprintf("%s-refresh-%d", s.Prefix, s.n)
	if s.Rotate {
		delete(s.refresh, old)
		s.refresh[ref] = acct
	} else {
		ref = old
	}
	s.accesses[acc] = &access{acct: acct, expires: time.Now().Add(s.TTL)}
	s.lastAcc, s.lastRef = acc, ref
	s.mu.Unlock()
	scopes := acct.Scopes
	if scopes == nil {
		scopes = []string{}
	}
	reply(w, http.StatusOK, map[string]any{
		"access_token":  acc,
		"refresh_token": ref,
		"expires_in":    int64(s.TTL / time.Second),
		"scope":         scopes,
		"token_type":    "bearer",
	})
}

func reply(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
