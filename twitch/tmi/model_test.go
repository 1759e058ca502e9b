package tmi

import (
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/ingress-egress/ingress-egress/internal/tagindex"
	"github.com/ingress-egress/ingress-egress/ircv3"
)

// modelPrivmsg is a PRIVMSG with the full tag set Twitch sends, a reply
// and emotes after an emoji.
const modelPrivmsg = `@badge-info=subscriber/24;badges=broadcaster/1,subscriber/3012,premium/1;client-nonce=a4b2f1e0c9d8;color=#8A2BE2;display-name=Ronni;emotes=25:7-11,15-19;first-msg=0;flags=;id=885196de-cb67-427a-baa8-82f9b0fcd05f;mod=0;reply-parent-display-name=Foo;reply-parent-msg-body=hello\sworld\:\sok;reply-parent-msg-id=b34ccfc7-0000-4000-8000-000000000001;reply-parent-user-id=42;reply-parent-user-login=foo;reply-thread-parent-msg-id=b34ccfc7-0000-4000-8000-000000000000;reply-thread-parent-user-login=foo;returning-chatter=0;room-id=1337;subscriber=1;tmi-sent-ts=1642786203573;turbo=0;user-id=1337;user-type= :ronni!ronni@ronni.tmi.twitch.tv PRIVMSG #ronni :@Foo 😂 Kappa 😂 Kappa`

func msgOf(t testing.TB, line string) *ircv3.Message {
	m, err := ircv3.Parse([]byte(line))
	if err != nil {
		t.Fatalf("Parse(%q): %v", line, err)
	}
	return &m
}

func view(t testing.TB, line string) *View {
	t.Helper()
	m, err := ircv3.Parse([]byte(line))
	if err != nil {
		t.Fatalf("Parse(%q): %v", line, err)
	}
	var v View
	v.Reset(&m)
	return &v
}

// sp formats its operands separated by single spaces.
func sp(a ...any) string { s := fmt.Sprintln(a...); return s[:len(s)-1] }

func unesc(b []byte) string { return string(ircv3.AppendUnescaped(nil, b)) }

func TestKindOf(t *testing.T) {
	for _, c := range []struct {
		cmd  string
		want Kind
	}{
		{"PRIVMSG", KindPrivmsg}, {"USERNOTICE", KindUsernotice}, {"CLEARCHAT", KindClearchat},
		{"CLEARMSG", KindClearmsg}, {"ROOMSTATE", KindRoomstate}, {"USERSTATE", KindUserstate},
		{"GLOBALUSERSTATE", KindGlobalUserstate}, {"NOTICE", KindNotice}, {"RECONNECT", KindReconnect},
		{"WHISPER", KindWhisper}, {"privmsg", KindOther}, {"", KindOther},
		// The protocol's commands a connection follows.
		{"HOSTTARGET", KindHosttarget}, {"JOIN", KindJoin}, {"PART", KindPart}, {"PING", KindPing},
		{"PONG", KindPong}, {"CAP", KindCap}, {"ERROR", KindError},
		{"001", KindNumeric}, {"421", KindNumeric}, {"01", KindOther}, {"0011", KindOther}, {"0a1", KindOther},
		{"NICK", KindOther},
	} {
		if got := KindOf([]byte(c.cmd)); got != c.want {
			t.Errorf("KindOf(%q) = %v, want %v", c.cmd, got, c.want)
		}
		if c.want != KindOther && c.want != KindNumeric && c.want.String() != c.cmd {
			t.Errorf("%v.String() = %q, want %q", c.want, c.want.String(), c.cmd)
		}
	}
	if Kind(200).String() != "other" {
		t.Errorf("Kind(200).String() = %q", Kind(200).String())
	}
}

func TestSplitAction(t *testing.T) {
	for _, c := range []struct {
		in, text string
		action   bool
	}{
		{"\x01ACTION waves\x01", "waves", true},
		{"\x01ACTION waves", "waves", true},
		{"\x01ACTION \x01", "", true},
		{"\x01ACTION\x01", "", true},
		{"\x01ACTION", "", true},
		{"\x01ACTION  two spaces\x01", " two spaces", true},
		{"\x01ACTIONS\x01", "\x01ACTIONS\x01", false},
		{"\x01VERSION\x01", "\x01VERSION\x01", false},
		{"ACTION waves", "ACTION waves", false},
		{"hello", "hello", false},
		{"", "", false},
	} {
		text, action := splitAction([]byte(c.in))
		if string(text) != c.text || action != c.action {
			t.Errorf("splitAction(%q) = %q, %v, want %q, %v", c.in, text, action, c.text, c.action)
		}
	}
}

