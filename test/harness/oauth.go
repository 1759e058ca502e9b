package harness

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// OAuthServer is a fake of Twitch's OAuth service whose answers a test
// changes as it goes: /oauth2/validate accepts the tokens it was told are
// valid (for one login, with chat:read); /oauth2/token trades a known
// refresh token for a new access token, calling OnGrant with it (to tell
// the fake chat server), or refuses it with Twitch's 400 "Invalid refresh
// token". Answers for a token it does not know quote the token back, as a
// careless server would: the service must not repeat them.
type OAuthServer struct {
	URL string // base URL, for TWITCH_OAUTH_URL

	mu        sync.Mutex
	login     string
	valid     map[string]bool
	refresh   map[string]bool // refresh tokens that work
	next      int
	onGrant   func(access string)
	validates int
	refreshes int
}

// StartOAuthServer starts the fake on loopback for login, with access
// valid and refresh usable (either may be ""); the test's cleanup stops it.
func StartOAuthServer(t testing.TB, login, access, refresh string) *OAuthServer {
	t.Helper()
	o := &OAuthServer{login: login, valid: map[string]bool{}, refresh: map[string]bool{}}
	if access != "" {
		o.valid[access] = true
	}
	if refresh != "" {
		o.refresh[refresh] = true
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /oauth2/validate", o.validate)
	mux.HandleFunc("POST /oauth2/token", o.token)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	o.URL = "http://" + l.Addr().String()
	return o
}

// Revoke makes access invalid (validation answers 401).
func (o *OAuthServer) Revoke(access string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	delete(o.valid, access)
}

// RevokeRefresh makes a refresh token unusable (400 Invalid refresh token).
func (o *OAuthServer) RevokeRefresh(refresh string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	delete(o.refresh, refresh)
}

// OnGrant sets the function called with every new access token granted.
func (o *OAuthServer) OnGrant(f func(access string)) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.onGrant = f
}

// Calls returns how many validations and refreshes were asked for.
func (o *OAuthServer) Calls() (validates, refreshes int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.validates, o.refreshes
}

func (o *OAuthServer) validate(w http.ResponseWriter, r *http.Request) {
	got, _ := strings.CutPrefix(r.Header.Get("Authorization"), "OAuth ")
	o.mu.Lock()
	o.validates++
	ok, login := o.valid[got], o.login
	o.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if !ok {
		w.WriteHeader(http.StatusUnauthorized)
		json.NewEncoder(w).Encode(map[string]any{"status": 401, "message": "invalid access token " + got})
		return
	}
	json.NewEncoder(w).Encode(map[string]any{
		"client_id": "faultclient", "login": login, "user_id": "4242",
		"scopes": []string{"chat:read", "chat:edit"}, "expires_in": 3600,
	})
}

func (o *OAuthServer) token(w http.ResponseWriter, r *http.Request) {
	r.ParseForm()
	rt := r.Form.Get("refresh_token")
	w.Header().Set("Content-Type", "application/json")
	o.mu.Lock()
	o.refreshes++
	if !o.refresh[rt] {
		o.mu.Unlock()
		w.WriteHeader(http.StatusBadRequest)
		json.NewEncoder(w).Encode(map[string]any{"error": "Bad Request", "status": 400, "message": "Invalid refresh token"})
		return
	}
	o.next++
	access := "granted-access-" + strconv.Itoa(o.next) + "-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	o.valid[access] = true
	f := o.onGrant
	o.mu.Unlock()
	if f != nil {
		f(access)
	}
	json.NewEncoder(w).Encode(map[string]any{
		"access_token": access, "refresh_token": rt, "expires_in": 14400, "scope": []string{"chat:read", "chat:edit"}, "token_type": "bearer",
	})
}

// PutTokenDocExpiring writes a token document as oauth-flow would, as
// PutTokenDoc does, with the access token expiring at expiresAt.
func PutTokenDocExpiring(t testing.TB, emulator, project, collection, login, access, refresh string, expiresAt time.Time) {
	t.Helper()
	doc := map[string]any{"fields": map[string]any{
		"login":        map[string]any{"stringValue": login},
		"userId":       map[string]any{"stringValue": "4242"},
		"accessToken":  map[string]any{"stringValue": access},
		"refreshToken": map[string]any{"stringValue": refresh},
		"expiresAt":    map[string]any{"timestampValue": expiresAt.UTC().Format(time.RFC3339)},
		"scopes":       map[string]any{"arrayValue": map[string]any{"values": []any{map[string]any{"stringValue": "chat:read"}}}},
	}}
	b, _ := json.Marshal(doc)
	url := "http://" + emulator + "/v1/projects/" + project + "/databases/(default)/documents/" + collection + "?documentId=" + login
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer owner")
	cl := &http.Client{Timeout: 30 * time.Second} // a cold emulator takes seconds
	resp, err := cl.Do(req)
	if err != nil {
		t.Fatalf("writing the token document: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("writing the token document: %d %s", resp.StatusCode, body)
	}
}
