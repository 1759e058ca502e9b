package envelope

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

var received = time.Date(2025, 11, 21, 17, 2, 0, 123456789, time.UTC)

// fullPrivmsg is a PRIVMSG with Twitch's full tag set, a reply, emotes
// after an emoji and characters encoding/json escapes.
const fullPrivmsg = `@badge-info=subscriber/24;badges=broadcaster/1,subscriber/3012,premium/1;client-nonce=a4b2f1e0c9d8;color=#8A2BE2;display-name=Ronni;emotes=25:7-11,15-19;first-msg=0;flags=;id=885196de-cb67-427a-baa8-82f9b0fcd05f;mod=0;reply-parent-display-name=Foo;reply-parent-msg-body=hello\sworld\:\sok;reply-parent-msg-id=b34ccfc7-0000-4000-8000-000000000001;reply-parent-user-id=42;reply-parent-user-login=foo;reply-thread-parent-msg-id=b34ccfc7-0000-4000-8000-000000000000;reply-thread-parent-user-login=foo;returning-chatter=0;room-id=1337;subscriber=1;tmi-sent-ts=1642786203573;turbo=0;user-id=1337;user-type= :ronni!ronni@ronni.tmi.twitch.tv PRIVMSG #ronni :@Foo 😂 Kappa 😂 Kappa <3 & "quotes"`

// fullEnvelope is fullPrivmsg's envelope with Seed(1), byte for byte: it
// fixes the key order.
const fullEnvelope = `{"v":"1","id":"c6dd916e-0c81-5ee1-9468-652ef54f43ff","correlationId":"c6dd916e-0c81-5ee1-9468-652ef54f43ff","traceId":"@TRACE@","timestamp":"2025-11-21T17:02:00.123Z","type":"external.chat.message.v1","source":{"platform":"twitch","channel":"ronni","channelId":"1337"},"user":{"id":"1337","name":"ronni","displayName":"Ronni","profileImageUrl":"","role":""},"routingSlip":[],"finalizationDestination":"internal.finalizer.v1","payload":{"text":"@Foo 😂 Kappa 😂 Kappa \u003c3 \u0026 \"quotes\"","messageId":"885196de-cb67-427a-baa8-82f9b0fcd05f","badges":["broadcaster","subscriber","premium"],"isMod":false,"isSubscriber":true,"color":"#8A2BE2","emotes":[{"id":"25","name":"Kappa","start":7,"end":11},{"id":"25","name":"Kappa","start":15,"end":19}],"raw":{"tags":{"badge-info":"subscriber/24","badges":"broadcaster/1,subscriber/3012,premium/1","client-nonce":"a4b2f1e0c9d8","color":"#8A2BE2","display-name":"Ronni","emotes":"25:7-11,15-19","first-msg":"0","flags":"","id":"885196de-cb67-427a-baa8-82f9b0fcd05f","mod":"0","reply-parent-display-name":"Foo","reply-parent-msg-body":"hello world; ok","reply-parent-msg-id":"b34ccfc7-0000-4000-8000-000000000001","reply-parent-user-id":"42","reply-parent-user-login":"foo","reply-thread-parent-msg-id":"b34ccfc7-0000-4000-8000-000000000000","reply-thread-parent-user-login":"foo","returning-chatter":"0","room-id":"1337","subscriber":"1","tmi-sent-ts":"1642786203573","turbo":"0","user-id":"1337","user-type":""}},"sentAt":"2022-01-21T17:30:03.573Z","isBroadcaster":true,"reply":{"parentMessageId":"b34ccfc7-0000-4000-8000-000000000001","parentUserId":"42","parentUserLogin":"foo","parentDisplayName":"Foo","parentText":"hello world; ok","threadParentMessageId":"b34ccfc7-0000-4000-8000-000000000000"}}}`

const allKinds = Privmsg | Usernotice | Clearchat | Clearmsg

