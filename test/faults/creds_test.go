package faults

// Credential faults (as twitch/firestoreauth/README.md specifies them) and
// the secrets canary under faults.

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ingress-egress/ingress-egress/test/harness"
	"github.com/ingress-egress/ingress-egress/twitch/twitchtest"
)

// waitNotReady waits up to d for /readyz 503 naming what.
func (in *instance) waitNotReady(what string, d time.Duration) {
	in.s.t.Helper()
	harness.WaitFor(in.s.t, d, 20*time.Millisecond, "/readyz 503 naming "+what, func() (bool, string) {
		code, body, err := get(in.base+"/readyz", "")
		if err != nil {
			return false, err.Error()
		}
		return code == http.StatusServiceUnavailable && containsWord(body, what), fmt.Sprintf("%d %s", code, body)
	})
}

// TestFault10Credentials runs the Firestore credentials mode through its
// faults, one after the other: Firestore down at start (not ready until it
// answers), Firestore down mid-session (the cached token keeps working,
// readiness stays), the access token revoked mid-session (the next login
// fails, the token is refreshed, chat goes on after a reported gap), and
// the refresh token revoked (not ready, naming the credentials, the gap
// stays open and reported).
func TestFault10Credentials(t *testing.T) {
	harness.Binary(t)
	t.Parallel()
	down, r := pick(3*time.Second, 30*time.Second), rate()
	const login, project = "bot", "faults-fs"
	s := newScenario(t, "10", "credential faults: Firestore down at start and mid-session, token revoked (validate 401), refresh refused (400)",
		"not ready while no token; chat continues on the cached token; lost 0, unreported 0", twitchtest.Config{Tokens: map[string]string{login: "access-1"}}, "tcp", 3)
	s.fig.Params = fmt.Sprintf("Firestore down %v at start and %v mid-session, %.0f lines/s", down, down, r)
	fs := harness.StartFirestoreEmulator(t)
	harness.PutTokenDocExpiring(t, fs.Addr(), project, "twitch_tokens", login, "access-1", "refresh-1", time.Now().Add(4*time.Hour))
	fsProxy := harness.StartFaultProxy(t, "") // down at start
	oauth := harness.StartOAuthServer(t, login, "access-1", "refresh-1")
	var mu sync.Mutex
	current := "access-1"
	oauth.OnGrant(func(access string) {
		mu.Lock()
		current = access
		mu.Unlock()
		s.fake.SetToken(login, access)
	})
	bus, read := s.inProcessNATS()
	in := s.start(s.env(merge(bus, map[string]string{
		"TWITCH_TOKEN_DOC": "twitch_tokens/{login}", "TWITCH_BOT_USERNAME": login,
		"FIRESTORE_PROJECT_ID": project, "FIRESTORE_EMULATOR_HOST": fsProxy.Addr(),
		"TWITCH_CLIENT_ID": "faultclient", "TWITCH_CLIENT_SECRET": "fault-client-secret", "TWITCH_OAUTH_URL": oauth.URL,
	})), false)
	s.startGen(r)

	// Firestore down at start: not ready, naming the credentials.
	in.waitNotReady("credentials", 30*time.Second)
	time.Sleep(down)
	if n := len(s.fake.Records(0)); n != 0 {
		t.Errorf("%d lines reached a connection before any token was loaded", n)
	}
	fsProxy.Up(fs.Addr())
	s.faultEnd = time.Now()
	in.waitReady("ready once Firestore answers", 90*time.Second)
	loaded := time.Since(s.faultEnd)

	// Firestore down mid-session: nothing changes for chat.
	time.Sleep(2 * time.Second)
	from := time.Now()
	fsProxy.Down()
	time.Sleep(down)
	fsProxy.Up(fs.Addr())
	if in.mon.notReadyBetween(from, time.Now()) {
		t.Errorf("/readyz went 503 while Firestore was down mid-session: the cached token should keep working")
	}

	// The access token revoked: Twitch refuses it at the next login, its
	// validation answers 401; the service refreshes and logs in again.
	time.Sleep(time.Second)
	mu.Lock()
	old := current
	mu.Unlock()
	oauth.Revoke(old)
	s.fake.SetToken(login, "revoked-"+old)
	s.fake.CloseAll()
	harness.WaitFor(t, 60*time.Second, 20*time.Millisecond, "a new token granted", func() (bool, string) {
		mu.Lock()
		defer mu.Unlock()
		return current != old, "still " + current
	})
	in.waitReady("ready with the refreshed token", 60*time.Second)
	s.waitJoined("rejoined with the refreshed token", 30*time.Second)
	time.Sleep(2 * time.Second)

	// The refresh token revoked too: no way back without oauth-flow.
	mu.Lock()
	old = current
	mu.Unlock()
	oauth.RevokeRefresh("refresh-1")
	oauth.Revoke(old)
	s.fake.SetToken(login, "revoked-"+old)
	s.fake.CloseAll()
	in.waitNotReady("credentials", 60*time.Second)
	time.Sleep(2 * time.Second)
	s.stopGen()
	s.settle()
	res := s.check(read())
	d := in.mustDebug()
	validates, refreshes := oauth.Calls()
	st := s.fake.Stats()
	s.fig.Note = fmt.Sprintf("token loaded %.1f s after Firestore came up; validations %d, refreshes %d, chat logins %d (%d refused), open gaps at the end %d",
		loaded.Seconds(), validates, refreshes, st.Logins, st.LoginFailures, len(d.Twitch.OpenGaps))
	if refreshes < 2 {
		t.Errorf("%d refreshes, want one granted and one refused", refreshes)
	}
	if len(d.Twitch.OpenGaps) != len(s.channels) {
		t.Errorf("%d open gaps with the credentials gone, want %d", len(d.Twitch.OpenGaps), len(s.channels))
	}
	s.pass(res)
}