func TestViewPrivmsg(t *testing.T) {
	v := view(t, modelPrivmsg)
	ch, hash := v.Channel()
	sent, sentOK := v.SentAt()
	_, bitsOK := v.Bits()
	for _, c := range []struct {
		name, got, want string
	}{
		{"Kind", v.Kind.String(), "PRIVMSG"},
		{"Channel", sp(string(ch), hash), "ronni true"},
		{"Login", login(v), "ronni"},
		{"DisplayName", string(v.DisplayName()), "Ronni"},
		{"UserID", string(v.UserID()), "1337"},
		{"RoomID", string(v.RoomID()), "1337"},
		{"ID", string(v.ID()), "885196de-cb67-427a-baa8-82f9b0fcd05f"},
		{"Color", string(v.Color()), "#8A2BE2"},
		{"SentAt", sp(sent, sentOK), "1642786203573 true"},
		{"Bits", sp(bitsOK), "false"},
		{"Text", string(v.Text()), "@Foo 😂 Kappa 😂 Kappa"},
		{"IsAction", sp(v.IsAction()), "false"},
		{"IsMod", sp(v.IsMod()), "false"},
		{"IsSubscriber", sp(v.IsSubscriber()), "true"},
		{"IsTurbo", sp(v.IsTurbo()), "false"},
		{"IsVIP", sp(v.IsVIP()), "false"},
		{"IsBroadcaster", sp(v.IsBroadcaster()), "true"},
		{"IsFirstMessage", sp(v.IsFirstMessage()), "false"},
		{"IsReturningChatter", sp(v.IsReturningChatter()), "false"},
		{"IsReply", sp(v.IsReply()), "true"},
		{"reply-parent-msg-body", unesc(v.Tags.Get(TagReplyParentMsgBody)), "hello world; ok"},
		{"reply-parent-user-login", string(v.Tags.Get(TagReplyParentUserLogin)), "foo"},
		{"reply-thread-parent-msg-id", string(v.Tags.Get(TagReplyThreadParentMsgID)), "b34ccfc7-0000-4000-8000-000000000000"},
		{"IsSharedChat", sp(v.IsSharedChat()), "false"},
		{"Badges", badgeList(v.Badges()), "broadcaster/1 subscriber/3012 premium/1"},
		{"BadgeInfo", badgeList(v.BadgeInfo()), "subscriber/24"},
		{"Emotes", emoteList(v.Emotes()), "25:7-11=Kappa 25:15-19=Kappa"},
		{"flags present and empty", sp(v.Tags.Has(TagFlags), len(v.Tags.Get(TagFlags))), "true 0"},
		{"vip absent", sp(v.Tags.Has(TagVIP)), "false"},
		{"Len", sp(v.Tags.Len()), "24"},
		{"Duplicates", sp(v.Tags.Duplicates()), "false"},
	} {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
		}
	}
}

func badgeList(it BadgeIter) string {
	var out []string
	for it.Next() {
		out = append(out, string(it.Name())+"/"+string(it.Version()))
	}
	if it.Malformed() {
		out = append(out, "MALFORMED")
	}
	return strings.Join(out, " ")
}

func emoteList(it EmoteIter) string {
	var out []string
	for it.Next() {
		out = append(out, fmt.Sprintf("%s:%d-%d=%s", it.ID(), it.Start(), it.End(), it.Name()))
	}
	if p := it.Problems(); p&EmoteMalformed != 0 {
		out = append(out, "MALFORMED")
	}
	if p := it.Problems(); p&EmoteOutOfRange != 0 {
		out = append(out, "OUT-OF-RANGE")
	}
	return strings.Join(out, " ")
}