// trickyLines are the hard cases of the envelope's contract, and more; each is checked
// against the reference and some fields in TestFields.
var trickyLines = []string{
	fullPrivmsg,
	"@id=1;emotes=25:0-4,8-12 :a!a@a PRIVMSG #c :Kappa 😂 Kappa",
	"@id=2;emotes=25:0-4 :a!a@a PRIVMSG #c :Kappa Kappa \U000E0000",
	"@id=3;emotes=25:0-40 :a!a@a PRIVMSG #c :Kappa",
	"@id=4;emotes=25:4-0 :a!a@a PRIVMSG #c :Kappa",
	"@id=5;emotes=25:04 :a!a@a PRIVMSG #c :Kappa",
	"@id=6;emotes=25:10-14 :a!a@a PRIVMSG #c :Kappa",
	"@id=7;badges=subscriber24 :a!a@a PRIVMSG #c :hi",
	"@id=8;badges=subscriber/12, :a!a@a PRIVMSG #c :hi",
	`@id=9;badge-info=predictions/Day\s53/53\sforsenSmug;badges=predictions/blue-1 :a!a@a PRIVMSG #c :hi`,
	"@id=10;display-name=小明 :xm!xm@xm PRIVMSG #c :你好",
	"@id=11;display-name= :xm!xm@xm PRIVMSG #c :hi",
	"@id=12;vip=0 :a!a@a PRIVMSG #c :hi",
	"@id=13;vip=1 :a!a@a PRIVMSG #c :hi",
	"@id=14;emotes=25:0-4 :a!a@a PRIVMSG #c :\x01ACTION Kappa waves\x01",
	"@id=15 :a!a@a PRIVMSG #c :\x01ACTION\x01",
	`@id=16;reply-parent-msg-id=p1;reply-parent-user-id=9;reply-parent-user-login=foo;reply-parent-display-name=Foo;reply-parent-msg-body=Kappa\shi;reply-thread-parent-msg-id=p0;emotes=25:5-9 :a!a@a PRIVMSG #c :@foo Kappa`,
	"@id=17;room-id=1;source-room-id=1;source-id=s1;source-badges=moderator/1 :a!a@a PRIVMSG #c :shared",
	"@id=18;room-id=2;source-room-id=1;source-id=s1;source-only=0 :a!a@a PRIVMSG #c :copied",
	"@id=19;display-name=a\x01\x7f\xff :a!a@a PRIVMSG #c :bad \xfe\xff utf8 \x02 and \t tab",
	"@id=20;color=\\s\\:\\\\<tag> :a!a@a PRIVMSG #c :\u2028\u2029</script>",
	"@id=21;bits=100 :a!a@a PRIVMSG #c :cheer100",
	"@id=22;bits=lots :a!a@a PRIVMSG #c :cheer",
	"@id=23;tmi-sent-ts=99999999999999999 :a!a@a PRIVMSG #c :far future",
	"@id=24;first-msg=1;returning-chatter=1 :a!a@a PRIVMSG #c :hello",
	"@id=25;color=#111;color=#222;x=1;x=2 :a!a@a PRIVMSG #c :dups",
	":a!a@a PRIVMSG #c :no id",
	"@id=26 :a!a@a PRIVMSG c :no hash",
	"@id=27 :a!a@a PRIVMSG #c",
	"@id=28 :a!a@a PRIVMSG #",
	"@id=29 :a!a@a PRIVMSG #c :",
	"@id=30;\xff=1;\xfe=2 :a!a@a PRIVMSG #c :invalid keys",
	"@id=31;login=bob PRIVMSG #c :no source",
	"@id=32 PRIVMSG #c :no login at all",
	`@badge-info=;badges=staff/1;color=#008000;display-name=ronni;emotes=;id=db25007f;login=ronni;mod=0;msg-id=resub;msg-param-cumulative-months=6;msg-param-sub-plan=Prime;msg-param-sub-plan-name=Prime\sSub;room-id=12345678;subscriber=1;system-msg=ronni\shas\ssubscribed\sfor\s6\smonths!;tmi-sent-ts=1507246572675;turbo=1;user-id=87654321;user-type=staff :tmi.twitch.tv USERNOTICE #dallas :Great stream -- keep it up!`,
	`@id=u2;login=ronni;msg-id=sub;msg-param-months=1;msg-param-months=2 :tmi.twitch.tv USERNOTICE #dallas`,
	`@ban-duration=350;room-id=12345678;target-user-id=87654321;tmi-sent-ts=1642715756806 :tmi.twitch.tv CLEARCHAT #dallas :ronni`,
	`@room-id=12345678;target-user-id=87654321;tmi-sent-ts=1642715756806 :tmi.twitch.tv CLEARCHAT #dallas :ronni`,
	`@ban-duration=forever;target-user-id=8 :tmi.twitch.tv CLEARCHAT #dallas :ronni`,
	`@room-id=12345678;tmi-sent-ts=1642715695392 :tmi.twitch.tv CLEARCHAT #dallas`,
	`@login=ronni;room-id=;target-msg-id=abc-123-def;tmi-sent-ts=1642720582342 :tmi.twitch.tv CLEARMSG #dallas :HeyGuys`,
	`@emote-only=0 :tmi.twitch.tv ROOMSTATE #dallas`,
	`PING :tmi.twitch.tv`,
	`:tmi.twitch.tv RECONNECT`,
	`@message-id=306;thread-id=1_2 :a!a@a WHISPER foo :hello`,
	`@msg-id=msg_banned :tmi.twitch.tv NOTICE #c :You are banned`,
	"@id=46 :a!a@\xff PRIVMSG #c :invalid only where nothing is written",
	"@id=47 :a!a@\xff PRIVMSG c :and an anomaly",
	"@id=48;display-name=\xc3\\\xa9 :a!a@a PRIVMSG #c :an escape that joins UTF-8",
	"@id=49 :tmi.twitch.tv PRIVMSG #c :from a server name",
	"@id=50;login=bob :tmi.twitch.tv PRIVMSG #c :from a server name, with a login tag",
	"@id=51 :a!a@a PRIVMSG #c :\x01ACTION \x01",
	"@id=52 :a!a@a PRIVMSG #c :\x01ACTION",
	"@id=53 :a.b PRIVMSG #c :a dotted source without ! or @ is a server",
	"@id=54 :ronni PRIVMSG #c :a bare nick",
	"@id=55 :a.b!c@d PRIVMSG #c :a dotted nick before !",
}

