package firestoreauth

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/firestore"

	"github.com/ingress-egress/ingress-egress/internal/testenv"
	"github.com/ingress-egress/ingress-egress/twitch"
	"github.com/ingress-egress/ingress-egress/twitch/internal/oauthfake"
)

// These tests run against the real Firestore emulator and a fake of
// Twitch's OAuth service (twitch/internal/oauthfake) on 127.0.0.1.

var mybot = oauthfake.Account{Login: "mybot", UserID: "141981764", Scopes: []string{"chat:read", "chat:edit"}}

type env struct {
	t     *testing.T
	addr  string
	db    *firestore.Client
	fake  *oauthfake.Server
	oauth *twitch.OAuthClient
	lc    *leakCheck
	log   *slog.Logger
	src   *Source
}

func newEnv(t *testing.T) *env {
	e := &env{t: t, addr: emulator(t)}
	e.db = client(t, e.addr)
	e.fake = oauthfake.New(t)
	e.fake.Prefix = canary
	e.fake.ClientSecret = canary + "-client-secret"
	e.fake.Rotate = true
	e.oauth = &twitch.OAuthClient{BaseURL: e.fake.URL, ClientID: e.fake.ClientID, ClientSecret: twitch.NewToken(e.fake.ClientSecret)}
	// The static token a deployment might also have in its environment.
	t.Setenv("TWITCH_OAUTH_TOKEN", canary+"-env")
	e.lc, e.log = newLeakCheck(t, func() twitch.AuthStatus {
		if e.src == nil {
			return twitch.AuthStatus{}
		}
		return e.src.Status()
	})
	return e
}

func (e *env) put(path string, data map[string]any) {
	e.t.Helper()
	if _, err := e.db.Doc(path).Set(context.Background(), data); err != nil {
		e.t.Fatalf("write %s: %v", path, err)
	}
}

func (e *env) get(path string) map[string]any {
	e.t.Helper()
	snap, err := e.db.Doc(path).Get(context.Background())
	if err != nil {
		e.t.Fatalf("read %s: %v", path, err)
	}
	return snap.Data()
}

// doc returns a token document of mybot.
func doc(access, refresh string, expires any) map[string]any {
	return map[string]any{"userId": "141981764", "login": "mybot", "accessToken": access,
		"refreshToken": refresh, "expiresAt": expires, "scopes": []string{"chat:read", "chat:edit"}}
}

// source builds a Source with the env's client, fake Twitch and logger.
func (e *env) source(opts Options) *Source {
	e.t.Helper()
	if opts.Client == nil {
		opts.Client = e.db
	}
	if opts.Lookup == nil {
		opts.Lookup = DocPath("twitch_tokens/{login}")
	}
	if opts.OAuth == nil {
		opts.OAuth = e.oauth
	}
	opts.Logger = e.log
	s, err := New(context.Background(), opts)
	if err != nil {
		e.t.Fatalf("New: %v", err)
	}
	e.src = s
	return s
}

// run starts s.Run until the test ends.
func (e *env) run(s *Source) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	e.t.Cleanup(func() {
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			e.t.Errorf("Run = %v", err)
		}
	})
}

func (e *env) chatAuth(s *Source) (twitch.Auth, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	a, err := s.ChatAuth(ctx, "")
	e.lc.see(a, err, s)
	return a, err
}

