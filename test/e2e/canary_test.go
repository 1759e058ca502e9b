package e2e

// The canary test: secrets fed through every path (environment and flags,
// a token the chat server refuses, a token Twitch's OAuth service rejects
// and a refresh it refuses, both echoing what they got, a bus that refuses
// its token, the admin token, debug logging) never appear in the service's
// stdout, stderr or HTTP responses.

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ingress-egress/ingress-egress/internal/testenv"
	"github.com/ingress-egress/ingress-egress/test/harness"
	"github.com/ingress-egress/ingress-egress/twitch/twitchtest"
)

// exerciseHTTP calls every endpoint, with and without the admin token, and
// returns every response body.
func exerciseHTTP(t *testing.T, base, adminToken string) []string {
	t.Helper()
	var bodies []string
	call := func(method, path, token, body string, want int) {
		code, b := harness.HTTPDo(t, method, base+path, token, body)
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
	// Every profile, in its text form where it has one, and the binary
	// ones: none may carry the command line or the environment.
	call("GET", "/_debug/pprof/", adminToken, "", 200)
	call("GET", "/_debug/pprof/cmdline", adminToken, "", http.StatusNotFound)
	call("GET", "/_debug/pprof/symbol", adminToken, "", 200)
	for _, prof := range []string{"goroutine", "heap", "allocs", "threadcreate", "block", "mutex"} {
		call("GET", "/_debug/pprof/"+prof+"?debug=1", adminToken, "", 200)
		call("GET", "/_debug/pprof/"+prof+"?debug=2", adminToken, "", 200)
		call("GET", "/_debug/pprof/"+prof, adminToken, "", 200)
	}
	call("GET", "/_debug/pprof/profile?seconds=1", adminToken, "", 200)
	call("GET", "/_debug/pprof/trace?seconds=1", adminToken, "", 200)
	return bodies
}

// stopAndCheck stops the service with SIGTERM, expects exit 0, and checks
// everything it wrote and answered for the canaries.
func stopAndCheck(t *testing.T, p *harness.Proc, c harness.Canaries, bodies []string, wantDebug bool) {
	t.Helper()
	p.Signal(syscall.SIGTERM)
	if code, ok := p.Wait(10 * time.Second); !ok || code != 0 {
		t.Errorf("after SIGTERM: exited %v with code %d", ok, code)
	}
	p.Logs() // every stderr line must be a JSON record
	c.Check(t, "stdout", p.Stdout())
	c.Check(t, "stderr", p.Stderr())
	for _, b := range bodies {
		c.Check(t, "HTTP response", b)
	}
	if wantDebug && !strings.Contains(p.Stderr(), `"severity":"DEBUG"`) {
		t.Errorf("no debug record: the run did not log at debug level")
	}
}

func TestCanarySecretsNeverAppear(t *testing.T) {
	harness.Binary(t)
	t.Parallel()

	// A token the chat server first refuses, then accepts; a bus that
	// wants its token; secrets from the environment.
	t.Run("refused chat login then chat flows", func(t *testing.T) {
		t.Parallel()
		c := harness.NewCanaries("TWITCH_OAUTH_TOKEN", "TWITCH_CLIENT_SECRET", "NATS_TOKEN", "ADMIN_TOKEN")
		ns := harness.StartNATS(t, c["NATS_TOKEN"])
		harness.CreateIngressStream(t, ns.ClientURL(), c["NATS_TOKEN"])
		oauth := harness.FakeOAuth(t, c["TWITCH_OAUTH_TOKEN"], "bot")
		fake, ircURL := harness.StartFakeTwitch(t, twitchtest.Config{Tokens: map[string]string{"bot": "not-the-token"}}, "ws")
		p := harness.Start(t, map[string]string{
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
		base := p.HTTPBase()
		harness.WaitFor(t, 15*time.Second, 20*time.Millisecond, "a refused chat login", func() (bool, string) {
			st := fake.Stats()
			return st.LoginFailures >= 2, strconv.Itoa(st.LoginFailures) + " login failures"
		})
		bodies := exerciseHTTP(t, base, c["ADMIN_TOKEN"]) // while the login fails
		// Twitch's side learns the token: chat flows, logged per message
		// at debug level.
		fake.SetToken("bot", c["TWITCH_OAUTH_TOKEN"])
		harness.WaitFor(t, 15*time.Second, 20*time.Millisecond, "ready", func() (bool, string) {
			code, body := harness.Readyz(t, base)
			return code == 200, body
		})
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		fake.Generate(ctx, twitchtest.Gen{Channels: []string{"chan"}, Count: 50})
		harness.WaitFor(t, 15*time.Second, 20*time.Millisecond, "50 envelopes acknowledged", func() (bool, string) {
			acked := harness.Field(harness.DebugMap(t, base, c["ADMIN_TOKEN"]), "bus", "acked")
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
		c := harness.NewCanaries("TWITCH_OAUTH_TOKEN", "TWITCH_CLIENT_SECRET", "NATS_TOKEN", "ADMIN_TOKEN")
		ns := harness.StartNATS(t, "the-bus-wants-another-token")
		oauth := harness.FakeOAuth(t, "another-token", "bot")
		_, ircURL := harness.StartFakeTwitch(t, twitchtest.Config{}, "tcp")
		p := harness.Start(t, map[string]string{
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
		base := p.HTTPBase()
		harness.WaitFor(t, 15*time.Second, 20*time.Millisecond, "the token rejected", func() (bool, string) {
			d := harness.DebugMap(t, base, c["ADMIN_TOKEN"])
			reason, _ := harness.Field(d, "credentials", "reason").(string)
			return harness.Field(d, "credentials", "ready") == false && strings.Contains(reason, "invalid"), "credentials reason " + reason
		})
		harness.WaitFor(t, 15*time.Second, 20*time.Millisecond, "the bus refusal logged", func() (bool, string) {
			for _, rec := range p.Logs() {
				if rec["component"] == "natsbus" && (rec["severity"] == "WARNING" || rec["severity"] == "ERROR") {
					return true, ""
				}
			}
			return false, "no natsbus warning"
		})
		// The outbox takes the messages while the bus refuses: the bus
		// is ready, and /_debug says the remote is degraded.
		code, body := harness.Readyz(t, base)
		if code != http.StatusServiceUnavailable || !strings.Contains(body, "credentials") || strings.Contains(body, "bus") {
			t.Errorf("/readyz %d %s, want 503 naming credentials, not the bus", code, body)
		}
		if r := harness.Field(harness.DebugMap(t, base, c["ADMIN_TOKEN"]), "outbox", "remote"); r != "degraded" {
			t.Errorf("/_debug outbox.remote = %v, want degraded", r)
		}
		stopAndCheck(t, p, c, exerciseHTTP(t, base, c["ADMIN_TOKEN"]), false)
	})

	// The Firestore mode: an expired token whose refresh Twitch refuses,
	// quoting the client secret and refresh token back.
	t.Run("firestore token refresh refused", func(t *testing.T) {
		t.Parallel()
		c := harness.NewCanaries("accessToken", "refreshToken", "TWITCH_CLIENT_SECRET", "ADMIN_TOKEN")
		fs := testenv.FirestoreEmulator(t)
		harness.PutTokenDoc(t, fs, "proj-e2e", "twitch_tokens", "bot", c["accessToken"], c["refreshToken"])
		oauth := harness.FakeOAuth(t, "another-token", "bot")
		_, ircURL := harness.StartFakeTwitch(t, twitchtest.Config{}, "tcp")
		p := harness.Start(t, map[string]string{
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
		base := p.HTTPBase()
		harness.WaitFor(t, 30*time.Second, 50*time.Millisecond, "the refresh refused", func() (bool, string) {
			d := harness.DebugMap(t, base, c["ADMIN_TOKEN"])
			at, _ := harness.Field(d, "credentials", "lastRefresh", "at").(string)
			return at != "", "credentials " + jsonString(harness.Field(d, "credentials"))
		})
		stopAndCheck(t, p, c, exerciseHTTP(t, base, c["ADMIN_TOKEN"]), false)
	})
}

func jsonString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