func TestReferenceOnTrickyLines(t *testing.T) {
	e := NewEncoder(&Options{Kinds: allKinds})
	for _, line := range trickyLines {
		checkAgainstReference(t, e, allKinds, []byte(line), received)
	}
}

func TestFullEnvelopeBytes(t *testing.T) {
	e := NewEncoder(nil)
	e.Seed(1)
	out, err := e.AppendLine(nil, []byte(fullPrivmsg), received)
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Replace(fullEnvelope, "@TRACE@", e.TraceID().String(), 1)
	if string(out) != want {
		t.Errorf("envelope\n got %s\nwant %s", out, want)
	}
	if len(e.TraceID().String()) != 36 || e.TraceID() == (UUID{}) {
		t.Errorf("TraceID() = %v", e.TraceID())
	}
	// Same seed, same output.
	e2 := NewEncoder(nil)
	e2.Seed(1)
	out2, _ := e2.AppendLine(nil, []byte(fullPrivmsg), received)
	if !bytes.Equal(out, out2) {
		t.Error("two encoders with Seed(1) disagree")
	}
	// A fresh trace id every time, the same id for the same Twitch id.
	out3, _ := e2.AppendLine(nil, []byte(fullPrivmsg), received)
	if bytes.Equal(out2, out3) || e2.ID() != e.ID() {
		t.Error("the second envelope of the same line repeats its trace id or changes its id")
	}
}

// field decodes an envelope and walks a dotted path ("payload.raw.tags.id",
// "payload.emotes.1.name").
func field(t *testing.T, env []byte, path string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(env, &v); err != nil {
		t.Fatalf("%s: %v", env, err)
	}
	for _, p := range strings.Split(path, ".") {
		switch x := v.(type) {
		case map[string]any:
			var ok bool
			if v, ok = x[p]; !ok {
				return "<absent>"
			}
		case []any:
			var i int
			fmt.Sscan(p, &i)
			if i >= len(x) {
				return "<absent>"
			}
			v = x[i]
		default:
			return "<absent>"
		}
	}
	return v
}

