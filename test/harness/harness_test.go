package harness

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCanaryLeaksFindsPartialSecrets(t *testing.T) {
	c := NewCanaries("A", "B")
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
		if got := c.Leaks(tc.text); len(got) != tc.want {
			t.Errorf("Leaks(%q) = %q, want %d", tc.text, got, tc.want)
		}
	}
}

// TestModuleRoot: the build directory is the root of the service's module,
// found from this package's directory (a working directory below the
// root).
func TestModuleRoot(t *testing.T) {
	root, err := ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil || !declaresModule(b, ModulePath) {
		t.Fatalf("%s/go.mod does not declare %s (%v)", root, ModulePath, err)
	}
	if _, err := os.Stat(filepath.Join(root, "main.go")); err != nil {
		t.Errorf("module root %s has no main.go: %v", root, err)
	}
	for _, tc := range []struct {
		gomod string
		want  bool
	}{
		{"module " + ModulePath + "\n\ngo 1.26\n", true},
		{"// comment\nmodule \"" + ModulePath + "\"\n", true},
		{"module " + ModulePath + "/bench\n", false},
		{"require " + ModulePath + " v0.0.0\n", false},
	} {
		if got := declaresModule([]byte(tc.gomod), ModulePath); got != tc.want {
			t.Errorf("declaresModule(%q) = %v, want %v", tc.gomod, got, tc.want)
		}
	}
}

// recordingTB records the errors reported to it.
type recordingTB struct {
	testing.TB
	errors []string
}

func (r *recordingTB) Helper() {}
func (r *recordingTB) Errorf(format string, args ...any) {
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}

// envelopeMsg returns the stored message the service would publish for
// the nth generated PRIVMSG in channel, with id.
func envelopeMsg(t *testing.T, id, channel string, n int) StoredMsg {
	var e Envelope
	e.ID, e.Type = "env-"+id, "external.chat.message.v1"
	e.Source.Platform, e.Source.Channel = "twitch", channel
	e.User.Name, e.Payload.Text, e.Payload.MessageID = WantUser(n), WantText(n), id
	b, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	return StoredMsg{Subject: "internal.ingress.v1", MsgID: id, Data: b}
}

// TestCheckEnvelopes: each kind of difference between what was sent and
// what is on the bus is reported, and a faithful stream is not.
func TestCheckEnvelopes(t *testing.T) {
	sent := map[string]Sent{"a": {"one", 0}, "b": {"two", 1}, "c": {"one", 2}}
	good := func() []StoredMsg {
		return []StoredMsg{envelopeMsg(t, "a", "one", 0), envelopeMsg(t, "b", "two", 1), envelopeMsg(t, "c", "one", 2)}
	}
	for _, tc := range []struct {
		name   string
		change func([]StoredMsg) []StoredMsg
		want   string // in the one error reported; "" for none
	}{
		{"faithful", func(m []StoredMsg) []StoredMsg { return m }, ""},
		{"missing", func(m []StoredMsg) []StoredMsg { return m[:2] }, "message c"},
		{"duplicate", func(m []StoredMsg) []StoredMsg { return append(m, m[1]) }, "on the bus 2 times"},
		{"not sent", func(m []StoredMsg) []StoredMsg { return append(m, envelopeMsg(t, "z", "one", 9)) }, "not sent"},
		{"wrong channel", func(m []StoredMsg) []StoredMsg { m[0] = envelopeMsg(t, "a", "two", 0); return m }, "envelope a"},
		{"wrong text", func(m []StoredMsg) []StoredMsg { m[2] = envelopeMsg(t, "c", "one", 3); return m }, "envelope c"},
		{"wrong header", func(m []StoredMsg) []StoredMsg { m[1].MsgID = "x"; return m }, "Nats-Msg-Id"},
		{"not JSON", func(m []StoredMsg) []StoredMsg { m[1].Data = []byte("{"); return m }, "not JSON"},
	} {
		rec := &recordingTB{TB: t}
		CheckEnvelopes(rec, tc.change(good()), sent)
		switch {
		case tc.want == "" && len(rec.errors) != 0:
			t.Errorf("%s: reported %q", tc.name, rec.errors)
		case tc.want != "" && (len(rec.errors) == 0 || !strings.Contains(strings.Join(rec.errors, "\n"), tc.want)):
			t.Errorf("%s: reported %q, want an error with %q", tc.name, rec.errors, tc.want)
		}
	}
}
