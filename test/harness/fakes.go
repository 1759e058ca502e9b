package harness

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ingress-egress/ingress-egress/twitch/twitchtest"
)

// FakeOAuth serves Twitch's /oauth2/validate on loopback and returns its
// base URL (for TWITCH_OAUTH_URL): token is valid for login with the
// chat:read scope. Any other token gets a 401 whose message quotes the
// token back, and /oauth2/token (refresh) a 400 quoting the form it got, as
// a careless server would: the service must not repeat either. The test's
// cleanup stops it.
func FakeOAuth(t testing.TB, token, login string) string {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /oauth2/validate", func(w http.ResponseWriter, r *http.Request) {
		got, _ := strings.CutPrefix(r.Header.Get("Authorization"), "OAuth ")
		w.Header().Set("Content-Type", "application/json")
		if got != token {
			w.WriteHeader(http.StatusUnauthorized)
			json.NewEncoder(w).Encode(map[string]any{"status": 401, "message": "invalid access token " + got})
			return
		}
		json.NewEncoder(w).Encode(map[string]any{
			"client_id": "e2eclient", "login": login, "user_id": "4242",
			"scopes": []string{"chat:read", "chat:edit"}, "expires_in": 3600,
		})
	})
	mux.HandleFunc("POST /oauth2/token", func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		json.NewEncoder(w).Encode(map[string]any{"status": 400, "message": "bad request: " + r.Form.Encode()})
	})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return "http://" + l.Addr().String()
}

// StartFakeTwitch starts a fake Twitch server listening on network ("tcp"
// or "ws"), closed by the test's cleanup, and returns it with its URL (for
// TWITCH_IRC_URL).
func StartFakeTwitch(t testing.TB, cfg twitchtest.Config, network string) (*twitchtest.Server, string) {
	t.Helper()
	fake := twitchtest.NewServer(cfg)
	t.Cleanup(fake.Close)
	url, err := fake.Listen(network)
	if err != nil {
		t.Fatal(err)
	}
	return fake, url
}

// PutTokenDoc writes a token document as oauth-flow would, through the
// Firestore emulator's REST API (emulator is its host:port): the access
// token expired an hour ago.
func PutTokenDoc(t testing.TB, emulator, project, collection, login, access, refresh string) {
	t.Helper()
	doc := map[string]any{"fields": map[string]any{
		"login":        map[string]any{"stringValue": login},
		"userId":       map[string]any{"stringValue": "4242"},
		"accessToken":  map[string]any{"stringValue": access},
		"refreshToken": map[string]any{"stringValue": refresh},
		"expiresAt":    map[string]any{"timestampValue": time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)},
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
