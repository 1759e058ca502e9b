package e2e

// Configuration seen from outside: a refused configuration starts nothing,
// and the start record holds the effective configuration with secrets
// hidden. The settings table itself is tested in package main; here its
// variables and defaults are read from the binary's --help.

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ingress-egress/ingress-egress/test/harness"
)

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

// TestConfigRefusedBeforeAnythingStarts runs the binary with a bad
// configuration: exit 2 at once, no data directory created, no port taken,
// nothing on stdout.
func TestConfigRefusedBeforeAnythingStarts(t *testing.T) {
	harness.Binary(t)
	t.Parallel()
	dataDir := filepath.Join(t.TempDir(), "data")
	port := harness.FreePort(t)
	p := harness.Start(t, map[string]string{
		"DATA_DIR":             dataDir,
		"PORT":                 strconv.Itoa(port),
		"LOG_LEVEL":            "chatty",
		"IRC_RECONNECT_MAX_MS": "soon",
	})
	code, ok := p.Wait(10 * time.Second)
	if !ok || code != 2 {
		t.Fatalf("exited %v with code %d, want 2", ok, code)
	}
	if _, err := os.Stat(dataDir); !os.IsNotExist(err) {
		t.Errorf("data directory created by a refused configuration: %v", err)
	}
	if l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port)); err != nil {
		t.Errorf("port %d not free after a refused start: %v", port, err)
	} else {
		l.Close()
	}
	if p.Stdout() != "" {
		t.Errorf("stdout %q, want nothing", p.Stdout())
	}
	lines := problemLines(p.Stderr())
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "IRC_RECONNECT_MAX_MS:") || !strings.HasPrefix(lines[1], "LOG_LEVEL:") {
		t.Errorf("problems %q, want IRC_RECONNECT_MAX_MS and LOG_LEVEL", lines)
	}
}

// helpSetting is one setting as --help lists it.
type helpSetting struct {
	env, def string
}

// helpSettingRE matches a setting's line of --help: the variable, its flag
// and its default ("(none)" for none).
var helpSettingRE = regexp.MustCompile(`^  ([A-Z][A-Z0-9_]*) +--[a-z0-9-]+ +default (.*)$`)

// settingsFromHelp runs the binary with --help and returns every setting it
// lists.
func settingsFromHelp(t *testing.T) []helpSetting {
	t.Helper()
	out, err := exec.Command(harness.Binary(t), "--help").Output()
	if err != nil {
		t.Fatalf("--help: %v", err)
	}
	var list []helpSetting
	for _, l := range strings.Split(string(out), "\n") {
		m := helpSettingRE.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		def := m[2]
		if def == "(none)" {
			def = ""
		}
		list = append(list, helpSetting{env: m[1], def: def})
	}
	if len(list) < 30 {
		t.Fatalf("--help lists %d settings; its format changed?\n%s", len(list), out)
	}
	return list
}

// TestEffectiveConfigLogged runs the binary and reads its start record:
// every setting with its effective value, secrets as REDACTED.
func TestEffectiveConfigLogged(t *testing.T) {
	harness.Binary(t)
	t.Parallel()
	oauth := harness.FakeOAuth(t, "cfgtokenvalue0123456789", "bot")
	secrets := map[string]string{
		"TWITCH_OAUTH_TOKEN":   "cfgtokenvalue0123456789",
		"TWITCH_CLIENT_SECRET": "cfgclientsecret0123456789",
		"NATS_TOKEN":           "cfgnatstoken0123456789",
		"ADMIN_TOKEN":          "cfgadmintoken0123456789",
	}
	env := map[string]string{
		"MESSAGE_BUS_DRIVER":  "stdout",
		"TWITCH_IRC_URL":      "tcp://127.0.0.1:1", // nothing listens: the service keeps retrying
		"TWITCH_OAUTH_URL":    oauth,
		"TWITCH_BOT_USERNAME": "bot",
		"PORT":                "0",
		"LOG_LEVEL":           "debug",
	}
	for k, v := range secrets {
		env[k] = v
	}
	settings := settingsFromHelp(t)
	p := harness.Start(t, env, "--channels", "x,y", "--join-rate", "7")
	rec := p.WaitLog("starting", 10*time.Second)
	cfg, ok := rec["config"].(map[string]any)
	if !ok {
		t.Fatalf("start record without a config object: %v", rec)
	}
	for _, st := range settings {
		got, ok := cfg[st.env]
		want := st.def
		switch {
		case secrets[st.env] != "":
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
	if len(cfg) != len(settings) {
		t.Errorf("start record's config has %d entries, --help lists %d settings", len(cfg), len(settings))
	}
	p.WaitLog("started", 10*time.Second)
	p.Signal(syscall.SIGTERM)
	if code, ok := p.Wait(10 * time.Second); !ok || code != 0 {
		t.Fatalf("after SIGTERM: exited %v, code %d", ok, code)
	}
	out := p.Stdout() + p.Stderr()
	for k, v := range secrets {
		if strings.Contains(out, v) {
			t.Errorf("the value of %s appears in the output", k)
		}
	}
}