func TestBadgeIter(t *testing.T) {
	for _, c := range []struct{ raw, want string }{
		{"", ""},
		{"subscriber/12", "subscriber/12"},
		{"subscriber24", "MALFORMED"},
		{"subscriber/12,", "subscriber/12 MALFORMED"},
		{",subscriber/12", "subscriber/12 MALFORMED"},
		{"a/1,,b/2", "a/1 b/2 MALFORMED"},
		{"/1,b/2", "b/2 MALFORMED"},
		{"subscriber/", "subscriber/"},
		{`predictions/Day\s53/53\sforsenSmug`, `predictions/Day\s53/53\sforsenSmug`},
		{"predictions/blue-1,vip/1", "predictions/blue-1 vip/1"},
		{"broadcaster/1,subscriber/3012,premium/1", "broadcaster/1 subscriber/3012 premium/1"},
		{",", "MALFORMED"},
		{"///", "MALFORMED"},
	} {
		if got := badgeList(BadgeIter{rest: []byte(c.raw)}); got != c.want {
			t.Errorf("badges %q = %q, want %q", c.raw, got, c.want)
		}
	}
	var zero BadgeIter
	if zero.Next() {
		t.Error("zero BadgeIter yields a badge")
	}
	it := BadgeIter{rest: []byte(`predictions/Day\s53/53\sforsenSmug`)}
	if !it.Next() || unesc(it.Version()) != "Day 53/53 forsenSmug" {
		t.Errorf("unescaped badge-info version = %q", unesc(it.Version()))
	}
}

func TestEmoteIter(t *testing.T) {
	for _, c := range []struct{ name, raw, text, want string }{
		{"none", "", "hello", ""},
		{"emoji before an emote", "25:0-4,8-12", "Kappa 😂 Kappa", "25:0-4=Kappa 25:8-12=Kappa"},
		{"tag order, grouped by id", "25:0-4,12-16/1902:6-10", "Kappa Keepo Kappa", "25:0-4=Kappa 25:12-16=Kappa 1902:6-10=Keepo"},
		{"emotesv2 id", "emotesv2_dcd06b30a5c24f6eb871e8f5edbd44f7:0-7", "DinoDance", "emotesv2_dcd06b30a5c24f6eb871e8f5edbd44f7:0-7=DinoDanc"},
		{"tag character at the end", "25:0-4", "Kappa \U000E0000", "25:0-4=Kappa"},
		{"range over the tag character", "25:6-6", "Kappa \U000E0000", "25:6-6=\U000E0000"},
		{"CJK before an emote", "25:3-7", "你好 Kappa", "25:3-7=Kappa"},
		{"end past the text is clamped", "25:0-10", "Kappa", "25:0-4=Kappa OUT-OF-RANGE"},
		{"end one past the text is clamped", "25:0-5", "Kappa", "25:0-4=Kappa OUT-OF-RANGE"},
		{"clamped after emoji", "25:2-40", "😂 Kappa", "25:2-6=Kappa OUT-OF-RANGE"},
		{"start past the text", "25:10-12", "Kappa", "OUT-OF-RANGE"},
		{"start at the end", "25:5-5", "Kappa", "OUT-OF-RANGE"},
		{"start past non-ASCII text", "25:10-12", "😂 Kappa", "OUT-OF-RANGE"},
		{"reversed", "25:4-0", "Kappa", "OUT-OF-RANGE"},
		{"no dash", "25:04", "Kappa", "MALFORMED"},
		{"non-numeric", "25:a-b", "Kappa", "MALFORMED"},
		{"negative", "25:-1-4", "Kappa", "MALFORMED"},
		{"too many digits", "25:0-99999999999", "Kappa", "MALFORMED"},
		{"no id", ":0-4", "Kappa", "MALFORMED"},
		{"no colon", "25", "Kappa", "MALFORMED"},
		{"no ranges", "25:", "Kappa", "MALFORMED"},
		{"trailing slash", "25:0-4/", "Kappa", "25:0-4=Kappa MALFORMED"},
		{"trailing comma", "25:0-4,", "Kappa", "25:0-4=Kappa MALFORMED"},
		{"bad then good", "25:x-4,0-4/1:0-0", "Kappa", "25:0-4=Kappa 1:0-0=K MALFORMED"},
		{"garbage after the end", "25:0-4x,0-4", "Kappa", "25:0-4=Kappa MALFORMED"},
		{"garbage after the start", "25:0x-4,0-4", "Kappa", "25:0-4=Kappa MALFORMED"},
		{"no end", "25:0-,0-4", "Kappa", "25:0-4=Kappa MALFORMED"},
		{"empty range between", "25:0-4,,6-10", "Kappa Keepo", "25:0-4=Kappa 25:6-10=Keepo MALFORMED"},
		{"nine digits", "25:000000000-000000004", "Kappa", "25:0-4=Kappa"},
		{"ten digits", "25:0000000000-4,0-4", "Kappa", "25:0-4=Kappa MALFORMED"},
		{"empty text", "25:0-4", "", "OUT-OF-RANGE"},
		{"invalid UTF-8 counts one per byte", "25:2-6", "\xff\xfeKappa", "25:2-6=Kappa"},
		{"backwards across groups", "1:6-10/2:0-4", "Kappa Keepo", "1:6-10=Keepo 2:0-4=Kappa"},
		{"backwards non-ASCII", "1:8-12/2:0-4", "Kappa 😂 Kappa", "1:8-12=Kappa 2:0-4=Kappa"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := emoteList(EmoteIter{rest: []byte(c.raw), text: []byte(c.text)}); got != c.want {
				t.Errorf("emotes %q in %q = %q, want %q", c.raw, c.text, got, c.want)
			}
			if !utf8.ValidString(c.text) {
				return
			}
			it := EmoteIter{rest: []byte(c.raw), text: []byte(c.text), valid: true}
			if got := emoteList(it); got != c.want {
				t.Errorf("emotes %q in %q, valid UTF-8 assumed, = %q, want %q", c.raw, c.text, got, c.want)
			}
		})
	}
}

