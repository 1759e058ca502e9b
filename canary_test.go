package main

// The canary test: secrets fed through every path (environment and flags,
// a token the chat server refuses, a token Twitch's OAuth service rejects
// and a refresh it refuses, both echoing what they got, a bus that refuses
// its token, the admin token, debug logging) never appear in the service's
// stdout, stderr or HTTP responses.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ingress-egress/ingress-egress/internal/testenv"
	"github.com/ingress-egress/ingress-egress/twitch/twitchtest"
)

// canaries are the secrets of one run, by the setting that carries them.
type canaries map[string]string

func newCanaries(names ...string) canaries {
	c := canaries{}
	for _, n := range names {
		b := make([]byte, 12)
		rand.Read(b)
		c[n] = hex.EncodeToString(b) // 24 characters, unique to the run
	}
	return c
}

// check fails the test when any 12 characters in a row of a canary appear
// in text (a secret cut short is still a leak).
func (c canaries) check(t *testing.T, where, text string) {
	t.Helper()
	for _, leak := range c.leaks(text) {
		t.Errorf("%s leaks %s", where, leak)
	}
}

// leaks describes each canary found in text, with its context.
func (c canaries) leaks(text string) []string {
	var out []string
	for name, v := range c {
		for i := 0; i+12 <= len(v); i++ {
			if j := strings.Index(text, v[i:i+12]); j >= 0 {
				lo, hi := max(0, j-100), min(len(text), j+100)
				out = append(out, name+": …"+text[lo:hi]+"…")
				break
			}
		}
	}
	return out
}

func TestCanaryLeaksFindsPartialSecrets(t *testing.T) {
	c := newCanaries("A", "B")
	a, b := c["A"], c["B"]
	for _, tc := range []struct {
		text string
		want int
	}{
		{"nothing here", 0},
		{"token=" + a, 1},
		{"cut: " + a[5:17] + "…", 1},
		{"both " + b[12:] + " and " + a[:12], 2},
		{"almost: " + a[:11], 0},
	} {
		if got := c.leaks(tc.text); len(got) != tc.want {
			t.Errorf("leaks(%q) = %q, want %d", tc.text, got, tc.want)
		}
	}
}

// exerciseHTTP calls every endpoint, with and without the admin token, and
// returns every response body.
func exerciseHTTP(t *testing.T, base, adminToken string) []string {
	t.Helper()
	var bodies []string
	call := func(method, path, token, body string, want int) {
		code, b := httpDo(t, method, base+path, token, body)
		if want != 0 && code != want {
			t.Errorf("%s %s: %d %s, want %d", method, path, code, b, want)
		}
		bodies = append(bodies, method+" "+path+": "+b)
	}
	call("GET", "/healthz", "", "", 200)
	call("GET", "/livez", "", "", 200)
	call("GET", "/readyz", "", "", 0)
	call("GET", "/metrics", "", "", 200)
	call("GET", "/_debug/twitch", "", "", http.StatusUnauthorized)
	call("GET", "/_debug/twitch", adminToken[:len(adminToken)-1], "", http.StatusUnauthorized)
	call("GET", "/_debug/twitch", adminToken, "", 200)
	call("POST", "/_admin/channels", adminToken, `{"channels":["extra"]}`, http.StatusAccepted)
	call("POST", "/_admin/channels", adminToken, `{"channels":"not a list"}`, http.StatusBadRequest)
	call("DELETE", "/_admin/channels/extra", adminToken, "", http.StatusAccepted)
	call("DELETE", "/_admin/channels/extra", "", "", http.StatusUnauthorized)
	return bodies
}

// debugMap returns /_debug/twitch as a generic JSON object.
func debugMap(t *testing.T, base, token string) map[string]any {
	t.Helper()
	code, body := httpGet(t, base+"/_debug/twitch", token)
	if code != 200 {
		t.Fatalf("/_debug/twitch: %d %s", code, body)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		t.Fatalf("/_debug/twitch: %v", err)
	}
	return m
}

func path(m map[string]any, keys ...string) any {
	var v any = m
	for _, k := range keys {
		mm, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = mm[k]
	}
	return v
}

