package ircv3

import (
	"strings"
	"testing"
)

// twitchPrivmsg is a PRIVMSG with the full tag set Twitch sends.
const twitchPrivmsg = `@badge-info=subscriber/24;badges=broadcaster/1,subscriber/3012,premium/1;client-nonce=a4b2f1e0c9d8;color=#8A2BE2;display-name=Ronni;emotes=25:0-4,12-16/1902:6-10;first-msg=0;flags=;id=885196de-cb67-427a-baa8-82f9b0fcd05f;mod=0;returning-chatter=0;room-id=1337;subscriber=1;tmi-sent-ts=1642786203573;turbo=0;user-id=1337;user-type= :ronni!ronni@ronni.tmi.twitch.tv PRIVMSG #ronni :Kappa Keepo Kappa`

// twitchCases are Twitch-shaped lines with the atoms they must give.
var twitchCases = []struct {
	name  string
	line  string
	verb  string
	src   string
	param []string
	tags  map[string]string // a subset to check, unescaped
	ntags int               // number of tags, -1 to skip
}{
	{
		name: "privmsg full tag set", line: twitchPrivmsg, verb: "PRIVMSG", src: "ronni!ronni@ronni.tmi.twitch.tv",
		param: []string{"#ronni", "Kappa Keepo Kappa"},
		tags:  map[string]string{"badges": "broadcaster/1,subscriber/3012,premium/1", "emotes": "25:0-4,12-16/1902:6-10", "flags": "", "user-type": "", "tmi-sent-ts": "1642786203573"},
		ntags: 17,
	},
	{
		name: "reply-parent-msg-body with \\s and \\:",
		line: `@reply-parent-display-name=Foo;reply-parent-msg-body=hello\sworld\:\sok;reply-parent-msg-id=b34ccfc7;reply-parent-user-login=foo :bar!bar@bar.tmi.twitch.tv PRIVMSG #chan :@Foo hi`,
		verb: "PRIVMSG", src: "bar!bar@bar.tmi.twitch.tv", param: []string{"#chan", "@Foo hi"},
		tags:  map[string]string{"reply-parent-msg-body": "hello world; ok", "reply-parent-msg-id": "b34ccfc7"},
		ntags: 4,
	},
	{
		name: `\\s in a value gives \s`, line: `@a=x\\sy PRIVMSG #c :t`, verb: "PRIVMSG", param: []string{"#c", "t"},
		tags: map[string]string{"a": `x\sy`}, ntags: 1,
	},
	{
		name: "trailing \\s kept", line: `@system-msg=Hello\sthere\s PRIVMSG #c :t`, verb: "PRIVMSG", param: []string{"#c", "t"},
		tags: map[string]string{"system-msg": "Hello there "}, ntags: 1,
	},
	{
		name: "emotes empty and vip=0", line: `@emotes=;vip=0;mod=1 :u!u@u.tmi.twitch.tv PRIVMSG #c :hey`, verb: "PRIVMSG", src: "u!u@u.tmi.twitch.tv",
		param: []string{"#c", "hey"}, tags: map[string]string{"emotes": "", "vip": "0", "mod": "1"}, ntags: 3,
	},
	{
		name: "clearchat with target", line: `@ban-duration=350;room-id=12345678;target-user-id=87654321;tmi-sent-ts=1642715756806 :tmi.twitch.tv CLEARCHAT #dallas :ronni`,
		verb: "CLEARCHAT", src: "tmi.twitch.tv", param: []string{"#dallas", "ronni"}, tags: map[string]string{"ban-duration": "350"}, ntags: 4,
	},
	{
		name: "clearchat without target", line: `@room-id=12345678;tmi-sent-ts=1642715695392 :tmi.twitch.tv CLEARCHAT #dallas`,
		verb: "CLEARCHAT", src: "tmi.twitch.tv", param: []string{"#dallas"}, ntags: 2,
	},
	{
		name: "clearmsg with room-id empty", line: `@login=ronni;room-id=;target-msg-id=abc-123-def;tmi-sent-ts=1642720582342 :tmi.twitch.tv CLEARMSG #dallas :HeyGuys`,
		verb: "CLEARMSG", src: "tmi.twitch.tv", param: []string{"#dallas", "HeyGuys"}, tags: map[string]string{"room-id": "", "target-msg-id": "abc-123-def"}, ntags: 4,
	},
	{
		name: "roomstate single tag", line: `@emote-only=0 :tmi.twitch.tv ROOMSTATE #dallas`,
		verb: "ROOMSTATE", src: "tmi.twitch.tv", param: []string{"#dallas"}, tags: map[string]string{"emote-only": "0"}, ntags: 1,
	},
	{
		name: "usernotice without text", line: `@badge-info=;badges=staff/1;color=#008000;display-name=ronni;emotes=;id=db25007f;login=ronni;mod=0;msg-id=resub;msg-param-cumulative-months=6;msg-param-sub-plan=Prime;room-id=12345678;subscriber=1;system-msg=ronni\shas\ssubscribed\sfor\s6\smonths!;tmi-sent-ts=1507246572675;turbo=1;user-id=87654321;user-type=staff :tmi.twitch.tv USERNOTICE #dallas`,
		verb: "USERNOTICE", src: "tmi.twitch.tv", param: []string{"#dallas"}, tags: map[string]string{"system-msg": "ronni has subscribed for 6 months!", "msg-param-sub-plan": "Prime"}, ntags: 18,
	},
	{name: "ping", line: `PING :tmi.twitch.tv`, verb: "PING", param: []string{"tmi.twitch.tv"}, ntags: 0},
	{name: "pong payload in param 2", line: `:tmi.twitch.tv PONG tmi.twitch.tv :ingress-1`, verb: "PONG", src: "tmi.twitch.tv", param: []string{"tmi.twitch.tv", "ingress-1"}, ntags: 0},
	{name: "004 with dash", line: `:tmi.twitch.tv 004 justinfan123 :-`, verb: "004", src: "tmi.twitch.tv", param: []string{"justinfan123", "-"}, ntags: 0},
	{name: "privmsg target without #", line: `@id=1 :a!a@a.tmi.twitch.tv PRIVMSG chan :hi there`, verb: "PRIVMSG", src: "a!a@a.tmi.twitch.tv", param: []string{"chan", "hi there"}, ntags: 1},
	{name: "privmsg text without colon", line: `:a!a@a.tmi.twitch.tv PRIVMSG #chan hi`, verb: "PRIVMSG", src: "a!a@a.tmi.twitch.tv", param: []string{"#chan", "hi"}, ntags: 0},
	{name: "reconnect", line: `:tmi.twitch.tv RECONNECT`, verb: "RECONNECT", src: "tmi.twitch.tv", ntags: 0},
	{name: "client-only and vendor tags", line: `@+draft/reply=abc;twitch.tv/foo=bar;+example.com/x :u PRIVMSG #c :x`, verb: "PRIVMSG", src: "u", param: []string{"#c", "x"},
		tags: map[string]string{"+draft/reply": "abc", "twitch.tv/foo": "bar", "+example.com/x": ""}, ntags: 3},
	{name: "emoji and non-ASCII text", line: "@display-name=小明 :xm!xm@xm.tmi.twitch.tv PRIVMSG #c :Kappa 😂 Kappa \U000E0000", verb: "PRIVMSG", src: "xm!xm@xm.tmi.twitch.tv",
		param: []string{"#c", "Kappa 😂 Kappa \U000E0000"}, tags: map[string]string{"display-name": "小明"}, ntags: 1},
}