func TestFields(t *testing.T) {
	for _, c := range []struct {
		line string
		path string
		want string // fmt %v of the decoded value
	}{
		{fullPrivmsg, "source.channel", "ronni"},
		{fullPrivmsg, "user.displayName", "Ronni"},
		{fullPrivmsg, "payload.reply.parentText", "hello world; ok"},
		{fullPrivmsg, "payload.raw.anomalies", "<absent>"},
		{fullPrivmsg, "payload.firstMessage", "<absent>"},
		{trickyLines[1], "payload.emotes", "[map[end:4 id:25 name:Kappa start:0] map[end:12 id:25 name:Kappa start:8]]"},
		{trickyLines[2], "payload.text", "Kappa Kappa \U000E0000"},
		{trickyLines[3], "payload.emotes.0.end", "4"},
		{trickyLines[3], "payload.raw.anomalies", "[emotes-out-of-range]"},
		{trickyLines[3], "payload.raw.line", trickyLines[3]},
		{trickyLines[4], "payload.emotes", "[]"},
		{trickyLines[5], "payload.raw.anomalies", "[emotes-malformed]"},
		{trickyLines[6], "payload.emotes", "[]"},
		{trickyLines[7], "payload.badges", "[]"},
		{trickyLines[7], "payload.raw.anomalies", "[badges-malformed]"},
		{trickyLines[8], "payload.badges", "[subscriber]"},
		{trickyLines[9], "payload.raw.tags.badge-info", "predictions/Day 53/53 forsenSmug"},
		{trickyLines[9], "payload.badges", "[predictions]"},
		{trickyLines[10], "user.displayName", "小明"},
		{trickyLines[11], "user.displayName", "xm"},
		{trickyLines[12], "payload.isVip", "<absent>"},
		{trickyLines[13], "payload.isVip", "true"},
		{trickyLines[14], "payload.isAction", "true"},
		{trickyLines[14], "payload.text", "Kappa waves"},
		{trickyLines[14], "payload.emotes.0.name", "Kappa"},
		{trickyLines[16], "payload.text", "@foo Kappa"},
		{trickyLines[16], "payload.emotes.0.name", "Kappa"},
		{trickyLines[16], "payload.reply", "map[parentDisplayName:Foo parentMessageId:p1 parentText:Kappa hi parentUserId:9 parentUserLogin:foo threadParentMessageId:p0]"},
		{trickyLines[17], "payload.sharedChat", "map[isOrigin:true sourceMessageId:s1 sourceRoomId:1]"},
		{trickyLines[18], "payload.sharedChat", "map[isOrigin:false sourceMessageId:s1 sourceRoomId:1]"},
		{trickyLines[19], "payload.text", "bad \ufffd\ufffd utf8 \x02 and \t tab"},
		{trickyLines[19], "user.displayName", "a\x01\x7f\ufffd"},
		{trickyLines[19], "payload.raw.anomalies", "[invalid-utf8]"},
		{trickyLines[19], "payload.raw.lineBase64", "QGlkPTE5O2Rpc3BsYXktbmFtZT1hAX//IDphIWFAYSBQUklWTVNHICNjIDpiYWQg/v8gdXRmOCACIGFuZCAJIHRhYg=="},
		{trickyLines[19], "payload.raw.line", "<absent>"},
		{trickyLines[20], "payload.color", ` ;\<tag>`},
		{trickyLines[21], "payload.bits", "100"},
		{trickyLines[22], "payload.bits", "<absent>"},
		{trickyLines[22], "payload.raw.anomalies", "[bad-bits]"},
		{trickyLines[23], "payload.sentAt", "<absent>"},
		{trickyLines[23], "payload.raw.anomalies", "[bad-tmi-sent-ts]"},
		{trickyLines[24], "payload.firstMessage", "true"},
		{trickyLines[24], "payload.returningChatter", "true"},
		{trickyLines[25], "payload.color", "#222"},
		{trickyLines[25], "payload.raw.tags.x", "2"},
		{trickyLines[25], "payload.raw.anomalies", "[duplicate-tags]"},
		{trickyLines[26], "payload.raw.anomalies", "[no-message-id]"},
		{trickyLines[27], "source.channel", "c"},
		{trickyLines[27], "payload.raw.anomalies", "[channel-without-hash]"},
		{trickyLines[31], "payload.raw.anomalies", "[invalid-utf8 invalid-tag-key]"},
		{trickyLines[31], "payload.raw.tags", "map[id:30]"},
		{trickyLines[32], "user.name", "bob"},
		{trickyLines[33], "payload.raw.anomalies", "[no-login]"},
		{trickyLines[34], "type", "external.chat.usernotice.v1"},
		{trickyLines[34], "user.name", "ronni"},
		{trickyLines[34], "payload.msgParams", "map[cumulative-months:6 sub-plan:Prime sub-plan-name:Prime Sub]"},
		{trickyLines[34], "payload.systemMsg", "ronni has subscribed for 6 months!"},
		{trickyLines[34], "payload.text", "Great stream -- keep it up!"},
		{trickyLines[35], "payload.msgParams", "map[months:2]"},
		{trickyLines[35], "payload.text", ""},
		{trickyLines[36], "type", "external.chat.moderation.v1"},
		{trickyLines[36], "payload.action", "timeout"},
		{trickyLines[36], "payload.durationSeconds", "350"},
		{trickyLines[36], "user.name", "ronni"},
		{trickyLines[36], "user.id", "87654321"},
		{trickyLines[37], "payload.action", "ban"},
		{trickyLines[38], "payload.raw.anomalies", "[bad-ban-duration]"},
		{trickyLines[39], "payload.action", "clear"},
		{trickyLines[40], "payload.action", "delete"},
		{trickyLines[40], "payload.targetMessageId", "abc-123-def"},
		{trickyLines[40], "payload.text", "HeyGuys"},
		{trickyLines[46], "payload.raw.anomalies", "<absent>"},
		{trickyLines[47], "payload.raw.anomalies", "[invalid-utf8 channel-without-hash]"},
		{trickyLines[47], "payload.raw.lineBase64", "QGlkPTQ3IDphIWFA/yBQUklWTVNHIGMgOmFuZCBhbiBhbm9tYWx5"},
		{trickyLines[48], "user.displayName", "é"},
		{trickyLines[48], "payload.raw.anomalies", "<absent>"},
		{trickyLines[15], "payload.isAction", "true"},
		{trickyLines[15], "payload.text", ""},
		{trickyLines[49], "user.name", ""},
		{trickyLines[49], "user.displayName", ""},
		{trickyLines[49], "payload.raw.anomalies", "[no-login]"},
		{trickyLines[50], "user.name", "bob"},
		{trickyLines[50], "payload.raw.anomalies", "<absent>"},
		{trickyLines[51], "payload.isAction", "true"},
		{trickyLines[51], "payload.text", ""},
		{trickyLines[52], "payload.isAction", "true"},
		{trickyLines[52], "payload.text", ""},
		{trickyLines[53], "user.name", ""},
		{trickyLines[54], "user.name", "ronni"},
		{trickyLines[55], "user.name", "a.b"},
	} {
		e := NewEncoder(&Options{Kinds: allKinds})
		out, err := e.AppendLine(nil, []byte(c.line), received)
		if err != nil {
			t.Errorf("Append(%q): %v", c.line, err)
			continue
		}
		if got := fmt.Sprintf("%v", field(t, out, c.path)); got != c.want {
			t.Errorf("Append(%q) %s = %q, want %q", c.line, c.path, got, c.want)
		}
	}
}

