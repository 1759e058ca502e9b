package main

// Configuration tests: every invalid setting is reported on its own, all at
// once, with exit code 2 before anything starts; --help covers every
// variable the code reads; the effective configuration hides secrets.

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// envMap is a getenv over a map.
func envMap(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// runConfig runs the command in-process with env and returns the exit code,
// stdout and stderr. It is only used with configurations that must not
// start the service.
func runConfig(t *testing.T, args []string, env map[string]string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	done := make(chan int, 1)
	go func() { done <- run(args, envMap(env), strings.NewReader(""), &out, &errOut) }()
	select {
	case code := <-done:
		return code, out.String(), errOut.String()
	case <-time.After(10 * time.Second):
		t.Fatalf("run %q with %v did not return: the service started with a configuration it should refuse", args, env)
		return 0, "", ""
	}
}

// problemLines returns the lines of stderr that report one problem each
// (indented under "invalid configuration:").
func problemLines(stderr string) []string {
	var out []string
	for _, l := range strings.Split(stderr, "\n") {
		if strings.HasPrefix(l, "  ") {
			out = append(out, strings.TrimSpace(l))
		}
	}
	return out
}

// badValue returns a value that st rejects, or "" when st takes any string.
func badValue(st *setting) string {
	for _, v := range []string{"not-a-valid-value", "-99999999999", "99999999999999"} {
		c := &config{}
		fresh := newSettings(c)
		for _, f := range fresh.list {
			if f.env == st.env && f.set(v) != nil {
				return v
			}
		}
	}
	return ""
}

// TestConfigEachInvalidSetting derives its cases from the settings table:
// every setting with a parser is given a value it must reject, from the
// environment and from its flag, and must be reported alone, by name, with
// exit code 2.
func TestConfigEachInvalidSetting(t *testing.T) {
	checked := 0
	for _, st := range newSettings(&config{}).list {
		bad := badValue(st)
		if bad == "" {
			continue // any string is valid; cross-checks are tested below
		}
		checked++
		t.Run(st.env, func(t *testing.T) {
			for _, tc := range []struct {
				how   string
				args  []string
				env   map[string]string
				where string
			}{
				{"env", nil, map[string]string{st.env: bad}, st.env},
				{"flag", []string{"--" + st.flag + "=" + bad}, nil, "--" + st.flag},
				{"flag wins over a good env", []string{"--" + st.flag, bad}, map[string]string{st.env: st.def}, "--" + st.flag},
			} {
				code, stdout, stderr := runConfig(t, tc.args, tc.env)
				if code != 2 || stdout != "" {
					t.Errorf("%s: exit %d, stdout %q; want 2 and nothing on stdout", tc.how, code, stdout)
				}
				lines := problemLines(stderr)
				if len(lines) != 1 || !strings.HasPrefix(lines[0], tc.where+":") || !strings.Contains(lines[0], st.env) || !strings.Contains(lines[0], "--"+st.flag) {
					t.Errorf("%s: problems %q; want one line naming %s, the variable %s and the flag --%s", tc.how, lines, tc.where, st.env, st.flag)
				}
				if st.secret && strings.Contains(stderr, bad) {
					t.Errorf("%s: the secret's value is shown: %q", tc.how, stderr)
				}
				if !strings.Contains(stderr, "--help") {
					t.Errorf("%s: no pointer to --help in %q", tc.how, stderr)
				}
			}
		})
	}
	if checked < 15 {
		t.Errorf("only %d settings have a value they reject; the settings table changed?", checked)
	}
}

// TestConfigProblems covers the checks between settings and the command
// line itself: each gives its own clear message.
func TestConfigProblems(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want []string // fragments of the one problem line
	}{
		{"reconnect max below initial", nil, map[string]string{"IRC_RECONNECT_INITIAL_MS": "5000", "IRC_RECONNECT_MAX_MS": "1000"},
			[]string{"IRC_RECONNECT_MAX_MS", "IRC_RECONNECT_INITIAL_MS"}},
		{"unknown kind", nil, map[string]string{"INGEST_KINDS": "privmsg,whisper"}, []string{"INGEST_KINDS", "whisper"}},
		{"two firestore lookups", nil, firestoreEnv("TWITCH_TOKEN_DOC", "t/{login}", "TWITCH_TOKEN_COLLECTION", "t", "TWITCH_BOT_USERNAME", "bot"),
			[]string{"TWITCH_TOKEN_DOC", "TWITCH_TOKEN_COLLECTION", "choose one"}},
		{"collection without login", nil, firestoreEnv("TWITCH_TOKEN_COLLECTION", "t"),
			[]string{"TWITCH_TOKEN_COLLECTION", "TWITCH_BOT_USERNAME"}},
		{"static and firestore", nil, firestoreEnv("TWITCH_OAUTH_TOKEN", "abc", "TWITCH_TOKEN_DOC", "t/{login}"),
			[]string{"TWITCH_OAUTH_TOKEN", "Firestore"}},
		{"firestore without project", nil, firestoreEnv("TWITCH_TOKEN_DOC", "t/{login}", "GOOGLE_CLOUD_PROJECT", ""),
			[]string{"FIRESTORE_PROJECT_ID", "GOOGLE_CLOUD_PROJECT"}},
		{"firestore without client secret", nil, firestoreEnv("TWITCH_TOKEN_DOC", "t/{login}", "TWITCH_CLIENT_SECRET", ""),
			[]string{"TWITCH_CLIENT_ID", "TWITCH_CLIENT_SECRET"}},
		{"nats client certificate without key", nil, map[string]string{"NATS_TLS_CERT": "/c.pem"},
			[]string{"NATS_TLS_CERT", "NATS_TLS_KEY"}},
		{"pubsub without project", nil, map[string]string{"MESSAGE_BUS_DRIVER": "pubsub"},
			[]string{"MESSAGE_BUS_DRIVER=pubsub", "PUBSUB_PROJECT_ID", "GOOGLE_CLOUD_PROJECT"}},
		{"irc url scheme", nil, map[string]string{"TWITCH_IRC_URL": "http://irc.example:80"}, []string{"TWITCH_IRC_URL", `"http"`}},
		{"irc url without host", nil, map[string]string{"TWITCH_IRC_URL": "wss://"}, []string{"TWITCH_IRC_URL", "no host"}},
		{"nats url unparsable", nil, map[string]string{"MESSAGE_BUS_DRIVER": "nats", "NATS_URL": "nats://a:b@h:4222,:/\x7f"}, []string{"NATS_URL", "not a URL"}},
		{"nats url scheme", nil, map[string]string{"MESSAGE_BUS_DRIVER": "nats-core", "NATS_URL": "http://h:4222"}, []string{"NATS_URL", `"http"`}},
		{"bad channel", nil, map[string]string{"TWITCH_CHANNELS": "good,bad one"}, []string{"TWITCH_CHANNELS", `"bad one"`}},
		{"outbox for a local bus", nil, map[string]string{"OUTBOX": "disk", "MESSAGE_BUS_DRIVER": "stdout"}, []string{"OUTBOX=disk", "stdout"}},
		{"cluster with the embedded bus", nil, map[string]string{"CLUSTER": "nats"}, []string{"CLUSTER=nats", "MESSAGE_BUS_DRIVER=embedded"}},
		{"cluster nats url", nil, map[string]string{"CLUSTER": "nats", "MESSAGE_BUS_DRIVER": "stdout", "NATS_URL": "http://h:4222"}, []string{"NATS_URL", "CLUSTER=nats"}},
		{"cluster name", nil, map[string]string{"CLUSTER_NAME": "a.b"}, []string{"CLUSTER_NAME", "letters"}},
		{"unknown flag", []string{"--no-such-flag"}, nil, nil},
		{"stray argument", []string{"--port", "9000", "extra"}, nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runConfig(t, tc.args, tc.env)
			if code != 2 || stdout != "" {
				t.Fatalf("exit %d, stdout %q, stderr %q; want 2 and nothing on stdout", code, stdout, stderr)
			}
			if tc.want == nil {
				if !strings.Contains(stderr, "--help") || len(stderr) > 400 {
					t.Errorf("stderr %q: want a short message pointing to --help", stderr)
				}
				return
			}
			lines := problemLines(stderr)
			if len(lines) != 1 {
				t.Fatalf("problems %q; want exactly one", lines)
			}
			for _, w := range tc.want {
				if !strings.Contains(lines[0], w) {
					t.Errorf("problem %q does not mention %q", lines[0], w)
				}
			}
		})
	}
}