// stopAndCheck stops the service with SIGTERM, expects exit 0, and checks
// everything it wrote and answered for the canaries.
func stopAndCheck(t *testing.T, p *proc, c canaries, bodies []string, wantDebug bool) {
	t.Helper()
	p.signal(syscall.SIGTERM)
	if code, ok := p.wait(10 * time.Second); !ok || code != 0 {
		t.Errorf("after SIGTERM: exited %v with code %d", ok, code)
	}
	p.logs() // every stderr line must be a JSON record
	c.check(t, "stdout", p.stdout.String())
	c.check(t, "stderr", p.stderr.String())
	for _, b := range bodies {
		c.check(t, "HTTP response", b)
	}
	if wantDebug && !strings.Contains(p.stderr.String(), `"severity":"DEBUG"`) {
		t.Errorf("no debug record: the run did not log at debug level")
	}
}

func TestCanarySecretsNeverAppear(t *testing.T) {
	serviceBinary(t)
	t.Parallel()

	// A token the chat server first refuses, then accepts; a bus that
	// wants its token; secrets from the environment.
	t.Run("refused chat login then chat flows", func(t *testing.T) {
		t.Parallel()
		c := newCanaries("TWITCH_OAUTH_TOKEN", "TWITCH_CLIENT_SECRET", "NATS_TOKEN", "ADMIN_TOKEN")
		ns := startNATS(t, c["NATS_TOKEN"])
		createIngressStream(t, ns.ClientURL(), c["NATS_TOKEN"])
		oauth := fakeOAuth(t, c["TWITCH_OAUTH_TOKEN"], "bot")
		fake, ircURL := startFakeTwitch(t, twitchtest.Config{Tokens: map[string]string{"bot": "not-the-token"}}, "ws")
		p := startProc(t, map[string]string{
			"MESSAGE_BUS_DRIVER":       "nats",
			"NATS_URL":                 ns.ClientURL(),
			"NATS_TOKEN":               c["NATS_TOKEN"],
			"TWITCH_OAUTH_TOKEN":       c["TWITCH_OAUTH_TOKEN"],
			"TWITCH_CLIENT_ID":         "e2eclient",
			"TWITCH_CLIENT_SECRET":     c["TWITCH_CLIENT_SECRET"],
			"TWITCH_BOT_USERNAME":      "bot",
			"TWITCH_OAUTH_URL":         oauth,
			"TWITCH_IRC_URL":           ircURL,
			"TWITCH_CHANNELS":          "chan",
			"ADMIN_TOKEN":              c["ADMIN_TOKEN"],
			"LOG_LEVEL":                "debug",
			"PORT":                     "0",
			"IRC_RECONNECT_INITIAL_MS": "50",
			"IRC_RECONNECT_MAX_MS":     "200",
		})
		base := p.httpBase()
		waitFor(t, 15*time.Second, 20*time.Millisecond, "a refused chat login", func() (bool, string) {
			st := fake.Stats()
			return st.LoginFailures >= 2, strconv.Itoa(st.LoginFailures) + " login failures"
		})
		bodies := exerciseHTTP(t, base, c["ADMIN_TOKEN"]) // while the login fails
		// Twitch's side learns the token: chat flows, logged per message
		// at debug level.
		fake.SetToken("bot", c["TWITCH_OAUTH_TOKEN"])
		waitFor(t, 15*time.Second, 20*time.Millisecond, "ready", func() (bool, string) {
			code, body := readyz(t, base)
			return code == 200, body
		})
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		fake.Generate(ctx, twitchtest.Gen{Channels: []string{"chan"}, Count: 50})
		waitFor(t, 15*time.Second, 20*time.Millisecond, "50 envelopes acknowledged", func() (bool, string) {
			acked := path(debugMap(t, base, c["ADMIN_TOKEN"]), "bus", "acked")
			return acked == float64(50), "acked " + strconv.Quote(strings.TrimSpace(jsonString(acked)))
		})
		bodies = append(bodies, exerciseHTTP(t, base, c["ADMIN_TOKEN"])...)
		stopAndCheck(t, p, c, bodies, true)
	})

	// Everything refused: Twitch's OAuth service rejects the token (and
	// quotes it back), the bus refuses its token; secrets from flags, the
	// token with its "oauth:" prefix.
	t.Run("rejected token and refused bus, secrets as flags", func(t *testing.T) {
		t.Parallel()
		c := newCanaries("TWITCH_OAUTH_TOKEN", "TWITCH_CLIENT_SECRET", "NATS_TOKEN", "ADMIN_TOKEN")
		ns := startNATS(t, "the-bus-wants-another-token")
		oauth := fakeOAuth(t, "another-token", "bot")
		_, ircURL := startFakeTwitch(t, twitchtest.Config{}, "tcp")
		p := startProc(t, map[string]string{
			"MESSAGE_BUS_DRIVER":  "nats",
			"NATS_URL":            ns.ClientURL(),
			"TWITCH_CLIENT_ID":    "e2eclient",
			"TWITCH_BOT_USERNAME": "bot",
			"TWITCH_OAUTH_URL":    oauth,
			"TWITCH_IRC_URL":      ircURL,
			"TWITCH_CHANNELS":     "chan",
			"LOG_LEVEL":           "debug",
			"PORT":                "0",
		}, "--oauth-token", "oauth:"+c["TWITCH_OAUTH_TOKEN"], "--client-secret="+c["TWITCH_CLIENT_SECRET"],
			"--nats-token", c["NATS_TOKEN"], "--admin-token", c["ADMIN_TOKEN"])
		base := p.httpBase()
		waitFor(t, 15*time.Second, 20*time.Millisecond, "the token rejected", func() (bool, string) {
			d := debugMap(t, base, c["ADMIN_TOKEN"])
			reason, _ := path(d, "credentials", "reason").(string)
			return path(d, "credentials", "ready") == false && strings.Contains(reason, "invalid"), "credentials reason " + reason
		})
		waitFor(t, 15*time.Second, 20*time.Millisecond, "the bus refusal logged", func() (bool, string) {
			for _, rec := range p.logs() {
				if rec["component"] == "natsbus" && (rec["severity"] == "WARNING" || rec["severity"] == "ERROR") {
					return true, ""
				}
			}
			return false, "no natsbus warning"
		})
		// The outbox takes the messages while the bus refuses: the bus
		// is ready, and /_debug says the remote is degraded.
		code, body := readyz(t, base)
		if code != http.StatusServiceUnavailable || !strings.Contains(body, "credentials") || strings.Contains(body, "bus") {
			t.Errorf("/readyz %d %s, want 503 naming credentials, not the bus", code, body)
		}
		if r := path(debugMap(t, base, c["ADMIN_TOKEN"]), "outbox", "remote"); r != "degraded" {
			t.Errorf("/_debug outbox.remote = %v, want degraded", r)
		}
		stopAndCheck(t, p, c, exerciseHTTP(t, base, c["ADMIN_TOKEN"]), false)
	})

	// The Firestore mode: an expired token whose refresh Twitch refuses,
	// quoting the client secret and refresh token back.
	t.Run("firestore token refresh refused", func(t *testing.T) {
		t.Parallel()
		c := newCanaries("accessToken", "refreshToken", "TWITCH_CLIENT_SECRET", "ADMIN_TOKEN")
		fs := testenv.FirestoreEmulator(t)
		putTokenDoc(t, fs, "proj-e2e", "twitch_tokens", "bot", c["accessToken"], c["refreshToken"])
		oauth := fakeOAuth(t, "another-token", "bot")
		_, ircURL := startFakeTwitch(t, twitchtest.Config{}, "tcp")
		p := startProc(t, map[string]string{
			"MESSAGE_BUS_DRIVER":      "stdout",
			"TWITCH_TOKEN_DOC":        "twitch_tokens/{login}",
			"TWITCH_BOT_USERNAME":     "bot",
			"FIRESTORE_PROJECT_ID":    "proj-e2e",
			"FIRESTORE_EMULATOR_HOST": fs,
			"TWITCH_CLIENT_ID":        "e2eclient",
			"TWITCH_CLIENT_SECRET":    c["TWITCH_CLIENT_SECRET"],
			"TWITCH_OAUTH_URL":        oauth,
			"TWITCH_IRC_URL":          ircURL,
			"TWITCH_CHANNELS":         "chan",
			"ADMIN_TOKEN":             c["ADMIN_TOKEN"],
			"LOG_LEVEL":               "debug",
			"PORT":                    "0",
		})
		base := p.httpBase()
		waitFor(t, 30*time.Second, 50*time.Millisecond, "the refresh refused", func() (bool, string) {
			d := debugMap(t, base, c["ADMIN_TOKEN"])
			at, _ := path(d, "credentials", "lastRefresh", "at").(string)
			return at != "", "credentials " + jsonString(path(d, "credentials"))
		})
		stopAndCheck(t, p, c, exerciseHTTP(t, base, c["ADMIN_TOKEN"]), false)
	})
}

func jsonString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// putTokenDoc writes a token document as oauth-flow would, through the
// emulator's REST API: the access token expired an hour ago.
func putTokenDoc(t *testing.T, emulator, project, collection, login, access, refresh string) {
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