func TestViewCases(t *testing.T) {
	for _, c := range []struct {
		name string
		line string
		got  func(v *View) string
		want string
	}{
		{"ACTION with text, positions after \\x01ACTION",
			"@emotes=25:0-4 :a!a@a PRIVMSG #c :\x01ACTION Kappa waves\x01",
			func(v *View) string { return sp(v.IsAction(), string(v.Text()), emoteList(v.Emotes())) },
			"true Kappa waves 25:0-4=Kappa"},
		{"ACTION without text", ":a!a@a PRIVMSG #c :\x01ACTION\x01",
			func(v *View) string { return fmt.Sprintf("%v %q", v.IsAction(), v.Text()) }, `true ""`},
		{"CJK display name", "@display-name=小明 :xm!xm@xm PRIVMSG #c :hi",
			func(v *View) string { return string(v.DisplayName()) + " " + login(v) }, "小明 xm"},
		{"empty display name", "@display-name= :xm!xm@xm PRIVMSG #c :hi",
			func(v *View) string { return fmt.Sprintf("%q %v", v.DisplayName(), v.Tags.Has(TagDisplayName)) }, `"" true`},
		{"vip=0", "@vip=0 :a!a@a PRIVMSG #c :hi", func(v *View) string { return sp(v.IsVIP()) }, "false"},
		{"vip=1", "@vip=1 :a!a@a PRIVMSG #c :hi", func(v *View) string { return sp(v.IsVIP()) }, "true"},
		{"vip without value", "@vip :a!a@a PRIVMSG #c :hi", func(v *View) string { return sp(v.IsVIP()) }, "true"},
		{"vip absent", "@mod=1 :a!a@a PRIVMSG #c :hi", func(v *View) string { return sp(v.IsVIP(), v.IsMod()) }, "false true"},
		{"bits", "@bits=100 :a!a@a PRIVMSG #c :cheer100", func(v *View) string { n, ok := v.Bits(); return sp(n, ok) }, "100 true"},
		{"bad bits", "@bits=1e3 :a!a@a PRIVMSG #c :x", func(v *View) string { n, ok := v.Bits(); return sp(n, ok, v.Tags.Has(TagBits)) }, "0 false true"},
		{"first and returning", "@first-msg=1;returning-chatter=1 :a!a@a PRIVMSG #c :x",
			func(v *View) string { return sp(v.IsFirstMessage(), v.IsReturningChatter()) }, "true true"},
		{"broadcaster by user-id", "@user-id=5;room-id=5;badges= :a!a@a PRIVMSG #c :x",
			func(v *View) string { return sp(v.IsBroadcaster()) }, "true"},
		{"not broadcaster", "@user-id=5;room-id=6;badges=moderator/1 :a!a@a PRIVMSG #c :x",
			func(v *View) string { return sp(v.IsBroadcaster()) }, "false"},
		{"reply with leading @mention",
			`@reply-parent-msg-id=p1;reply-parent-user-login=foo;reply-parent-msg-body=Kappa\shi;emotes=25:5-9 :a!a@a PRIVMSG #c :@foo Kappa`,
			func(v *View) string {
				return sp(v.IsReply(), string(v.Text()), unesc(v.Tags.Get(TagReplyParentMsgBody)), emoteList(v.Emotes()))
			}, "true @foo Kappa Kappa hi 25:5-9=Kappa"},
		{"shared chat origin", "@room-id=1;source-room-id=1;source-id=abc;source-badges=moderator/1 :a!a@a PRIVMSG #c :x",
			func(v *View) string {
				return sp(v.IsSharedChat(), v.IsSharedChatOrigin(), string(v.Tags.Get(TagSourceID)), badgeList(v.SourceBadges()))
			}, "true true abc moderator/1"},
		{"shared chat copy", "@room-id=2;source-room-id=1;source-id=abc;source-only=1 :a!a@a PRIVMSG #c :x",
			func(v *View) string { return sp(v.IsSharedChat(), v.IsSharedChatOrigin(), v.IsSourceOnly()) }, "true false true"},
		{"not shared", "@room-id=2 :a!a@a PRIVMSG #c :x",
			func(v *View) string { return sp(v.IsSharedChat(), v.IsSharedChatOrigin()) }, "false false"},
		{"PRIVMSG without source uses login tag", "@login=bob PRIVMSG #c :x",
			func(v *View) string { return login(v) }, "bob"},
		{"PRIVMSG from a server name uses login tag", "@login=bob :tmi.twitch.tv PRIVMSG #c :x",
			func(v *View) string { l, tag := v.Login(); return sp(string(l), tag) }, "bob true"},
		{"PRIVMSG from a server name without login tag", ":tmi.twitch.tv PRIVMSG #c :x",
			func(v *View) string { return fmt.Sprintf("%q", login(v)) }, `""`},
		{"WHISPER from a server name", ":tmi.twitch.tv WHISPER foo :x",
			func(v *View) string { return fmt.Sprintf("%q", login(v)) }, `""`},
		{"bare nick source", ":ronni PRIVMSG #c :x", func(v *View) string { return login(v) }, "ronni"},
		{"dotted nick before !", ":a.b!c@d PRIVMSG #c :x", func(v *View) string { return login(v) }, "a.b"},
		{"dotted nick before @", ":a.b@d PRIVMSG #c :x", func(v *View) string { return login(v) }, "a.b"},
		{"ACTION with a space and no text", ":a!a@a PRIVMSG #c :\x01ACTION \x01",
			func(v *View) string { return fmt.Sprintf("%v %q", v.IsAction(), v.Text()) }, `true ""`},
		{"channel without #", ":a!a@a PRIVMSG chan :x",
			func(v *View) string { c, h := v.Channel(); return sp(string(c), h) }, "chan false"},
		{"PRIVMSG without text", ":a!a@a PRIVMSG #c",
			func(v *View) string { c, _ := v.Channel(); return fmt.Sprintf("%s %q", c, v.Text()) }, `c ""`},
		{"PRIVMSG without params", ":a!a@a PRIVMSG",
			func(v *View) string { c, _ := v.Channel(); return fmt.Sprintf("%q %q", c, v.Text()) }, `"" ""`},
		{"usernotice", `@login=ronni;msg-id=resub;msg-param-cumulative-months=6;msg-param-sub-plan=Prime;system-msg=ronni\shas\ssubscribed;display-name=Ronni :tmi.twitch.tv USERNOTICE #dallas :Great stream`,
			func(v *View) string {
				return sp(login(v), string(v.Text()), unesc(v.Tags.Get(TagSystemMsg)), string(v.Tags.Get(TagMsgID)), uniqueList(v.MsgParams()))
			}, "ronni Great stream ronni has subscribed resub msg-param-cumulative-months=6;msg-param-sub-plan=Prime"},
		{"usernotice without text", `@login=ronni;msg-id=sub :tmi.twitch.tv USERNOTICE #dallas`,
			func(v *View) string { c, _ := v.Channel(); return fmt.Sprintf("%s %s %q", c, login(v), v.Text()) }, `dallas ronni ""`},
		{"clearchat ban", `@room-id=1;target-user-id=87654321;tmi-sent-ts=1642715756806 :tmi.twitch.tv CLEARCHAT #dallas :ronni`,
			func(v *View) string {
				d, ok := v.BanDuration()
				return sp(login(v), string(v.UserID()), d, ok)
			}, "ronni 87654321 0 false"},
		{"clearchat timeout", `@ban-duration=350;room-id=1;target-user-id=8 :tmi.twitch.tv CLEARCHAT #dallas :ronni`,
			func(v *View) string { d, ok := v.BanDuration(); return sp(d, ok) }, "350 true"},
		{"clearchat all", `@room-id=1 :tmi.twitch.tv CLEARCHAT #dallas`,
			func(v *View) string { c, _ := v.Channel(); return fmt.Sprintf("%s %q", c, login(v)) }, `dallas ""`},
		{"clearmsg", `@login=ronni;room-id=;target-msg-id=abc-123 :tmi.twitch.tv CLEARMSG #dallas :HeyGuys`,
			func(v *View) string {
				return sp(login(v), string(v.Tags.Get(TagTargetMsgID)), string(v.Text()))
			}, "ronni abc-123 HeyGuys"},
		{"roomstate", `@emote-only=0;followers-only=-1;r9k=0;room-id=1;slow=0;subs-only=0 :tmi.twitch.tv ROOMSTATE #dallas`,
			func(v *View) string {
				c, _ := v.Channel()
				return sp(string(c), string(v.Tags.Get(TagFollowersOnly)), string(v.Tags.Get(TagSlow)))
			}, "dallas -1 0"},
		{"userstate", `@badge-info=;badges=staff/1;color=#0D4200;display-name=ronni;emote-sets=0,33,50;mod=1;subscriber=1;turbo=1;user-type=staff :tmi.twitch.tv USERSTATE #dallas`,
			func(v *View) string {
				return sp(badgeList(v.Badges()), string(v.Tags.Get(TagEmoteSets)), v.IsMod(), v.IsTurbo())
			}, "staff/1 0,33,50 true true"},
		{"globaluserstate", `@badge-info=;badges=;color=;display-name=ronni;emote-sets=0;user-id=123;user-type= :tmi.twitch.tv GLOBALUSERSTATE`,
			func(v *View) string { c, _ := v.Channel(); return fmt.Sprintf("%q %s", c, v.UserID()) }, `"" 123`},
		{"notice", `@msg-id=msg_channel_suspended :tmi.twitch.tv NOTICE #dallas :This channel does not exist or has been suspended.`,
			func(v *View) string { c, _ := v.Channel(); return sp(string(c), string(v.Tags.Get(TagMsgID))) }, "dallas msg_channel_suspended"},
		{"notice to *", `:tmi.twitch.tv NOTICE * :Login authentication failed`,
			func(v *View) string { c, _ := v.Channel(); return fmt.Sprintf("%q %s", c, v.Text()) }, `"" Login authentication failed`},
		{"reconnect", `:tmi.twitch.tv RECONNECT`, func(v *View) string { return v.Kind.String() }, "RECONNECT"},
		{"whisper", `@badges=;color=;display-name=PetsgomOO;emotes=;message-id=306;thread-id=12345678_87654321;turbo=0;user-id=87654321;user-type= :petsgomoo!petsgomoo@petsgomoo.tmi.twitch.tv WHISPER foo :hello`,
			func(v *View) string {
				c, _ := v.Channel()
				return fmt.Sprintf("%q %s %s %s %s", c, login(v), v.ID(), v.Text(), v.Tags.Get(TagThreadID))
			}, `"" petsgomoo 306 hello 12345678_87654321`},
		{"other kind has no text", `:tmi.twitch.tv FOO #c :x`,
			func(v *View) string {
				c, _ := v.Channel()
				return fmt.Sprintf("%v %q %q %q", v.Kind, c, v.Text(), login(v))
			}, `other "" "" ""`},
		{"protocol kind has no text", `:tmi.twitch.tv PING :x`,
			func(v *View) string {
				c, _ := v.Channel()
				return fmt.Sprintf("%v %q %q %q", v.Kind, c, v.Text(), login(v))
			}, `PING "" "" ""`},
		{"join has its channel", `:a!a@a.tmi.twitch.tv JOIN #c`,
			func(v *View) string {
				c, _ := v.Channel()
				return fmt.Sprintf("%v %q %q", v.Kind, c, v.Text())
			}, `JOIN "c" ""`},
		{"control characters and invalid UTF-8 stay raw", "@display-name=a\x01\xff :a!a@a PRIVMSG #c :x\x02\xfe",
			func(v *View) string { return fmt.Sprintf("%q %q", v.DisplayName(), v.Text()) }, `"a\x01\xff" "x\x02\xfe"`},
		{"flags and numbers are read unescaped", `@mod=\1;vip=\0;bits=1\0;subscriber=1\;turbo=\s1 :a!a@a PRIVMSG #c :x`,
			func(v *View) string {
				n, ok := v.Bits()
				return sp(v.IsMod(), v.IsVIP(), n, ok, v.IsSubscriber(), v.IsTurbo())
			}, "true false 10 true true false"},
		{"ids compared unescaped", `@user-id=1\2;room-id=12;source-room-id=\1\2 :a!a@a PRIVMSG #c :x`,
			func(v *View) string { return sp(v.IsBroadcaster(), v.IsSharedChatOrigin()) }, "true true"},
		{"empty user-id is not the broadcaster", `@user-id=\;room-id= :a!a@a PRIVMSG #c :x`,
			func(v *View) string { return sp(v.IsBroadcaster()) }, "false"},
		{"19 digits are not a number", `@tmi-sent-ts=1234567890123456789;bits= :a!a@a PRIVMSG #c :x`,
			func(v *View) string { _, ok1 := v.SentAt(); _, ok2 := v.Bits(); return sp(ok1, ok2) }, "false false"},
		{"duplicate known tag: last wins", "@color=#111;mod=1;color=#222 :a!a@a PRIVMSG #c :x",
			func(v *View) string { return sp(string(v.Color()), v.Tags.Duplicates(), uniqueList(v.UniqueTags())) }, "#222 true mod=1;color=#222"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := c.got(view(t, c.line)); got != c.want {
				t.Errorf("%q: got %q, want %q", c.line, got, c.want)
			}
		})
	}
}