// firestoreEnv is a valid Firestore-mode environment but for the pairs
// given (an empty value removes the variable).
func firestoreEnv(kv ...string) map[string]string {
	m := map[string]string{"GOOGLE_CLOUD_PROJECT": "p", "TWITCH_CLIENT_ID": "id", "TWITCH_CLIENT_SECRET": "secret"}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "" {
			delete(m, kv[i])
		} else {
			m[kv[i]] = kv[i+1]
		}
	}
	return m
}

// TestConfigAllProblemsAtOnce: several wrong settings, of both kinds (a
// value that does not parse, settings that contradict each other), are all
// reported in one go.
func TestConfigAllProblemsAtOnce(t *testing.T) {
	env := map[string]string{
		"PORT":                "http",
		"LOG_LEVEL":           "loud",
		"PUBLISH_MAX_RETRIES": "-1",
		"IRC_PING_INTERVAL":   "forever",
		"MESSAGE_BUS_DRIVER":  "kafka",
		"INGEST_KINDS":        "privmsg,whisper",
		"TWITCH_CHANNELS":     "a:b",
	}
	code, _, stderr := runConfig(t, []string{"--shutdown-timeout", "1h"}, env)
	if code != 2 {
		t.Fatalf("exit %d, want 2", code)
	}
	lines := problemLines(stderr)
	want := []string{"PORT", "LOG_LEVEL", "PUBLISH_MAX_RETRIES", "IRC_PING_INTERVAL", "MESSAGE_BUS_DRIVER", "INGEST_KINDS", "TWITCH_CHANNELS", "--shutdown-timeout"}
	for _, w := range want {
		n := 0
		for _, l := range lines {
			if strings.HasPrefix(l, w+":") || strings.HasPrefix(l, w+" ") {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%s reported %d times in %q", w, n, lines)
		}
	}
	if len(lines) != len(want) {
		t.Errorf("%d problems reported, want %d:\n%s", len(lines), len(want), stderr)
	}
}

// envReadRE finds the environment variables a source file reads by name.
var envReadRE = regexp.MustCompile(`(?:getenv|os\.Getenv|os\.LookupEnv)\("([A-Za-z0-9_]+)"\)`)

// TestHelpListsEveryVariable: --help lists every setting of the table with
// its flag, default and meaning, and every variable the package's code
// reads by name (found by scanning the source).
func TestHelpListsEveryVariable(t *testing.T) {
	code, help, stderr := runConfig(t, []string{"--help"}, nil)
	if code != 0 || stderr != "" {
		t.Fatalf("--help: exit %d, stderr %q", code, stderr)
	}
	for _, st := range newSettings(&config{}).list {
		for _, w := range []string{st.env, "--" + st.flag, st.help} {
			if !strings.Contains(help, w) {
				t.Errorf("--help does not show %q of %s", w, st.env)
			}
		}
		if st.def != "" && !strings.Contains(help, "default "+st.def) {
			t.Errorf("--help does not show the default %q of %s", st.def, st.env)
		}
	}
	for _, args := range [][]string{{"-h"}, {"serve", "--help"}} {
		if code, out, _ := runConfig(t, args, nil); code != 0 || out != help {
			t.Errorf("%q: exit %d, output differs from --help", args, code)
		}
	}

	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	read := map[string][]string{}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range envReadRE.FindAllStringSubmatch(string(src), -1) {
			read[m[1]] = append(read[m[1]], f)
		}
	}
	if len(read) == 0 {
		t.Fatal("found no getenv(\"...\") in the package: the scan is broken")
	}
	for name, where := range read {
		if !regexp.MustCompile(`\b` + name + `\b`).MatchString(help) {
			t.Errorf("%s is read (%s) but --help does not mention it", name, strings.Join(slices.Compact(where), ", "))
		}
	}
}