func TestLoad(t *testing.T) {
	exp := time.Now().Add(3 * time.Hour).Truncate(time.Second).UTC()
	tests := []struct {
		name   string
		path   string
		lookup Lookup
		login  string
		expiry any
	}{
		{name: "path template", path: "twitch_tokens/mybot", lookup: DocPath("twitch_tokens/{login}"), login: "mybot", expiry: exp},
		{name: "nested path", path: "tenants/t1/twitch_tokens/mybot", lookup: DocPath("tenants/t1/twitch_tokens/{login}"), login: "MyBot", expiry: exp},
		{name: "fixed path, login from document", path: "config/bot", lookup: DocPath("config/bot"), expiry: exp.Format(time.RFC3339)},
		{name: "query on login", path: "twitch_tokens/x1y2", lookup: FieldQuery("twitch_tokens", "login", ""), login: "mybot", expiry: exp.Format(time.RFC3339)},
		{name: "query on userId", path: "twitch_tokens/z9", lookup: FieldQuery("twitch_tokens", "userId", "141981764"), expiry: exp},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			e.fake.AddAccess(canary+"-a1", mybot, 3*time.Hour)
			e.put(tt.path, doc(canary+"-a1", canary+"-r1", tt.expiry))
			e.put("twitch_tokens/other", map[string]any{"login": "other", "userId": "7", "accessToken": canary + "-o", "refreshToken": canary + "-o"})
			s := e.source(Options{Lookup: tt.lookup, Login: tt.login})
			e.run(s)
			eventually(t, 20*time.Second, "ready", s.Ready)
			a, err := e.chatAuth(s)
			if err != nil || a.Token.Reveal() != canary+"-a1" || a.Login != "mybot" || a.UserID != "141981764" || a.Anonymous {
				t.Fatalf("ChatAuth = %+v, %v", a, err)
			}
			eventually(t, 10*time.Second, "validated", func() bool { return s.Status().LastValidation.OK })
			st := s.Status()
			if st.Document != tt.path || !st.ExpiresAt.Equal(exp) || !twitch.HasScope(st.Scopes, "chat:read") ||
				st.Mode != twitch.AuthFirestore || !st.LastLoad.OK || st.Reason != "" {
				t.Fatalf("status %+v", st)
			}
			if _, err := s.ChatAuth(context.Background(), "other"); !errors.Is(err, twitch.ErrAuthUnknownLogin) {
				t.Fatalf("ChatAuth(other) err = %v, want ErrAuthUnknownLogin", err)
			}
			if v, r := e.fake.Calls(); v != 1 || r != 0 {
				t.Fatalf("twitch calls: %d validate, %d refresh; want 1, 0", v, r)
			}
		})
	}
}