func login(v *View) string { l, _ := v.Login(); return string(l) }

func uniqueList(it UniqueTagIter) string {
	var out []string
	for it.Next() {
		out = append(out, string(it.Key())+"="+string(it.Value()))
		if it.TagKey() != TagKey(tagindex.Lookup(it.Key())) {
			out = append(out, "WRONG-TAGKEY")
		}
	}
	return strings.Join(out, ";")
}

// itemList lists the tags that Item does not mark superseded.
func itemList(t *tagindex.Index) string {
	var out []string
	for i := range t.Len() {
		key, val, k, superseded := t.Item(i)
		if k != tagindex.Lookup(key) {
			out = append(out, "WRONG-TAGKEY")
		}
		if !superseded {
			out = append(out, string(key)+"="+string(val))
		}
	}
	return strings.Join(out, ";")
}

// naiveUnique is the definition UniqueTagIter must meet.
func naiveUnique(m *ircv3.Message) string {
	type kv struct{ k, v string }
	var all []kv
	it := m.TagIter()
	for it.Next() {
		all = append(all, kv{string(it.Key()), string(it.Value())})
	}
	// The last position of each key, then every tag at its key's last
	// position: simple enough to trust, and linear, so that long fuzz
	// inputs stay fast.
	lastAt := map[string]int{}
	for i, a := range all {
		lastAt[a.k] = i
	}
	var out []string
	for i, a := range all {
		if lastAt[a.k] == i {
			out = append(out, a.k+"="+a.v)
		}
	}
	return strings.Join(out, ";")
}