func TestSkippedLines(t *testing.T) {
	for _, c := range []struct {
		line  string
		kinds Kinds
		err   error
	}{
		{"@id=27 :a!a@a PRIVMSG #c", 0, ErrNoText},
		{"@id=29 :a!a@a PRIVMSG #c :", 0, ErrNoText},
		{"@id=28 :a!a@a PRIVMSG # :hi", 0, ErrNoChannel},
		{":a!a@a PRIVMSG * :hi", 0, ErrNoChannel},
		{":a!a@a PRIVMSG", 0, ErrNoChannel},
		{":tmi.twitch.tv USERNOTICE", Usernotice, ErrNoChannel},
		{"PING :tmi.twitch.tv", allKinds, ErrNotEnabled},
		{"@login=a :tmi.twitch.tv USERNOTICE #c", 0, ErrNotEnabled},
		{":tmi.twitch.tv CLEARCHAT #c", Privmsg | Usernotice, ErrNotEnabled},
		{":tmi.twitch.tv CLEARMSG #c :x", Clearchat, ErrNotEnabled},
		{":a!a@a PRIVMSG #c :hi", Clearmsg, ErrNotEnabled},
	} {
		e := NewEncoder(&Options{Kinds: c.kinds})
		dst := []byte("keep")
		out, err := e.AppendLine(dst, []byte(c.line), received)
		if err != c.err || string(out) != "keep" {
			t.Errorf("Append(%q) with %v = %q, %v, want dst unchanged, %v", c.line, c.kinds, out, err, c.err)
		}
	}
	e := NewEncoder(nil)
	if _, err := e.AppendLine(nil, []byte("@a=b"), received); err == nil {
		t.Error("an unparsable line gives no error")
	}
}