func TestLoadErrors(t *testing.T) {
	good := func() map[string]any { return doc(canary+"-a1", canary+"-r1", time.Now().Add(time.Hour)) }
	with := func(k string, v any) map[string]any {
		d := good()
		if v == nil {
			delete(d, k)
		} else {
			d[k] = v
		}
		return d
	}
	tests := []struct {
		name   string
		docs   map[string]map[string]any
		lookup Lookup
		login  string
		want   string // in the ChatAuth error and the status reason
		is     error  // the load error (status LastLoad) wraps it
	}{
		{name: "missing document", lookup: DocPath("twitch_tokens/{login}"), login: "mybot", want: "not found: twitch_tokens/mybot", is: ErrDocumentNotFound},
		{name: "query no match", docs: map[string]map[string]any{"twitch_tokens/a": with("login", "someoneelse")},
			lookup: FieldQuery("twitch_tokens", "login", ""), login: "mybot", want: `no document in twitch_tokens where login == "mybot"`, is: ErrDocumentNotFound},
		{name: "query ambiguous", docs: map[string]map[string]any{"twitch_tokens/a": good(), "twitch_tokens/b": good()},
			lookup: FieldQuery("twitch_tokens", "login", ""), login: "mybot", want: "more than one", is: ErrAmbiguous},
		{name: "no login for template", lookup: DocPath("twitch_tokens/{login}"), want: "needs a login"},
		{name: "collection path", lookup: DocPath("twitch_tokens"), want: "not a document path"},
		{name: "login with a slash", lookup: DocPath("twitch_tokens/{login}"), login: "a/b", want: "cannot be part of a document path"},
		{name: "access token missing", docs: map[string]map[string]any{"twitch_tokens/mybot": with("accessToken", nil)}, want: `"accessToken" is missing`, is: ErrMalformedDocument},
		{name: "access token number", docs: map[string]map[string]any{"twitch_tokens/mybot": with("accessToken", int64(42))}, want: `"accessToken" is an integer, want a non-empty string`, is: ErrMalformedDocument},
		{name: "access token empty", docs: map[string]map[string]any{"twitch_tokens/mybot": with("accessToken", "")}, want: `"accessToken" is a string, want a non-empty string`, is: ErrMalformedDocument},
		{name: "refresh token missing", docs: map[string]map[string]any{"twitch_tokens/mybot": with("refreshToken", nil)}, want: `"refreshToken" is missing`, is: ErrMalformedDocument},
		{name: "login missing", docs: map[string]map[string]any{"twitch_tokens/mybot": with("login", nil)}, want: `"login" is missing`, is: ErrMalformedDocument},
		{name: "expiresAt bool", docs: map[string]map[string]any{"twitch_tokens/mybot": with("expiresAt", true)}, want: `"expiresAt" is a boolean, want a timestamp or an RFC 3339 string`, is: ErrMalformedDocument},
		{name: "expiresAt not RFC 3339", docs: map[string]map[string]any{"twitch_tokens/mybot": with("expiresAt", "tomorrow "+canary)}, want: `"expiresAt" is a string but not RFC 3339`, is: ErrMalformedDocument},
		{name: "scopes string", docs: map[string]map[string]any{"twitch_tokens/mybot": with("scopes", "chat:read")}, want: `"scopes" is a string, want an array of strings`, is: ErrMalformedDocument},
		{name: "scopes numbers", docs: map[string]map[string]any{"twitch_tokens/mybot": with("scopes", []any{"chat:read", int64(1)})}, want: `"scopes" has an element of type an integer`, is: ErrMalformedDocument},
		{name: "userId map", docs: map[string]map[string]any{"twitch_tokens/mybot": with("userId", map[string]any{"a": canary})}, want: `"userId" is a map, want a string`, is: ErrMalformedDocument},
		{name: "another login", docs: map[string]map[string]any{"twitch_tokens/mybot": with("login", "otherbot")}, want: `is for login "otherbot", expected "mybot"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			for p, d := range tt.docs {
				e.put(p, d)
			}
			lookup, login := tt.lookup, tt.login
			if lookup == nil {
				lookup, login = DocPath("twitch_tokens/{login}"), "mybot"
			}
			s := e.source(Options{Lookup: lookup, Login: login, OpTimeout: 5 * time.Second})
			_, err := e.chatAuth(s)
			if !errors.Is(err, twitch.ErrAuthNotReady) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("ChatAuth err = %v, want ErrAuthNotReady mentioning %q", err, tt.want)
			}
			st := s.Status()
			if s.Ready() || st.Ready || !strings.Contains(st.Reason, tt.want) {
				t.Fatalf("status %+v, want not ready because %q", st, tt.want)
			}
			if tt.is != nil {
				_, lerr := s.st.load(context.Background())
				e.lc.see(lerr)
				if !errors.Is(lerr, tt.is) {
					t.Fatalf("load err = %v, want %v", lerr, tt.is)
				}
			}
			if v, r := e.fake.Calls(); v+r != 0 {
				t.Fatalf("twitch contacted %d times for a bad document", v+r)
			}
		})
	}
}

func TestRefreshBeforeExpiry(t *testing.T) {
	for _, asString := range []bool{false, true} {
		t.Run(fmt.Sprintf("expiresAt string %v", asString), func(t *testing.T) {
			e := newEnv(t)
			e.fake.AddAccess(canary+"-a1", mybot, 2*time.Minute)
			e.fake.AddRefresh(canary+"-r1", mybot)
			var exp any = time.Now().Add(2 * time.Minute)
			if asString {
				exp = exp.(time.Time).UTC().Format(time.RFC3339)
			}
			e.put("twitch_tokens/mybot", doc(canary+"-a1", canary+"-r1", exp))
			s := e.source(Options{Login: "mybot", RefreshBefore: 5 * time.Minute})
			e.run(s)
			acc, ref := canary+"-access-1", canary+"-refresh-1"
			eventually(t, 20*time.Second, "document refreshed", func() bool { return e.get("twitch_tokens/mybot")["accessToken"] == acc })
			d := e.get("twitch_tokens/mybot")
			if d["refreshToken"] != ref || d["userId"] != "141981764" || d["login"] != "mybot" {
				t.Fatalf("document after refresh: %v", redactDoc(d))
			}
			var got time.Time
			switch v := d["expiresAt"].(type) {
			case time.Time:
				got = v
			case string:
				got, _ = time.Parse(time.RFC3339, v)
			}
			if _, isStr := d["expiresAt"].(string); isStr != asString || time.Until(got) < 3*time.Hour || time.Until(got) > 4*time.Hour {
				t.Fatalf("expiresAt %v (%T), want about 4 h from now, same type as before", got, d["expiresAt"])
			}
			eventually(t, 10*time.Second, "new token in use", func() bool {
				a, err := e.chatAuth(s)
				return err == nil && a.Token.Reveal() == acc
			})
			if _, r := e.fake.Calls(); r != 1 {
				t.Fatalf("%d refresh calls, want 1", r)
			}
			if st := s.Status(); !st.LastRefresh.OK || !st.Ready {
				t.Fatalf("status %+v", st)
			}
		})
	}
}

func TestValidate401Refreshes(t *testing.T) {
	e := newEnv(t)
	e.fake.AddRefresh(canary+"-r1", mybot) // a1 unknown to Twitch: 401
	e.put("twitch_tokens/mybot", doc(canary+"-a1", canary+"-r1", time.Now().Add(3*time.Hour)))
	s := e.source(Options{Login: "mybot"})
	e.run(s)
	eventually(t, 20*time.Second, "refreshed", func() bool { return e.get("twitch_tokens/mybot")["accessToken"] == canary+"-access-1" })
	eventually(t, 10*time.Second, "ready", s.Ready)
	a, err := e.chatAuth(s)
	st := s.Status()
	if err != nil || a.Token.Reveal() != canary+"-access-1" || st.LastValidation.OK ||
		!strings.Contains(st.LastValidation.Detail, "401") || !st.LastRefresh.OK {
		t.Fatalf("ChatAuth = %v, %v; status %+v", a, err, st)
	}
}

func TestRefreshRejectedThenHealed(t *testing.T) {
	e := newEnv(t)
	// Neither token is known to Twitch: validate 401, refresh 400.
	e.put("twitch_tokens/mybot", doc(canary+"-a1", canary+"-r1", time.Now().Add(3*time.Hour)))
	s := e.source(Options{Login: "mybot", ReloadMin: 100 * time.Millisecond, ReloadMax: 400 * time.Millisecond})
	e.run(s)
	eventually(t, 20*time.Second, "stuck", func() bool { return s.Status().LastRefresh.At.After(time.Time{}) })
	st := s.Status()
	if s.Ready() || !strings.Contains(st.Reason, "400 Invalid refresh token") || !strings.Contains(st.Reason, "oauth-flow") ||
		!strings.Contains(st.Reason, "twitch_tokens/mybot") || st.LastRefresh.OK {
		t.Fatalf("status %+v", st)
	}
	if _, err := e.chatAuth(s); !errors.Is(err, twitch.ErrAuthNotReady) || !strings.Contains(err.Error(), "Invalid refresh token") {
		t.Fatalf("ChatAuth err = %v", err)
	}
	time.Sleep(time.Second) // several re-reads of the unchanged document
	if _, r := e.fake.Calls(); r != 1 {
		t.Fatalf("%d refresh calls while stuck, want 1", r)
	}
	// oauth-flow re-authorises the account.
	e.fake.AddAccess(canary+"-a9", mybot, 4*time.Hour)
	e.fake.AddRefresh(canary+"-r9", mybot)
	e.put("twitch_tokens/mybot", doc(canary+"-a9", canary+"-r9", time.Now().Add(4*time.Hour)))
	eventually(t, 10*time.Second, "healed", s.Ready)
	if a, err := e.chatAuth(s); err != nil || a.Token.Reveal() != canary+"-a9" {
		t.Fatalf("ChatAuth = %v, %v", a, err)
	}
	if !strings.Contains(e.lc.logs.String(), "leave the stuck state") {
		t.Fatalf("healing not logged: %s", e.lc.logs.String())
	}
}

func TestConcurrentRefresh(t *testing.T) {
	setup := func(t *testing.T) (*env, *Source, twitch.Auth) {
		e := newEnv(t)
		e.fake.AddAccess(canary+"-a1", mybot, time.Hour)
		e.fake.AddRefresh(canary+"-r1", mybot)
		e.put("twitch_tokens/mybot", doc(canary+"-a1", canary+"-r1", time.Now().Add(time.Hour)))
		s := e.source(Options{Login: "mybot", ValidateEvery: 300 * time.Millisecond})
		a, err := e.chatAuth(s)
		if err != nil || a.Token.Reveal() != canary+"-a1" {
			t.Fatalf("ChatAuth = %v, %v", a, err)
		}
		e.fake.RevokeAccess(canary + "-a1") // the session's login fails
		return e, s, a
	}
	// invalidate has n goroutines report the failed login at once.
	invalidate := func(e *env, s *Source, a twitch.Auth, n int) {
		var wg sync.WaitGroup
		for range n {
			wg.Go(func() {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				s.Invalidate(ctx, a)
				got, err := s.ChatAuth(ctx, "mybot")
				e.lc.see(got, err)
				if err != nil || got.Token.Reveal() == canary+"-a1" {
					e.t.Errorf("after Invalidate: ChatAuth = %v, %v", got, err)
				}
			})
		}
		wg.Wait()
	}
	check := func(t *testing.T, e *env, s *Source, wantAccess, wantRefresh string) {
		t.Helper()
		d := e.get("twitch_tokens/mybot")
		if d["accessToken"] != wantAccess || d["refreshToken"] != wantRefresh {
			t.Fatalf("document holds %v, want %s/%s", redactDoc(d), wantAccess, wantRefresh)
		}
		if !e.fake.ValidRefresh(wantRefresh) {
			t.Fatalf("the stored refresh token is dead at Twitch: refresh token lost")
		}
		if e.fake.ValidRefresh(canary + "-r1") {
			t.Fatalf("r1 still valid: no refresh happened")
		}
		if _, r := e.fake.Calls(); r != 1 {
			t.Fatalf("%d refresh calls, want exactly 1", r)
		}
	}

	t.Run("goroutines share one refresh", func(t *testing.T) {
		e, s, a := setup(t)
		invalidate(e, s, a, 8)
		check(t, e, s, canary+"-access-1", canary+"-refresh-1")
	})

	t.Run("another writer during our twitch call", func(t *testing.T) {
		e, s, a := setup(t)
		e.fake.OnRefresh(func(string) {
			// oauth-flow (or a replica) stores a newer token meanwhile.
			e.fake.AddAccess(canary+"-a3", mybot, 4*time.Hour)
			e.fake.AddRefresh(canary+"-r3", mybot)
			e.put("twitch_tokens/mybot", doc(canary+"-a3", canary+"-r3", time.Now().Add(4*time.Hour)))
		})
		invalidate(e, s, a, 4)
		check(t, e, s, canary+"-a3", canary+"-r3")
		if got, _ := e.chatAuth(s); got.Token.Reveal() != canary+"-a3" {
			t.Fatalf("source uses %q, want the newer a3", got.Token.Reveal())
		}
		if st := s.Status(); !strings.Contains(st.LastRefresh.Detail, "another writer") {
			t.Fatalf("status %+v", st)
		}
	})

	t.Run("another writer during our transaction", func(t *testing.T) {
		e, s, a := setup(t)
		writerDone := make(chan error, 1)
		s.st.(*fsStore).inTx = func(attempt int) {
			if attempt != 1 {
				return
			}
			// The emulator locks the document for our transaction: the
			// writer waits (or times out and retries) and lands after us.
			e.fake.AddAccess(canary+"-a3", mybot, 4*time.Hour)
			e.fake.AddRefresh(canary+"-r3", mybot)
			go func() {
				var err error
				for range 10 {
					ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
					_, err = e.db.Doc("twitch_tokens/mybot").Set(ctx, doc(canary+"-a3", canary+"-r3", time.Now().Add(4*time.Hour)))
					cancel()
					if err == nil {
						break
					}
				}
				writerDone <- err
			}()
		}
		invalidate(e, s, a, 2)
		if err := <-writerDone; err != nil {
			t.Fatalf("second writer: %v", err)
		}
		e.run(s) // the periodic re-read picks up the newest token
		eventually(t, 10*time.Second, "newest token in use", func() bool {
			got, err := e.chatAuth(s)
			return err == nil && got.Token.Reveal() == canary+"-a3"
		})
		check(t, e, s, canary+"-a3", canary+"-r3")
	})
}

func TestFirestoreDownAtStart(t *testing.T) {
	e := newEnv(t)
	e.fake.AddAccess(canary+"-a1", mybot, 4*time.Hour)
	e.put("twitch_tokens/mybot", doc(canary+"-a1", canary+"-r1", time.Now().Add(4*time.Hour)))
	p := newProxy(t, e.addr)
	db := client(t, p.addr) // nothing listens there yet
	s := e.source(Options{Client: db, Login: "mybot", OpTimeout: time.Second,
		RetryMin: 50 * time.Millisecond, RetryMax: 300 * time.Millisecond, ValidateEvery: 500 * time.Millisecond})
	e.run(s)
	eventually(t, 10*time.Second, "first failed read", func() bool { return !s.Status().LastLoad.At.IsZero() })
	if _, err := e.chatAuth(s); !errors.Is(err, twitch.ErrAuthNotReady) || s.Ready() {
		t.Fatalf("Firestore down: ChatAuth err = %v, Ready %v", err, s.Ready())
	}
	if st := s.Status(); !strings.Contains(st.Reason, "no token loaded") || st.LastLoad.OK {
		t.Fatalf("status %+v", st)
	}
	p.up()
	eventually(t, 30*time.Second, "ready once Firestore is up", s.Ready)
	if a, err := e.chatAuth(s); err != nil || a.Token.Reveal() != canary+"-a1" {
		t.Fatalf("ChatAuth = %v, %v", a, err)
	}
	// Firestore goes away again: the cached token keeps working.
	p.down()
	eventually(t, 10*time.Second, "failed re-read", func() bool { return !s.Status().LastLoad.OK })
	if a, err := e.chatAuth(s); err != nil || a.Token.Reveal() != canary+"-a1" || !s.Ready() {
		t.Fatalf("with Firestore down again: ChatAuth = %v, %v, Ready %v", a, err, s.Ready())
	}
}

func TestPrintingSourceShowsNoSecret(t *testing.T) {
	e := newEnv(t)
	e.fake.AddAccess(canary+"-a1", mybot, time.Hour)
	e.put("twitch_tokens/mybot", doc(canary+"-a1", canary+"-r1", time.Now().Add(time.Hour)))
	s := e.source(Options{Login: "mybot"})
	a, err := e.chatAuth(s)
	if err != nil {
		t.Fatal(err)
	}
	e.log.Info("debug", "source", s, "auth", a, "status", s.Status())
	out := fmt.Sprintf("%v %+v %#v %v %+v %#v", s, s, s, a, a, a)
	if strings.Contains(out, canary) || !strings.Contains(out, "twitch_tokens/mybot") {
		t.Fatalf("printed: %s", out)
	}
}

// redactDoc replaces token values for failure messages.
func redactDoc(d map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range d {
		if s, ok := v.(string); ok && strings.Contains(s, canary) {
			v = strings.ReplaceAll(s, canary, "…")
		}
		out[k] = v
	}
	return out
}

// proxy forwards TCP from a fixed loopback port to target while up.
type proxy struct {
	t      *testing.T
	addr   string
	target string
	mu     sync.Mutex
	ln     net.Listener
	conns  map[net.Conn]bool
	wg     sync.WaitGroup
}

func newProxy(t *testing.T, target string) *proxy {
	p := &proxy{t: t, target: target, conns: map[net.Conn]bool{}}
	p.addr = fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	t.Cleanup(func() { p.down(); p.wg.Wait() })
	return p
}

func (p *proxy) up() {
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		p.t.Fatalf("proxy listen: %v", err)
	}
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	p.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u, err := net.Dial("tcp", p.target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns[c], p.conns[u] = true, true
			p.mu.Unlock()
			p.wg.Go(func() { io.Copy(u, c); u.Close(); c.Close() })
			p.wg.Go(func() { io.Copy(c, u); u.Close(); c.Close() })
		}
	})
}

func (p *proxy) down() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
	}
	clear(p.conns)
}
