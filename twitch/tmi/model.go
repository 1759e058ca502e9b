// Package tmi is the Twitch message model: typed, allocation-free views
// over an ircv3.Message (a [View] with its [Tags] index, badge and emote
// iterators), following Twitch's IRC tag reference
// (https://dev.twitch.tv/docs/chat/irc/#twitch-irc-tags and
// https://dev.twitch.tv/docs/chat/irc-migration/ for shared chat). The name
// is Twitch's own for its chat service (tmi.twitch.tv).
//
// It builds on ircv3 and on internal/tagindex, the one-pass tag index
// that it shares with the envelope encoder: the encoder builds on it
// without depending on the connection manager in package twitch.
package tmi

import (
	"bytes"
	"unicode/utf8"

	"github.com/ingress-egress/ingress-egress/internal/tagindex"
	"github.com/ingress-egress/ingress-egress/ircv3"
)

// Kind is the kind of a Twitch line, given by its command.
type Kind uint8

// The kinds the model knows: Twitch's messages, then the protocol's
// commands that a connection follows (KindNumeric is any three-digit
// reply). KindOther is every other command. NumKinds is their number, for
// tables indexed by Kind.
const (
	KindOther Kind = iota
	KindPrivmsg
	KindUsernotice
	KindClearchat
	KindClearmsg
	KindRoomstate
	KindUserstate
	KindGlobalUserstate
	KindNotice
	KindReconnect
	KindWhisper
	KindHosttarget
	KindJoin
	KindPart
	KindPing
	KindPong
	KindCap
	KindError
	KindNumeric
	NumKinds
)

var kindNames = [...]string{
	KindOther:           "other",
	KindPrivmsg:         "PRIVMSG",
	KindUsernotice:      "USERNOTICE",
	KindClearchat:       "CLEARCHAT",
	KindClearmsg:        "CLEARMSG",
	KindRoomstate:       "ROOMSTATE",
	KindUserstate:       "USERSTATE",
	KindGlobalUserstate: "GLOBALUSERSTATE",
	KindNotice:          "NOTICE",
	KindReconnect:       "RECONNECT",
	KindWhisper:         "WHISPER",
	KindHosttarget:      "HOSTTARGET",
	KindJoin:            "JOIN",
	KindPart:            "PART",
	KindPing:            "PING",
	KindPong:            "PONG",
	KindCap:             "CAP",
	KindError:           "ERROR",
	KindNumeric:         "numeric",
}

// String returns the command of k, "numeric" or "other".
func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "other"
}