func TestOptions(t *testing.T) {
	e := NewEncoder(&Options{TypePrefix: "x.", FinalizationDestination: "fin<al>", Kinds: Privmsg | Clearmsg})
	out, err := e.AppendLine(nil, []byte(":a!a@a PRIVMSG #c :hi"), received)
	if err != nil {
		t.Fatal(err)
	}
	if got := field(t, out, "type"); got != "x.message.v1" {
		t.Errorf("type = %v", got)
	}
	if got := field(t, out, "finalizationDestination"); got != "fin<al>" || !bytes.Contains(out, []byte(`"fin\u003cal\u003e"`)) {
		t.Errorf("finalizationDestination = %v in %s", got, out)
	}
	out, _ = e.AppendLine(nil, []byte(":tmi.twitch.tv CLEARMSG #c :x"), received)
	if got := field(t, out, "type"); got != "x.moderation.v1" {
		t.Errorf("type = %v", got)
	}
}

func TestParseKinds(t *testing.T) {
	for _, c := range []struct {
		in   string
		want Kinds
		err  bool
	}{
		{"", Privmsg, false},
		{"privmsg", Privmsg, false},
		{"privmsg,usernotice,clearchat,clearmsg", allKinds, false},
		{" USERNOTICE , clearmsg ,", Usernotice | Clearmsg, false},
		{"privmsg,join", 0, true},
	} {
		got, err := ParseKinds(c.in)
		if got != c.want || (err != nil) != c.err {
			t.Errorf("ParseKinds(%q) = %v, %v, want %v, error %v", c.in, got, err, c.want, c.err)
		}
	}
	if s := allKinds.String(); s != "privmsg,usernotice,clearchat,clearmsg" {
		t.Errorf("String() = %q", s)
	}
}

func TestReceiveTime(t *testing.T) {
	e := NewEncoder(nil)
	for _, c := range []struct {
		at   time.Time
		want string
	}{
		{time.Date(2025, 11, 21, 17, 2, 0, 999999999, time.UTC), "2025-11-21T17:02:00.999Z"},
		{time.Date(2024, 2, 29, 23, 59, 59, 1000000, time.FixedZone("X", 3600)), "2024-02-29T22:59:59.001Z"},
		{time.Date(1969, 12, 31, 23, 59, 59, 500000000, time.UTC), "1969-12-31T23:59:59.500Z"},
		{time.Time{}, "0001-01-01T00:00:00.000Z"},
		{time.Date(-5, 1, 1, 0, 0, 0, 0, time.UTC), "0000-01-01T00:00:00.000Z"},
		{time.Date(12000, 1, 1, 0, 0, 0, 0, time.UTC), "9999-12-31T23:59:59.999Z"},
	} {
		out, _ := e.AppendLine(nil, []byte(":a!a@a PRIVMSG #c :hi"), c.at)
		if got := field(t, out, "timestamp"); got != c.want {
			t.Errorf("timestamp of %v = %v, want %v", c.at, got, c.want)
		}
	}
}