func TestParseTwitch(t *testing.T) {
	for _, c := range twitchCases {
		t.Run(c.name, func(t *testing.T) {
			m, err := Parse([]byte(c.line))
			if err != nil {
				t.Fatalf("Parse(%q) error %v", c.line, err)
			}
			if string(m.Command) != c.verb || string(m.Source) != c.src {
				t.Errorf("Parse(%q) command %q source %q, want %q %q", c.line, m.Command, m.Source, c.verb, c.src)
			}
			a := toAtoms(&m)
			if strings.Join(a.Params, "\x00") != strings.Join(c.param, "\x00") || len(a.Params) != len(c.param) {
				t.Errorf("Parse(%q) params %q, want %q", c.line, a.Params, c.param)
			}
			for k, want := range c.tags {
				raw, ok := m.Tag(k)
				if got := string(AppendUnescaped(nil, raw)); !ok || got != want {
					t.Errorf("Tag(%q) = %q, %v, want %q", k, got, ok, want)
				}
			}
			if c.ntags >= 0 && len(a.Tags) != c.ntags {
				t.Errorf("Parse(%q) has %d tags, want %d", c.line, len(a.Tags), c.ntags)
			}
		})
	}
}

func TestTwoLinesInOneWebSocketMessage(t *testing.T) {
	msg := []byte("PING :tmi.twitch.tv\r\n" + twitchPrivmsg + "\r\n")
	var got []string
	for rest := msg; len(rest) > 0; {
		var line []byte
		line, rest = NextLine(rest)
		if len(line) == 0 {
			continue
		}
		m, err := Parse(line)
		if err != nil {
			t.Fatalf("Parse(%q): %v", line, err)
		}
		got = append(got, string(m.Command))
	}
	if strings.Join(got, ",") != "PING,PRIVMSG" {
		t.Errorf("commands = %q, want PING,PRIVMSG", got)
	}
	// Without a final CRLF, as InspIRCd sends one line per frame.
	line, rest := NextLine([]byte("PING :x"))
	if string(line) != "PING :x" || rest != nil {
		t.Errorf("NextLine(no newline) = %q, %q", line, rest)
	}
}