func naiveHasDup(m *ircv3.Message) bool {
	seen := map[string]bool{}
	it := m.TagIter()
	for it.Next() {
		if seen[string(it.Key())] {
			return true
		}
		seen[string(it.Key())] = true
	}
	return false
}

func TestUniqueTags(t *testing.T) {
	many := func(n int, prefix string) string {
		var b strings.Builder
		for i := range n {
			fmt.Fprintf(&b, "%s%d=%d;", prefix, i%(n/2+1), i)
		}
		return b.String()
	}
	for _, tags := range []string{
		"a=1",
		"a=1;b=2;a=3",
		"x-new=1;color=#1;x-new=2;x-new=3;color=#2",
		"id=1;;id=2;flags",
		"msg-param-a=1;msg-param-b=2;msg-param-a=3",
		many(70, "color") + "color=z",
		many(70, "k"),
		many(60, "u") + "u1=end",
		many(30, "k"),
		"=1;=2",
		many(30, "k") + "k0=again",
		many(30, "k")[:strings.LastIndex(many(30, "k"), "k15=")],
		func() string { // 70 distinct unknown keys, no duplicate
			var b strings.Builder
			for i := range 70 {
				fmt.Fprintf(&b, "u%d=%d;", i, i)
			}
			return b.String()
		}(),
	} {
		line := "@" + tags + " :a!a@a PRIVMSG #c :x"
		v := view(t, line)
		if got, want := uniqueList(v.UniqueTags()), naiveUnique(msgOf(t, line)); got != want {
			t.Errorf("UniqueTags(%q)\n got %q\nwant %q", tags, got, want)
		}
		if x := (*tagindex.Index)(&v.Tags); x.Indexed() {
			if got, want := itemList(x), naiveUnique(msgOf(t, line)); got != want {
				t.Errorf("Item(%q)\n got %q\nwant %q", tags, got, want)
			}
		}
		if got, want := v.Tags.Duplicates(), naiveHasDup(msgOf(t, line)); got != want {
			t.Errorf("Duplicates(%q) = %v, want %v", tags, got, want)
		}
	}
	var zero UniqueTagIter
	if zero.Next() {
		t.Error("zero UniqueTagIter yields a tag")
	}
}

