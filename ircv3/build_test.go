package ircv3

import (
	"strings"
	"testing"
)

func TestBuilders(t *testing.T) {
	must := func(b []byte, err error) string {
		t.Helper()
		if err != nil {
			t.Fatalf("builder error %v", err)
		}
		return string(b)
	}
	for _, c := range []struct{ got, want string }{
		{must(AppendCapReq([]byte("x"), "twitch.tv/tags", "twitch.tv/commands")), "xCAP REQ :twitch.tv/tags twitch.tv/commands\r\n"},
		{string(AppendCapEnd(nil)), "CAP END\r\n"},
		{must(AppendPass(nil, "oauth:abc")), "PASS oauth:abc\r\n"},
		{must(AppendNick(nil, "justinfan123")), "NICK justinfan123\r\n"},
		{must(AppendUser(nil, "bot", "Real Name")), "USER bot 0 * :Real Name\r\n"},
		{must(AppendJoin(nil, "#a", "#b")), "JOIN #a,#b\r\n"},
		{must(AppendPart(nil, "#a")), "PART #a\r\n"},
		{must(AppendPong(nil, []byte("tmi.twitch.tv"))), "PONG :tmi.twitch.tv\r\n"},
		{must(AppendPing(nil, []byte("ingress 1"))), "PING :ingress 1\r\n"},
		{must(AppendPrivmsg(nil, "#c", "hello world")), "PRIVMSG #c :hello world\r\n"},
		{must(AppendPrivmsg(nil, "#c", "one")), "PRIVMSG #c one\r\n"},
		{must(AppendPrivmsg(nil, "#c", ":)")), "PRIVMSG #c ::)\r\n"},
		{must(AppendPrivmsg(nil, "#c", "")), "PRIVMSG #c :\r\n"},
		{must(AppendCommand(nil, "PING")), "PING\r\n"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}

func TestBuildersRejectInjection(t *testing.T) {
	dst := []byte("keep")
	for name, f := range map[string]func() ([]byte, error){
		"privmsg CRLF text":    func() ([]byte, error) { return AppendPrivmsg(dst, "#c", "hi\r\nJOIN #x") },
		"privmsg LF text":      func() ([]byte, error) { return AppendPrivmsg(dst, "#c", "hi\nx") },
		"privmsg NUL":          func() ([]byte, error) { return AppendPrivmsg(dst, "#c", "a\x00") },
		"privmsg space tgt":    func() ([]byte, error) { return AppendPrivmsg(dst, "#c #d", "a") },
		"privmsg colon tgt":    func() ([]byte, error) { return AppendPrivmsg(dst, ":#c", "a") },
		"privmsg empty tgt":    func() ([]byte, error) { return AppendPrivmsg(dst, "", "a") },
		"pass CR":              func() ([]byte, error) { return AppendPass(dst, "oauth:x\rNICK y") },
		"nick space":           func() ([]byte, error) { return AppendNick(dst, "a b") },
		"nick empty":           func() ([]byte, error) { return AppendNick(dst, "") },
		"join comma":           func() ([]byte, error) { return AppendJoin(dst, "#a,#b") },
		"join space":           func() ([]byte, error) { return AppendJoin(dst, "#a", "#b c") },
		"join LF":              func() ([]byte, error) { return AppendJoin(dst, "#a\n") },
		"part empty":           func() ([]byte, error) { return AppendPart(dst, "#a", "") },
		"pong CRLF":            func() ([]byte, error) { return AppendPong(dst, []byte("x\r\nQUIT")) },
		"ping NUL":             func() ([]byte, error) { return AppendPing(dst, []byte("\x00")) },
		"cap space":            func() ([]byte, error) { return AppendCapReq(dst, "a b") },
		"command space":        func() ([]byte, error) { return AppendCommand(dst, "PRIV MSG") },
		"middle param colon":   func() ([]byte, error) { return AppendCommand(dst, "X", ":a", "b") },
		"privmsg over 512":     func() ([]byte, error) { return AppendPrivmsg(dst, "#c", strings.Repeat("a", 500)) },
		"pong over 512":        func() ([]byte, error) { return AppendPong(dst, []byte(strings.Repeat("a", 510))) },
		"join channel too big": func() ([]byte, error) { return AppendJoin(dst, "#"+strings.Repeat("a", 510)) },
	} {
		got, err := f()
		if err == nil {
			t.Errorf("%s: no error, built %q", name, got)
		}
		if string(got) != "keep" {
			t.Errorf("%s: dst changed to %q on error", name, got)
		}
	}
}

func TestAppendJoinSplitsAt512(t *testing.T) {
	var chans []string
	for i := 0; i < 300; i++ {
		chans = append(chans, "#channel_number_"+strings.Repeat("x", i%9))
	}
	out, err := AppendJoin(nil, chans...)
	if err != nil {
		t.Fatal(err)
	}
	var seen []string
	for rest := out; len(rest) > 0; {
		i := strings.Index(string(rest), "\r\n")
		if i < 0 {
			t.Fatalf("line without CRLF in %q", rest)
		}
		line := rest[:i+2]
		rest = rest[i+2:]
		if len(line) > MaxLineLen {
			t.Errorf("line of %d bytes > %d", len(line), MaxLineLen)
		}
		m, err := Parse(line[:len(line)-2])
		if err != nil || string(m.Command) != "JOIN" || m.NumParams() != 1 {
			t.Fatalf("bad JOIN line %q: %v", line, err)
		}
		seen = append(seen, strings.Split(string(m.Param(0)), ",")...)
	}
	if strings.Join(seen, " ") != strings.Join(chans, " ") {
		t.Errorf("channels joined differ from channels asked")
	}
	if n := strings.Count(string(out), "\r\n"); n < 2 {
		t.Errorf("300 channels fit in %d lines", n)
	}
}