func TestParseErrors(t *testing.T) {
	for _, c := range []struct {
		line string
		err  error
	}{
		{"", ErrEmpty},
		{"   ", ErrNoCommand},
		{"@a=b", ErrNoCommand},
		{"@a=b ", ErrNoCommand},
		{"@a=b :src", ErrNoCommand},
		{"@a=b :src ", ErrNoCommand},
		{":src", ErrNoCommand},
		{": PRIVMSG #a :b", ErrEmptySource},
		{"PRIVMSG #a :b\x00c", ErrInvalidByte},
		{"PRIVMSG #a :b\rc", ErrInvalidByte},
		{"PRIVMSG #a :b\nc", ErrInvalidByte},
		{" @x PRIVMSG", ErrNoCommand},
		{":0 :", ErrNoCommand},
	} {
		var m Message
		m.Source = []byte("stale")
		if err := m.Parse([]byte(c.line)); err != c.err {
			t.Errorf("Parse(%q) error %v, want %v", c.line, err, c.err)
		}
		if m.Tags != nil || m.Source != nil || m.Command != nil || m.NumParams() != 0 {
			t.Errorf("Parse(%q) left %+v after error", c.line, m)
		}
	}
}

func TestTagLookup(t *testing.T) {
	m, _ := Parse([]byte("@a=1;b;c=;a=2;ab=3;=x;;d=\\s COMMAND"))
	for _, c := range []struct {
		key, want string
		ok        bool
	}{
		{"a", "2", true}, {"b", "", true}, {"c", "", true}, {"ab", "3", true}, {"d", `\s`, true},
		{"", "x", true}, {"x", "", false}, {"abc", "", false},
	} {
		v, ok := m.Tag(c.key)
		if string(v) != c.want || ok != c.ok {
			t.Errorf("Tag(%q) = %q, %v, want %q, %v", c.key, v, ok, c.want, c.ok)
		}
	}
	var keys []string
	it := m.TagIter()
	for it.Next() {
		keys = append(keys, string(it.Key())+"="+string(it.Value()))
	}
	if got := strings.Join(keys, ";"); got != "a=1;b=;c=;a=2;ab=3;=x;d=\\s" {
		t.Errorf("TagIter gave %q", got)
	}
}

func TestAppendUnescaped(t *testing.T) {
	for _, c := range []struct{ raw, want string }{
		{``, ``},
		{`plain`, `plain`},
		{`a\:b`, `a;b`},
		{`a\sb`, `a b`},
		{`a\\b`, `a\b`},
		{`a\rb\nc`, "a\rb\nc"},
		{`a\\s`, `a\s`},
		{`\x`, `x`},
		{`end\`, `end`},
		{`\\\\\:`, `\\;`},
		{`\`, ``},
	} {
		if got := string(AppendUnescaped([]byte("pre"), []byte(c.raw))); got != "pre"+c.want {
			t.Errorf("AppendUnescaped(%q) = %q, want %q", c.raw, got, "pre"+c.want)
		}
		if c.want != "" {
			esc := AppendEscaped(nil, []byte(c.want))
			if back := string(AppendUnescaped(nil, esc)); back != c.want {
				t.Errorf("AppendUnescaped(AppendEscaped(%q)) = %q", c.want, back)
			}
		}
	}
}

func TestSplitSourceAndNick(t *testing.T) {
	m, _ := Parse([]byte(twitchPrivmsg))
	if string(m.Nick()) != "ronni" {
		t.Errorf("Nick() = %q", m.Nick())
	}
}

func TestFifteenthParamTakesTheRest(t *testing.T) {
	line := "CMD 1 2 3 4 5 6 7 8 9 10 11 12 13 14 fifteen and more"
	m, err := Parse([]byte(line))
	if err != nil || m.NumParams() != 15 || string(m.Param(14)) != "fifteen and more" {
		t.Fatalf("Parse(%q) = %d params, last %q, %v", line, m.NumParams(), m.Trailing(), err)
	}
	if m.Param(15) != nil || m.Param(-1) != nil {
		t.Errorf("Param out of range is not nil")
	}
	out, err := AppendMessage(nil, &m)
	if err != nil {
		t.Fatal(err)
	}
	var m2 Message
	if err := m2.Parse(out[:len(out)-2]); err != nil || !toAtoms(&m2).equal(toAtoms(&m)) {
		t.Errorf("round trip of %q gave %q", line, out)
	}
}