// corpusPath is the benchmark corpus: realistic Twitch lines, CRLF.
const corpusPath = "../ircv3/testdata/twitch-corpus.irc"

func readCorpus(t testing.TB) [][]byte {
	t.Helper()
	f, err := os.Open(corpusPath)
	if err != nil {
		t.Skipf("no corpus: %v", err)
	}
	defer f.Close()
	var lines [][]byte
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if l := bytes.TrimSuffix(sc.Bytes(), []byte("\r")); len(l) > 0 {
			lines = append(lines, bytes.Clone(l))
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return lines
}

// TestDifferentialCorpus: every line of the corpus gives the envelope the
// encoding/json reference gives.
func TestDifferentialCorpus(t *testing.T) {
	lines := readCorpus(t)
	e := NewEncoder(&Options{Kinds: allKinds})
	n := 0
	for _, line := range lines {
		if checkAgainstReference(t, e, allKinds, line, received) {
			n++
		}
	}
	t.Logf("%d lines, %d envelopes", len(lines), n)
	if n == 0 {
		t.Error("the corpus yields no envelope")
	}
}

// FuzzEnvelope: for any line, Append writes valid JSON that decodes to
// the reference's value, or gives the reference's error.
func FuzzEnvelope(f *testing.F) {
	for _, l := range trickyLines {
		f.Add([]byte(l))
	}
	e := NewEncoder(&Options{Kinds: allKinds})
	f.Fuzz(func(t *testing.T, line []byte) {
		checkAgainstReference(t, e, allKinds, line, received)
	})
}

func TestTwitchID(t *testing.T) {
	e := NewEncoder(nil)
	if _, err := e.AppendLine(nil, []byte(fullPrivmsg), received); err != nil {
		t.Fatal(err)
	}
	if got := string(e.TwitchID()); got != "885196de-cb67-427a-baa8-82f9b0fcd05f" {
		t.Errorf("TwitchID = %q", got)
	}
	if _, err := e.AppendLine(nil, []byte("@color=#fff :a!a@a PRIVMSG #c :no id"), received); err != nil {
		t.Fatal(err)
	}
	if e.TwitchID() != nil {
		t.Errorf("TwitchID of a line without id = %q", e.TwitchID())
	}
}

// TestRawTagsBlockCopy: raw.tags members written with fixed-size block
// copies (values of up to 32 bytes not near the section's end) agree with
// the reference for every value length around the block size, in every
// position, with and without room in dst.
func TestRawTagsBlockCopy(t *testing.T) {
	e := NewEncoder(nil)
	for n := range 40 {
		val := strings.Repeat("v", n)
		for _, line := range []string{
			"@id=1;color=" + val + ";turbo=0;user-id=12345678901234567890;mod=1 :a!a@a PRIVMSG #c :hi",
			"@id=1;turbo=0;color=" + val + " :a!a@a PRIVMSG #c :t",
			"@color=" + val + ";id=1 :a!a@a PRIVMSG #c :t",
			"@color=" + val + ";id=" + val + "1;display-name=" + val + "2;x=" + val + " :a!a@a PRIVMSG #c :t",
		} {
			if !checkAgainstReference(t, e, Privmsg, []byte(line), received) {
				t.Fatalf("%q yields no envelope", line)
			}
			e.Seed(1)
			want, _ := e.AppendLine(make([]byte, 0, 16<<10), []byte(line), received)
			e.Seed(1)
			got, _ := e.AppendLine(nil, []byte(line), received)
			if !bytes.Equal(got, want) {
				t.Fatalf("%q: into nil\n got %s\nwant %s", line, got, want)
			}
		}
	}
}