// TestFault17SecretsCanary: fresh secrets in every setting that takes one
// (as flags and as environment), through faults that make every component
// report errors (a refused chat login, a bus killed and restarted that
// wants its token, validation answers that quote the token back, a cut
// connection), then every HTTP path, pprof included: no secret in any
// answer, log line or error.
func TestFault17SecretsCanary(t *testing.T) {
	harness.Binary(t)
	t.Parallel()
	r := rate()
	s := newScenario(t, "17", "secrets canary through every HTTP path, log and error, under faults",
		"no secret anywhere; lost 0, unreported 0", twitchtest.Config{Tokens: map[string]string{"bot": "not-the-token"}}, "tcp", 2)
	s.fig.Params = fmt.Sprintf("%.0f lines/s", r)
	c := harness.NewCanaries("TWITCH_OAUTH_TOKEN", "TWITCH_CLIENT_SECRET", "NATS_TOKEN", "ADMIN_TOKEN")
	ns := harness.StartNATSProcess(t, c["NATS_TOKEN"])
	harness.CreateIngressStream(t, ns.URL(), c["NATS_TOKEN"])
	oauth := harness.StartOAuthServer(t, "bot", c["TWITCH_OAUTH_TOKEN"], "")
	env := s.env(map[string]string{
		"MESSAGE_BUS_DRIVER": "nats", "NATS_URL": ns.URL(), "NATS_TOKEN": c["NATS_TOKEN"],
		"TWITCH_BOT_USERNAME": "bot", "TWITCH_CLIENT_ID": "faultclient", "TWITCH_OAUTH_URL": oauth.URL,
		"ADMIN_TOKEN": c["ADMIN_TOKEN"], "LOG_LEVEL": "debug",
	})
	p := harness.Start(t, env, "--oauth-token", "oauth:"+c["TWITCH_OAUTH_TOKEN"], "--client-secret="+c["TWITCH_CLIENT_SECRET"])
	in := &instance{s: s, p: p, token: c["ADMIN_TOKEN"]}
	in.base = p.HTTPBase()
	in.mon = startMonitor(t, in)
	s.insts = append(s.insts, in)

	harness.WaitFor(t, 30*time.Second, 20*time.Millisecond, "a refused chat login", func() (bool, string) {
		st := s.fake.Stats()
		return st.LoginFailures >= 2, fmt.Sprint(st.LoginFailures, " refused")
	})
	var bodies []string
	bodies = append(bodies, exerciseHTTP(t, in.base, c["ADMIN_TOKEN"])...)
	s.fake.SetToken("bot", c["TWITCH_OAUTH_TOKEN"])
	in.waitReady("ready once the chat login works", 60*time.Second)
	s.startGen(r)
	time.Sleep(2 * time.Second)
	ns.Kill()
	time.Sleep(pick(3*time.Second, 10*time.Second))
	bodies = append(bodies, exerciseHTTP(t, in.base, c["ADMIN_TOKEN"])...)
	ns.Start()
	s.fake.CloseAll()
	s.faultEnd = time.Now()
	in.waitReady("ready after the faults", 60*time.Second)
	time.Sleep(2 * time.Second)
	s.stopGen()
	s.settle()
	bodies = append(bodies, exerciseHTTP(t, in.base, c["ADMIN_TOKEN"])...)
	res := s.check(readJetStream(t, ns.URL(), c["NATS_TOKEN"], "INGRESS"))
	in.mon.close()
	p.Signal(syscall.SIGTERM)
	if code, ok := p.Wait(15 * time.Second); !ok || code != 0 {
		t.Errorf("after SIGTERM: exited %v with code %d", ok, code)
	}
	p.Logs() // every stderr line must be a JSON record
	leaks := 0
	for where, text := range map[string]string{"stdout": p.Stdout(), "stderr": p.Stderr()} {
		for _, l := range c.Leaks(text) {
			leaks++
			t.Errorf("%s leaks %s", where, l)
		}
	}
	for _, b := range bodies {
		for _, l := range c.Leaks(b) {
			leaks++
			t.Errorf("HTTP answer leaks %s", l)
		}
	}
	validates, _ := oauth.Calls()
	s.fig.Note = fmt.Sprintf("%d HTTP answers, %d log lines, %d validations checked: %d leaks", len(bodies), len(p.StderrLines()), validates, leaks)
	if !strings.Contains(p.Stderr(), `"severity":"DEBUG"`) {
		t.Errorf("no debug record: the run did not log at debug level")
	}
	s.pass(res)
}