// TestOnlyMainReadsTheEnvironment: library packages take option structs;
// only package main (and test helpers) read the environment.
func TestOnlyMainReadsTheEnvironment(t *testing.T) {
	anyRead := regexp.MustCompile(`os\.(Getenv|LookupEnv|Environ)\(`)
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch d.Name() {
			case "bench", "testdata", ".git", "testenv", "cmd":
				return filepath.SkipDir // another module, test helpers, commands
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") || filepath.Dir(path) == "." {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if anyRead.Match(src) {
			t.Errorf("%s reads the environment; only package main may", path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestEffectiveConfig: the effective configuration of the start record
// holds every setting of the table with its value from the environment, the
// flags or the default, and secrets as REDACTED. (test/e2e reads the same
// record from the running binary.)
func TestEffectiveConfig(t *testing.T) {
	secrets := map[string]string{
		"TWITCH_OAUTH_TOKEN":   "cfgtokenvalue0123456789",
		"TWITCH_CLIENT_SECRET": "cfgclientsecret0123456789",
		"NATS_TOKEN":           "cfgnatstoken0123456789",
		"ADMIN_TOKEN":          "cfgadmintoken0123456789",
	}
	env := map[string]string{
		"MESSAGE_BUS_DRIVER":  "stdout",
		"TWITCH_IRC_URL":      "tcp://127.0.0.1:1",
		"TWITCH_OAUTH_URL":    "http://127.0.0.1:1",
		"TWITCH_BOT_USERNAME": "bot",
		"PORT":                "0",
		"LOG_LEVEL":           "debug",
	}
	for k, v := range secrets {
		env[k] = v
	}
	s := newSettings(&config{})
	if err := s.load("ingress-egress", []string{"--channels", "x,y", "--join-rate", "7"}, envMap(env)); err != nil {
		t.Fatal(err)
	}
	cfg := s.effective()
	for _, st := range newSettings(&config{}).list {
		got, ok := cfg[st.env]
		want := st.def
		switch {
		case st.secret:
			want = "REDACTED"
		case env[st.env] != "":
			want = env[st.env]
		case st.env == "TWITCH_CHANNELS":
			want = "x,y"
		case st.env == "TWITCH_JOIN_RATE":
			want = "7"
		}
		if !ok || got != want {
			t.Errorf("config %s = %v (present %v), want %q", st.env, got, ok, want)
		}
	}
	if len(cfg) != len(s.list) {
		t.Errorf("effective configuration has %d entries, the table %d settings", len(cfg), len(s.list))
	}
	for k, v := range secrets {
		for name, shown := range cfg {
			if strings.Contains(shown, v) {
				t.Errorf("the value of %s appears in the effective configuration (%s)", k, name)
			}
		}
	}
}