// KindOf returns the kind of a line with the given command. Commands are
// matched exactly: Twitch sends them in upper case.
func KindOf(command []byte) Kind {
	switch string(command) {
	case "PRIVMSG":
		return KindPrivmsg
	case "USERNOTICE":
		return KindUsernotice
	case "CLEARCHAT":
		return KindClearchat
	case "CLEARMSG":
		return KindClearmsg
	case "ROOMSTATE":
		return KindRoomstate
	case "USERSTATE":
		return KindUserstate
	case "GLOBALUSERSTATE":
		return KindGlobalUserstate
	case "NOTICE":
		return KindNotice
	case "RECONNECT":
		return KindReconnect
	case "WHISPER":
		return KindWhisper
	case "HOSTTARGET":
		return KindHosttarget
	case "JOIN":
		return KindJoin
	case "PART":
		return KindPart
	case "PING":
		return KindPing
	case "PONG":
		return KindPong
	case "CAP":
		return KindCap
	case "ERROR":
		return KindError
	}
	if len(command) == 3 && isDigit(command[0]) && isDigit(command[1]) && isDigit(command[2]) {
		return KindNumeric
	}
	return KindOther
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// View is a typed view of one Twitch line. Reset fills it from a parsed
// ircv3.Message in one pass over the tags; every accessor then returns a
// view into the line the message was parsed from (valid while that line
// is), or a number, without allocating. Tag values are raw, still escaped:
// write them with ircv3.AppendUnescaped.
//
// A View is large (it holds the value of every tag Twitch defines) and is
// meant to be kept and reused, one per goroutine. It is not safe for
// concurrent use.
//
// A View keeps the parts of the message it reads (views into the line),
// not the message: Reset does not make m escape, and reads only the first
// two of its parameters.
type View struct {
	// Kind is the kind of the message.
	Kind Kind
	// Tags holds the raw value of every known tag, found in one pass.
	Tags Tags

	source  []byte
	p0, p1  []byte // the first two parameters
	nparams int

	text      []byte
	action    bool
	textValid int8 // TextValidUTF8's answer: 0 not known yet, textUTF8 or textInvalid
}

// Reset makes v a view of m. The line m was parsed from must stay
// unchanged while v is used; m itself may change.
func (v *View) Reset(m *ircv3.Message) {
	v.Kind = KindOf(m.Command)
	v.Tags.index().Reset(m.Tags)
	v.source, v.p0, v.p1, v.nparams = m.Source, m.Param(0), m.Param(1), m.NumParams()
	v.text, v.action, v.textValid = nil, false, 0
	switch v.Kind {
	case KindPrivmsg, KindUsernotice, KindClearmsg, KindWhisper, KindNotice:
		if v.nparams >= 2 {
			v.text, v.action = splitAction(v.p1)
		}
	}
}

// RawTags returns the raw tag section of the message (ircv3.Message.Tags).
func (v *View) RawTags() []byte { return v.Tags.index().Sect() }

// Param returns parameter i (0 or 1: a View keeps only the first two), or
// nil.
func (v *View) Param(i int) []byte {
	switch {
	case i >= v.nparams:
		return nil
	case i == 0:
		return v.p0
	case i == 1:
		return v.p1
	}
	return nil
}

// splitAction detects a CTCP ACTION (what a client sends for "/me"): a
// text of the form "\x01ACTION <text>\x01". It returns the text without
// the framing and true, or p unchanged and false. The closing \x01 may be
// missing, and the text may be empty ("\x01ACTION\x01").
func splitAction(p []byte) (text []byte, action bool) {
	const prefix = "\x01ACTION"
	if len(p) < len(prefix) || string(p[:len(prefix)]) != prefix {
		return p, false
	}
	rest := p[len(prefix):]
	switch {
	case len(rest) == 0:
	case rest[0] == ' ':
		rest = rest[1:]
	case rest[0] == '\x01':
	default:
		return p, false // "\x01ACTIONS..." is another CTCP command
	}
	if n := len(rest); n > 0 && rest[n-1] == '\x01' {
		rest = rest[:n-1]
	}
	return rest, true
}

// channelFromParam returns a channel parameter without its '#', and
// whether it had one.
func channelFromParam(p []byte) (channel []byte, hash bool) {
	if len(p) > 0 && p[0] == '#' {
		return p[1:], true
	}
	return p, false
}

// Channel returns the channel login the line belongs to (the first
// parameter without its '#'), and whether the parameter had the '#'. It is
// empty for WHISPER, RECONNECT, GLOBALUSERSTATE, a NOTICE to '*' and the
// protocol's commands but JOIN, PART and HOSTTARGET.
func (v *View) Channel() (channel []byte, hash bool) {
	switch v.Kind {
	case KindWhisper, KindReconnect, KindGlobalUserstate, KindOther,
		KindPing, KindPong, KindCap, KindError, KindNumeric:
		return nil, false
	}
	p := v.p0
	if string(p) == "*" {
		return nil, false
	}
	return channelFromParam(p)
}

// Text returns the user's text: the trailing parameter of PRIVMSG,
// USERNOTICE (empty when the user wrote nothing), CLEARMSG (the deleted
// message), WHISPER and NOTICE, with the ACTION framing removed. Emote
// positions count from its start.
func (v *View) Text() []byte { return v.text }

// IsAction reports whether the text was sent with "/me".
func (v *View) IsAction() bool { return v.action }

// TextValidUTF8 reports whether Text is valid UTF-8 (Twitch texts are,
// but the model never assumes it). The answer is found once per line:
// the emote iterator then needs no UTF-8 check of its own.
func (v *View) TextValidUTF8() bool {
	if v.textValid == 0 {
		v.textValid = textInvalid
		if utf8.Valid(v.text) {
			v.textValid = textUTF8
		}
	}
	return v.textValid == textUTF8
}

// Login returns the sender's login: the source nick for PRIVMSG and
// WHISPER (the login tag when the line has no source or its source is a
// server, see sourceNick), the login tag for USERNOTICE and CLEARMSG, the
// target login (the second parameter) for CLEARCHAT, and empty otherwise.
// tag reports whether it is a raw tag value, to be unescaped.
func (v *View) Login() (login []byte, tag bool) {
	switch v.Kind {
	case KindPrivmsg, KindWhisper:
		if nick := sourceNick(v.source); len(nick) > 0 {
			return nick, false
		}
		return v.Tags.Get(TagLogin), true
	case KindUsernotice, KindClearmsg:
		return v.Tags.Get(TagLogin), true
	case KindClearchat:
		return v.Param(1), false
	}
	return nil, false
}

// sourceNick returns the nick of a message source, or nil when the source
// names a server. RFC 2812 §2.3.1: "prefix = servername / ( nickname [ [
// "!" user ] "@" host ] )", and a nickname holds no '.': a source with
// neither '!' nor '@' that holds a '.' (":tmi.twitch.tv PRIVMSG ...") is
// a server, not a user called tmi.twitch.tv.
func sourceNick(src []byte) []byte {
	nick, user, host := ircv3.SplitSource(src)
	if user == nil && host == nil && bytes.IndexByte(nick, '.') >= 0 {
		return nil
	}
	return nick
}

// DisplayName returns the raw display-name tag (it may be empty, or in any
// script).
func (v *View) DisplayName() []byte { return v.Tags.Get(TagDisplayName) }

// UserID returns the raw user-id tag (target-user-id for CLEARCHAT).
func (v *View) UserID() []byte {
	if v.Kind == KindClearchat {
		return v.Tags.Get(TagTargetUserID)
	}
	return v.Tags.Get(TagUserID)
}

// RoomID returns the raw room-id tag: the channel's user id.
func (v *View) RoomID() []byte { return v.Tags.Get(TagRoomID) }

// ID returns the raw id tag: the message id (message-id for WHISPER).
func (v *View) ID() []byte {
	if v.Kind == KindWhisper {
		return v.Tags.Get(TagMessageID)
	}
	return v.Tags.Get(TagID)
}

// Color returns the raw color tag ("#RRGGBB", or empty when the user never
// chose one).
func (v *View) Color() []byte { return v.Tags.Get(TagColor) }

// SentAt returns tmi-sent-ts, the server's time in Unix milliseconds, and
// whether the tag is present and a plain decimal number.
//
// Like every accessor that interprets a tag (numbers, flags, equality), it
// works on the unescaped value.
func (v *View) SentAt() (ms int64, ok bool) { return tagindex.ParseDecimal(v.Tags.Get(TagTmiSentTS)) }

// Bits returns the number of bits cheered, and whether the bits tag is
// present and a plain decimal number.
func (v *View) Bits() (n int64, ok bool) { return tagindex.ParseDecimal(v.Tags.Get(TagBits)) }

// BanDuration returns a CLEARCHAT timeout in seconds, and whether the
// ban-duration tag is present and a plain decimal number (a permanent ban
// has none).
func (v *View) BanDuration() (seconds int64, ok bool) {
	return tagindex.ParseDecimal(v.Tags.Get(TagBanDuration))
}

// IsMod reports mod=1.
func (v *View) IsMod() bool { return tagindex.Is(v.Tags.Get(TagMod), "1") }

// IsSubscriber reports subscriber=1.
func (v *View) IsSubscriber() bool { return tagindex.Is(v.Tags.Get(TagSubscriber), "1") }

// IsTurbo reports turbo=1.
func (v *View) IsTurbo() bool { return tagindex.Is(v.Tags.Get(TagTurbo), "1") }

// IsVIP reports whether the vip tag is present and not "0". Twitch sends it
// only for VIPs, so its mere presence means VIP.
func (v *View) IsVIP() bool {
	vip := v.Tags.Get(TagVIP)
	return vip != nil && !tagindex.Is(vip, "0")
}

// IsBroadcaster reports whether the sender is the channel's broadcaster:
// the badges include broadcaster, or user-id equals room-id.
func (v *View) IsBroadcaster() bool {
	if v.Tags.index().RoomOwner() {
		return true
	}
	it := v.Badges()
	for it.Next() {
		if tagindex.BroadcasterBadge(it.Name()) {
			return true
		}
	}
	return false
}

// IsFirstMessage reports first-msg=1: the user's first message in the
// channel.
func (v *View) IsFirstMessage() bool { return tagindex.Is(v.Tags.Get(TagFirstMsg), "1") }

// IsReturningChatter reports returning-chatter=1.
func (v *View) IsReturningChatter() bool { return tagindex.Is(v.Tags.Get(TagReturningChatter), "1") }

// IsReply reports whether the message replies to another: it has a
// reply-parent-msg-id tag. The parent's fields are the reply-parent-* and
// reply-thread-parent-* tags (TagReplyParentMsgID, ...).
func (v *View) IsReply() bool { return v.Tags.Get(TagReplyParentMsgID) != nil }

// IsSharedChat reports whether the message belongs to a shared chat
// session: it has a source-room-id tag.
func (v *View) IsSharedChat() bool { return v.Tags.Get(TagSourceRoomID) != nil }

// IsSharedChatOrigin reports whether a shared chat message was sent in this
// channel (source-room-id equals room-id), rather than copied from another
// channel of the session.
func (v *View) IsSharedChatOrigin() bool {
	src := v.Tags.Get(TagSourceRoomID)
	return src != nil && v.Tags.index().ValuesEqual(src, v.Tags.Get(TagRoomID))
}

// IsSourceOnly reports source-only=1: a shared chat message shown only in
// its source channel.
func (v *View) IsSourceOnly() bool { return tagindex.Is(v.Tags.Get(TagSourceOnly), "1") }

// Badges iterates over the badges tag.
func (v *View) Badges() BadgeIter { return BadgeIter{rest: v.Tags.Get(TagBadges)} }

// BadgeInfo iterates over the badge-info tag (subscriber/24: the months).
func (v *View) BadgeInfo() BadgeIter { return BadgeIter{rest: v.Tags.Get(TagBadgeInfo)} }

// SourceBadges iterates over the source-badges tag of a shared chat
// message.
func (v *View) SourceBadges() BadgeIter { return BadgeIter{rest: v.Tags.Get(TagSourceBadges)} }

// Emotes iterates over the emotes tag, with positions in Text. After
// TextValidUTF8, it counts code points without checking the UTF-8 again.
func (v *View) Emotes() EmoteIter {
	return EmoteIter{rest: v.Tags.Get(TagEmotes), text: v.text, valid: v.textValid == textUTF8}
}

// UniqueTags iterates over all tags in line order, each key once: a tag
// whose key appears again later is skipped, so the last duplicate wins.
func (v *View) UniqueTags() UniqueTagIter {
	return UniqueTagIter(v.Tags.index().Unique(""))
}

// MsgParams iterates over the msg-param-* tags of a USERNOTICE, each key
// once (the last duplicate wins); Key returns the whole key.
func (v *View) MsgParams() UniqueTagIter {
	return UniqueTagIter(v.Tags.index().Unique("msg-param-"))
}