// exerciseHTTP calls every path of the service, pprof's included, with
// the admin token, without it and with a wrong one, and returns every
// answer (status line and body).
func exerciseHTTP(t *testing.T, base, admin string) []string {
	t.Helper()
	var out []string
	call := func(method, path, token, body string, want int) {
		code, b := harness.HTTPDo(t, method, base+path, token, body)
		if want != 0 && code != want {
			t.Errorf("%s %s: %d, want %d: %.200s", method, path, code, want, b)
		}
		out = append(out, fmt.Sprintf("%s %s: %d %s", method, path, code, b))
	}
	for _, path := range []string{"/healthz", "/livez", "/metrics"} {
		call("GET", path, "", "", 200)
	}
	call("GET", "/readyz", "", "", 0)
	call("GET", "/no-such-path", "", "", 404)
	for _, path := range []string{"/_debug/twitch", "/_debug/pprof/", "/_debug/pprof/cmdline", "/_debug/pprof/heap", "/_debug/pprof/goroutine?debug=2"} {
		call("GET", path, "", "", http.StatusUnauthorized)
		call("GET", path, admin[:len(admin)-1]+"x", "", http.StatusUnauthorized)
	}
	call("GET", "/_debug/twitch", admin, "", 200)
	call("GET", "/_debug/pprof/", admin, "", 200)
	call("GET", "/_debug/pprof/cmdline", admin, "", http.StatusNotFound)
	for _, prof := range []string{"heap", "allocs", "goroutine", "goroutine?debug=1", "goroutine?debug=2", "threadcreate", "block", "mutex", "symbol", "profile?seconds=1", "trace?seconds=1"} {
		call("GET", "/_debug/pprof/"+prof, admin, "", 200)
	}
	call("POST", "/_debug/pprof/symbol", admin, "0x1", 0)
	call("POST", "/_admin/channels", admin, `{"channels":["canaryextra"]}`, http.StatusAccepted)
	call("POST", "/_admin/channels", admin, `{"channels":"not a list"}`, http.StatusBadRequest)
	call("POST", "/_admin/channels", "", `{"channels":["x"]}`, http.StatusUnauthorized)
	call("DELETE", "/_admin/channels/canaryextra", admin, "", http.StatusAccepted)
	return out
}