// TestTagKeys: the public keys carry Twitch's names, and every name looks
// up to its key.
func TestTagKeys(t *testing.T) {
	for _, c := range []struct {
		k    TagKey
		name string
	}{
		{TagAnimationID, "animation-id"}, {TagDisplayName, "display-name"}, {TagID, "id"},
		{TagPinnedChatPaidIsSystemMessage, "pinned-chat-paid-is-system-message"}, {TagVIP, "vip"}, {TagUnknown, ""},
	} {
		if got := c.k.String(); got != c.name {
			t.Errorf("TagKey(%d).String() = %q, want %q", c.k, got, c.name)
		}
	}
	for k := range TagUnknown {
		if got := TagKey(tagindex.Lookup([]byte(k.String()))); got != k || k.String() == "" {
			t.Errorf("the name %q of TagKey(%d) looks up to %d", k.String(), k, got)
		}
	}
}

// TestTextValidUTF8: the answer is found once per line and reset with the
// view, and the emote positions agree with or without it.
func TestTextValidUTF8(t *testing.T) {
	var v View
	for _, c := range []struct {
		line   string
		valid  bool
		emotes string
	}{
		{"@emotes=25:2-6 :a!a@a PRIVMSG #c :😂 Kappa", true, "25:2-6=Kappa"},
		{"@emotes=25:2-6 :a!a@a PRIVMSG #c :\xff\xfeKappa", false, "25:2-6=Kappa"},
		{"@emotes=25:0-4 :a!a@a PRIVMSG #c :Kappa", true, "25:0-4=Kappa"},
		{"@emotes=25:2-6 :a!a@a PRIVMSG #c :é\xffKappa", false, "25:2-6=Kappa"},
		{":a!a@a PRIVMSG #c", true, ""},
	} {
		v.Reset(msgOf(t, c.line))
		before := emoteList(v.Emotes())
		if got := v.TextValidUTF8(); got != c.valid {
			t.Errorf("%q: TextValidUTF8() = %v, want %v", c.line, got, c.valid)
		}
		if got := v.TextValidUTF8(); got != c.valid {
			t.Errorf("%q: second TextValidUTF8() = %v, want %v", c.line, got, c.valid)
		}
		if after := emoteList(v.Emotes()); before != c.emotes || after != c.emotes {
			t.Errorf("%q: emotes %q before TextValidUTF8 and %q after, want %q", c.line, before, after, c.emotes)
		}
	}
}
