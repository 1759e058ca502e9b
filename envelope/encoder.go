package envelope

import (
	"bytes"
	crand "crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ingress-egress/ingress-egress/internal/tagindex"
	"github.com/ingress-egress/ingress-egress/ircv3"
	"github.com/ingress-egress/ingress-egress/twitch/tmi"
)

// Defaults of Options.
const (
	DefaultTypePrefix              = "external.chat."
	DefaultFinalizationDestination = "internal.finalizer.v1"
)

// The type suffixes, after Options.TypePrefix.
const (
	TypeMessage    = "message.v1"    // PRIVMSG
	TypeUsernotice = "usernotice.v1" // USERNOTICE
	TypeModeration = "moderation.v1" // CLEARCHAT, CLEARMSG
)

// Errors returned by Append for a line that yields no envelope. The caller
// counts them; none is a failure of the encoder.
var (
	// ErrNotEnabled: the line's command is not an enabled kind (PING, JOIN,
	// ROOMSTATE, or a kind switched off in Options.Kinds).
	ErrNotEnabled = errors.New("envelope: kind not enabled")
	// ErrNoChannel: the line names no channel.
	ErrNoChannel = errors.New("envelope: no channel")
	// ErrNoText: a PRIVMSG without text. A "/me" with nothing after it
	// is not one: it gets an envelope with isAction and an empty text.
	ErrNoText = errors.New("envelope: no text")
)

// Kinds is a set of line kinds that yield envelopes.
type Kinds uint8

// The kinds an Encoder can turn into envelopes.
const (
	Privmsg    Kinds = 1 << iota // external.chat.message.v1
	Usernotice                   // external.chat.usernotice.v1
	Clearchat                    // external.chat.moderation.v1
	Clearmsg                     // external.chat.moderation.v1
)

var kindNames = []struct {
	name string
	k    Kinds
}{{"privmsg", Privmsg}, {"usernotice", Usernotice}, {"clearchat", Clearchat}, {"clearmsg", Clearmsg}}

// ParseKinds parses a comma-separated list of kind names (privmsg,
// usernotice, clearchat, clearmsg; case and spaces ignored), as in
// INGEST_KINDS. An empty list is Privmsg.
func ParseKinds(s string) (Kinds, error) {
	var k Kinds
	for name := range strings.SplitSeq(s, ",") {
		name = strings.ToLower(strings.TrimSpace(name))
		if name == "" {
			continue
		}
		found := false
		for _, kn := range kindNames {
			if kn.name == name {
				k |= kn.k
				found = true
			}
		}
		if !found {
			return 0, fmt.Errorf("envelope: unknown kind %q (want privmsg, usernotice, clearchat, clearmsg)", name)
		}
	}
	if k == 0 {
		k = Privmsg
	}
	return k, nil
}

// String returns the comma-separated names of the kinds in k.
func (k Kinds) String() string {
	var names []string
	for _, kn := range kindNames {
		if k&kn.k != 0 {
			names = append(names, kn.name)
		}
	}
	return strings.Join(names, ",")
}

// Options configure an Encoder. The zero value is usable: every field has
// a documented default.
type Options struct {
	// TypePrefix comes before the kind's type suffix (TypeMessage, ...).
	// Default DefaultTypePrefix, giving "external.chat.message.v1".
	TypePrefix string
	// FinalizationDestination is written as finalizationDestination.
	// Default DefaultFinalizationDestination.
	FinalizationDestination string
	// Kinds are the kinds that yield envelopes. Zero means Privmsg only.
	Kinds Kinds
}

// Anomaly names, in the order they are written to payload.raw.anomalies.
const (
	anomInvalidUTF8 = 1 << iota
	anomChannelWithoutHash
	anomNoMessageID
	anomNoLogin
	anomBadgesMalformed
	anomEmotesMalformed
	anomEmotesOutOfRange
	anomBadBits
	anomBadSentTS
	anomBadBanDuration
	anomDuplicateTags
	anomInvalidTagKey
)

var anomalyNames = [...]string{
	"invalid-utf8", "channel-without-hash", "no-message-id", "no-login", "badges-malformed",
	"emotes-malformed", "emotes-out-of-range", "bad-bits", "bad-tmi-sent-ts", "bad-ban-duration",
	"duplicate-tags", "invalid-tag-key",
}

// jsonKeys[k] is `,"<tag name>":"`, for writing raw.tags: the comma
// before it, the key and the opening quote of a plain value in one copy.
// It is held in a fixed-size block, so that the fast path in appendRaw
// writes it with one 48-byte copy whatever its length; key gives it as a
// slice.
var jsonKeys = func() (keys [tagindex.Unknown]jsonKey) {
	for k := range keys {
		key := append(appendString([]byte(","), []byte(tagindex.Key(k).String()), new(bool)), ':', '"')
		if keys[k].n = copy(keys[k].b[:], key); keys[k].n != len(key) {
			panic("envelope: a tag name too long for jsonKeys")
		}
	}
	return keys
}()

type jsonKey struct {
	b [48]byte
	n int
}

func (k *jsonKey) key() []byte { return k.b[:k.n] }

// Encoder writes envelopes. It holds a random generator, a tmi.View and
// scratch space, so that steady-state encoding allocates nothing: keep one
// per goroutine. It is not safe for concurrent use.
type Encoder struct {
	kinds       Kinds
	typeMessage []byte // JSON string, quoted
	typeNotice  []byte
	typeMod     []byte
	finalDest   []byte // JSON string, quoted

	rng     rand.ChaCha8
	view    tmi.View
	scratch []byte
	login   []byte // an unescaped login tag

	received  secondCache
	sent      secondCache
	id, trace UUID
	anom      uint16
	bad       bool // a string had invalid UTF-8, written as U+FFFD
}

// NewEncoder returns an Encoder with opts (nil for the defaults), its
// random generator seeded from crypto/rand.
func NewEncoder(opts *Options) *Encoder {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.TypePrefix == "" {
		o.TypePrefix = DefaultTypePrefix
	}
	if o.FinalizationDestination == "" {
		o.FinalizationDestination = DefaultFinalizationDestination
	}
	if o.Kinds == 0 {
		o.Kinds = Privmsg
	}
	e := &Encoder{
		kinds:       o.Kinds,
		typeMessage: appendString(nil, []byte(o.TypePrefix+TypeMessage), new(bool)),
		typeNotice:  appendString(nil, []byte(o.TypePrefix+TypeUsernotice), new(bool)),
		typeMod:     appendString(nil, []byte(o.TypePrefix+TypeModeration), new(bool)),
		finalDest:   appendString(nil, []byte(o.FinalizationDestination), new(bool)),
		scratch:     make([]byte, 0, 1024),
	}
	var seed [32]byte
	crand.Read(seed[:]) // never fails (Go 1.24+)
	e.rng.Seed(seed)
	return e
}

// Seed makes the encoder's random ids (traceId, and id for a line without
// an id tag) a fixed sequence determined by seed, for reproducible output.
func (e *Encoder) Seed(seed uint64) {
	var s [32]byte
	binary.LittleEndian.PutUint64(s[:], seed)
	copy(s[8:], "ingress-egress envelope")
	e.rng.Seed(s)
}

// ID returns the id of the last envelope Append wrote.
func (e *Encoder) ID() UUID { return e.id }

// TwitchID returns the raw id tag of the line of the last envelope Append
// wrote (a view into that line, valid while it is), or nil when it had
// none: the deduplication key a publisher sends along, found without a
// second search of the tags.
func (e *Encoder) TwitchID() []byte { return e.view.ID() }

// TraceID returns the traceId of the last envelope Append wrote: 16
// random bytes (a version 4 UUID), also usable as the trace-id of a W3C
// traceparent header.
func (e *Encoder) TraceID() UUID { return e.trace }

func (e *Encoder) randomUUID() UUID { return randomUUID(e.rng.Uint64(), e.rng.Uint64()) }

// tags returns the view's tags as the index they are (tmi.Tags is a
// tagindex.Index), for what only a writer asks of them: whether a value
// has anything to escape (Plain), and where each tag lies (ItemSpan).
func (e *Encoder) tags() *tagindex.Index { return (*tagindex.Index)(&e.view.Tags) }

// AppendLine parses line and appends its envelope, as Append does.
// Unparsable lines give the ircv3 parse error.
func (e *Encoder) AppendLine(dst, line []byte, received time.Time) ([]byte, error) {
	var m ircv3.Message
	if err := m.Parse(line); err != nil {
		return dst, err
	}
	return e.Append(dst, line, &m, received)
}

// Append appends the JSON envelope of one line to dst and returns the
// extended buffer (the strconv Append contract). m must be the line parsed
// (ircv3.Parse); line may be nil, but then an envelope with anomalies
// carries no copy of the line. received is the receive time, written as
// timestamp in UTC with millisecond precision.
//
// A line that yields no envelope leaves dst unchanged and gives
// ErrNotEnabled, ErrNoChannel or ErrNoText. With room in dst, Append does
// not allocate.
func (e *Encoder) Append(dst, line []byte, m *ircv3.Message, received time.Time) ([]byte, error) {
	kind := tmi.KindOf(m.Command)
	switch {
	case kind == tmi.KindPrivmsg && e.kinds&Privmsg != 0,
		kind == tmi.KindUsernotice && e.kinds&Usernotice != 0,
		kind == tmi.KindClearchat && e.kinds&Clearchat != 0,
		kind == tmi.KindClearmsg && e.kinds&Clearmsg != 0:
	default:
		return dst, ErrNotEnabled
	}
	v, t := &e.view, e.tags()
	v.Reset(m)
	channel, hash := v.Channel()
	if len(channel) == 0 {
		return dst, ErrNoChannel
	}
	if kind == tmi.KindPrivmsg && len(v.Text()) == 0 && !v.IsAction() {
		return dst, ErrNoText
	}

	e.anom, e.bad = 0, false
	if !hash {
		e.anom |= anomChannelWithoutHash
	}
	e.setIDs(kind)

	dst = append(dst, `{"v":"1","id":"`...)
	idStart := len(dst)
	dst = AppendUUID(dst, e.id)
	dst = append(dst, `","correlationId":"`...)
	dst = append(dst, dst[idStart:idStart+36]...)
	dst = append(dst, `","traceId":"`...)
	dst = AppendUUID(dst, e.trace)
	dst = append(dst, `","timestamp":"`...)
	ms := received.UnixMilli()
	ms = min(max(ms, minMillis), maxMillis)
	dst = e.received.appendMillis(dst, ms)
	dst = append(dst, `","type":`...)
	switch kind {
	case tmi.KindPrivmsg:
		dst = append(dst, e.typeMessage...)
	case tmi.KindUsernotice:
		dst = append(dst, e.typeNotice...)
	default:
		dst = append(dst, e.typeMod...)
	}
	dst = append(dst, `,"source":{"platform":"twitch","channel":`...)
	dst = e.str(dst, channel)
	dst = append(dst, `,"channelId":`...)
	dst = e.appendTag(dst, v.RoomID())

	var login []byte
	dst, login = e.appendUser(dst)
	dst = append(dst, `,"routingSlip":[],"finalizationDestination":`...)
	dst = append(dst, e.finalDest...)
	dst = append(dst, `,"payload":{`...)

	broadcaster := false // isBroadcaster, for PRIVMSG and USERNOTICE only
	switch kind {
	case tmi.KindPrivmsg, tmi.KindUsernotice:
		if len(login) == 0 {
			e.anom |= anomNoLogin
		}
		var badge bool
		dst, badge = e.appendChat(dst, v)
		// appendChat walked the badges: IsBroadcaster without a second walk.
		broadcaster = badge || t.RoomOwner()
	default:
		dst = e.appendModeration(dst, v, login)
	}

	sentAt, sentOK := v.SentAt()
	if v.Tags.Has(tmi.TagTmiSentTS) && (!sentOK || sentAt > maxMillis) {
		e.anom |= anomBadSentTS
		sentOK = false
	}
	bits, bitsOK := v.Bits()
	if v.Tags.Has(tmi.TagBits) && !bitsOK {
		e.anom |= anomBadBits
	}

	dst = e.appendRaw(dst, line) // after every anomaly is known
	if v.IsAction() {
		dst = append(dst, `,"isAction":true`...)
	}
	if bitsOK {
		dst = append(dst, `,"bits":`...)
		dst = appendInt(dst, bits)
	}
	if sentOK {
		dst = append(dst, `,"sentAt":"`...)
		dst = e.sent.appendMillis(dst, sentAt)
		dst = append(dst, '"')
	}
	dst = e.appendFlags(dst, broadcaster)
	return append(dst, "}}"...), nil
}

// setIDs sets the envelope's id (the name-based UUID of the message id, or
// a random one, an anomaly for a chat message), its trace id, and the
// anomaly of duplicate tags.
func (e *Encoder) setIDs(kind tmi.Kind) {
	v, t := &e.view, e.tags()
	if v.Tags.Duplicates() {
		e.anom |= anomDuplicateTags
	}
	if id := v.ID(); len(id) > 0 && t.Plain(id) {
		e.id = MessageID(id) // nothing to unescape
	} else if e.scratch = ircv3.AppendUnescaped(e.scratch[:0], id); len(e.scratch) > 0 {
		e.id = MessageID(e.scratch)
	} else {
		e.id = e.randomUUID()
		if kind == tmi.KindPrivmsg || kind == tmi.KindUsernotice {
			e.anom |= anomNoMessageID
		}
	}
	e.trace = e.randomUUID()
}

// appendUser appends the user object and returns the sender's login,
// unescaped.
func (e *Encoder) appendUser(dst []byte) ([]byte, []byte) {
	v, t := &e.view, e.tags()
	login, fromTag := v.Login()
	if fromTag && bytes.IndexByte(login, '\\') >= 0 {
		e.login = ircv3.AppendUnescaped(e.login[:0], login)
		login = e.login
	}
	dst = append(dst, `},"user":{"id":`...)
	dst = e.appendTag(dst, v.UserID())
	dst = append(dst, `,"name":`...)
	dst = e.str(dst, login)
	dst = append(dst, `,"displayName":`...)
	dn := v.DisplayName()
	if !t.Plain(dn) && bytes.IndexByte(dn, '\\') >= 0 {
		e.scratch = ircv3.AppendUnescaped(e.scratch[:0], dn)
		dn = e.scratch
	}
	if len(dn) == 0 {
		dn = login
	}
	dst = e.str(dst, dn)
	return append(dst, `,"profileImageUrl":"","role":""}`...), login
}

// appendFlags appends the payload's optional members that follow sentAt:
// the chatter flags, reply and sharedChat.
func (e *Encoder) appendFlags(dst []byte, broadcaster bool) []byte {
	v := &e.view
	if v.IsFirstMessage() {
		dst = append(dst, `,"firstMessage":true`...)
	}
	if v.IsReturningChatter() {
		dst = append(dst, `,"returningChatter":true`...)
	}
	if v.IsVIP() {
		dst = append(dst, `,"isVip":true`...)
	}
	if broadcaster {
		dst = append(dst, `,"isBroadcaster":true`...)
	}
	if v.IsReply() {
		t := &v.Tags
		dst = append(dst, `,"reply":{"parentMessageId":`...)
		dst = e.appendTag(dst, t.Get(tmi.TagReplyParentMsgID))
		dst = append(dst, `,"parentUserId":`...)
		dst = e.appendTag(dst, t.Get(tmi.TagReplyParentUserID))
		dst = append(dst, `,"parentUserLogin":`...)
		dst = e.appendTag(dst, t.Get(tmi.TagReplyParentUserLogin))
		dst = append(dst, `,"parentDisplayName":`...)
		dst = e.appendTag(dst, t.Get(tmi.TagReplyParentDisplayName))
		dst = append(dst, `,"parentText":`...)
		dst = e.appendTag(dst, t.Get(tmi.TagReplyParentMsgBody))
		dst = append(dst, `,"threadParentMessageId":`...)
		dst = e.appendTag(dst, t.Get(tmi.TagReplyThreadParentMsgID))
		dst = append(dst, '}')
	}
	if v.IsSharedChat() {
		dst = append(dst, `,"sharedChat":{"sourceRoomId":`...)
		dst = e.appendTag(dst, v.Tags.Get(tmi.TagSourceRoomID))
		dst = append(dst, `,"sourceMessageId":`...)
		dst = e.appendTag(dst, v.Tags.Get(tmi.TagSourceID))
		dst = append(dst, `,"isOrigin":`...)
		dst = appendBool(dst, v.IsSharedChatOrigin())
		dst = append(dst, '}')
	}
	return dst
}

// str appends s, a view into the line or any other string, as a JSON
// string.
func (e *Encoder) str(dst, s []byte) []byte {
	if e.tags().Plain(s) || plainASCII(s) {
		dst = append(dst, '"')
		dst = append(dst, s...)
		return append(dst, '"')
	}
	return appendString(dst, s, &e.bad)
}

// appendTag appends a raw tag value, unescaped, as a JSON string.
func (e *Encoder) appendTag(dst, raw []byte) []byte {
	if len(raw) == 0 {
		return append(dst, '"', '"')
	}
	if e.tags().Plain(raw) {
		dst = append(dst, '"')
		dst = append(dst, raw...)
		return append(dst, '"')
	}
	return appendTagString(dst, raw, &e.bad, &e.scratch)
}

// appendChat appends the payload fields of PRIVMSG and USERNOTICE, up to
// raw, and reports whether the badges include broadcaster.
func (e *Encoder) appendChat(dst []byte, v *tmi.View) ([]byte, bool) {
	dst = append(dst, `"text":`...)
	// One check of the text's UTF-8 (the view keeps the answer) serves
	// the escaper, which then steps over non-ASCII text a word at a time,
	// and the emote cursor.
	text := v.Text()
	textValid := v.TextValidUTF8()
	if textValid {
		dst = appendValidText(dst, text)
	} else {
		dst = appendString(dst, text, &e.bad)
	}
	dst = append(dst, `,"messageId":`...)
	dst = e.appendTag(dst, v.ID())
	dst = append(dst, `,"badges":[`...)
	badges := v.Badges()
	broadcasterBadge := false
	for n := 0; badges.Next(); n++ {
		if n > 0 {
			dst = append(dst, ',')
		}
		dst = e.appendTag(dst, badges.Name())
		broadcasterBadge = broadcasterBadge || tagindex.BroadcasterBadge(badges.Name())
	}
	if badges.Malformed() {
		e.anom |= anomBadgesMalformed
	}
	dst = append(dst, `],"isMod":`...)
	dst = appendBool(dst, v.IsMod())
	dst = append(dst, `,"isSubscriber":`...)
	dst = appendBool(dst, v.IsSubscriber())
	dst = append(dst, `,"color":`...)
	dst = e.appendTag(dst, v.Color())
	dst = append(dst, `,"emotes":[`...)
	emotes := v.Emotes()
	for n := 0; emotes.Next(); n++ {
		if n > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"id":`...)
		dst = e.appendTag(dst, emotes.ID())
		dst = append(dst, `,"name":`...)
		dst = e.str(dst, emotes.Name())
		dst = append(dst, `,"start":`...)
		dst = appendInt(dst, int64(emotes.Start()))
		dst = append(dst, `,"end":`...)
		dst = appendInt(dst, int64(emotes.End()))
		dst = append(dst, '}')
	}
	if p := emotes.Problems(); p != 0 {
		if p&tmi.EmoteMalformed != 0 {
			e.anom |= anomEmotesMalformed
		}
		if p&tmi.EmoteOutOfRange != 0 {
			e.anom |= anomEmotesOutOfRange
		}
	}
	dst = append(dst, ']')
	if v.Kind == tmi.KindUsernotice {
		dst = append(dst, `,"msgId":`...)
		dst = e.appendTag(dst, v.Tags.Get(tmi.TagMsgID))
		dst = append(dst, `,"systemMsg":`...)
		dst = e.appendTag(dst, v.Tags.Get(tmi.TagSystemMsg))
		dst = append(dst, `,"msgParams":{`...)
		params := v.MsgParams()
		for n := 0; params.Next(); {
			key := params.Key()[len("msg-param-"):]
			if !utf8.Valid(key) {
				continue // its tag is left out of raw.tags too
			}
			if n > 0 {
				dst = append(dst, ',')
			}
			n++
			dst = appendString(dst, key, &e.bad)
			dst = append(dst, ':')
			dst = e.appendTag(dst, params.Value())
		}
		dst = append(dst, '}')
	}
	return dst, broadcasterBadge
}

// appendModeration appends the payload fields of CLEARCHAT and CLEARMSG,
// up to raw.
func (e *Encoder) appendModeration(dst []byte, v *tmi.View, login []byte) []byte {
	if v.Kind == tmi.KindClearmsg {
		dst = append(dst, `"action":"delete","targetUserLogin":`...)
		dst = e.str(dst, login)
		dst = append(dst, `,"targetMessageId":`...)
		dst = e.appendTag(dst, v.Tags.Get(tmi.TagTargetMsgID))
		dst = append(dst, `,"text":`...)
		return e.str(dst, v.Text())
	}
	if len(login) == 0 && !v.Tags.Has(tmi.TagTargetUserID) {
		return append(dst, `"action":"clear"`...)
	}
	seconds, timeout := v.BanDuration()
	if v.Tags.Has(tmi.TagBanDuration) && !timeout {
		e.anom |= anomBadBanDuration
	}
	if timeout {
		dst = append(dst, `"action":"timeout"`...)
	} else {
		dst = append(dst, `"action":"ban"`...)
	}
	dst = append(dst, `,"targetUserId":`...)
	dst = e.appendTag(dst, v.Tags.Get(tmi.TagTargetUserID))
	dst = append(dst, `,"targetUserLogin":`...)
	dst = e.str(dst, login)
	if timeout {
		dst = append(dst, `,"durationSeconds":`...)
		dst = appendInt(dst, seconds)
	}
	return dst
}

// rawMember appends one member of raw.tags with a leading comma.
func (e *Encoder) rawMember(dst, key, val []byte, k tagindex.Key, plain bool) []byte {
	if k != tagindex.Unknown {
		if plain {
			dst = append(dst, jsonKeys[k].key()...)
			dst = append(dst, val...)
			return append(dst, '"')
		}
		kb := jsonKeys[k].key()
		dst = append(dst, kb[:len(kb)-1]...)
		return e.appendTag(dst, val)
	}
	if !utf8.Valid(key) {
		// Two invalid keys could become the same JSON key: leave them
		// out (the line is kept whole in lineBase64).
		e.anom |= anomInvalidTagKey
		e.bad = true
		return dst
	}
	dst = append(dst, ',')
	if len(key) > 0 && e.tags().Plain(key) {
		dst = append(dst, '"')
		dst = append(dst, key...)
		dst = append(dst, '"', ':')
	} else {
		dst = appendString(dst, key, &e.bad)
		dst = append(dst, ':')
	}
	return e.appendTag(dst, val)
}

// appendRaw appends ,"raw":{...}: every tag, then the anomalies and a copy
// of the line when there are any.
func (e *Encoder) appendRaw(dst, line []byte) []byte {
	// Every member is written with a leading comma; the first one's
	// becomes the object's '{'.
	dst = append(dst, `,"raw":{"tags":`...)
	first := len(dst)
	if t := e.tags(); t.Indexed() {
		sect := t.Sect()
		for i := range t.Len() {
			// A known tag with a plain value of up to 32 bytes, not
			// within 32 bytes of the section's end: its member is
			// written with fixed-size copies (jsonKeys), with no call
			// and no branch on the lengths.
			if vs, ve, k, plain := t.ItemSpan(i); plain && ve-vs <= 32 && vs+32 <= len(sect) && cap(dst)-len(dst) >= 48+32+1 {
				// Each slice is cut once to its fixed length, so that the
				// copies at constant offsets in it need no bounds checks.
				// The value goes through four 8-byte words: a copy from
				// one slice to another, which the compiler cannot prove
				// distinct, would be a memmove call again.
				n := len(dst)
				d := dst[n : n+81 : n+81]
				rk := &jsonKeys[k]
				*(*[48]byte)(d) = rk.b
				src := sect[vs : vs+32 : vs+32]
				w := d[rk.n : rk.n+33 : rk.n+33]
				binary.LittleEndian.PutUint64(w[0:], binary.LittleEndian.Uint64(src[0:]))
				binary.LittleEndian.PutUint64(w[8:], binary.LittleEndian.Uint64(src[8:]))
				binary.LittleEndian.PutUint64(w[16:], binary.LittleEndian.Uint64(src[16:]))
				binary.LittleEndian.PutUint64(w[24:], binary.LittleEndian.Uint64(src[24:]))
				w[ve-vs] = '"'
				dst = dst[:n+rk.n+ve-vs+1]
				continue
			}
			key, val, k, superseded := t.Item(i)
			if !superseded {
				dst = e.rawMember(dst, key, val, k, t.ItemPlain(i))
			}
		}
	} else {
		tags := t.Unique("")
		for tags.Next() {
			dst = e.rawMember(dst, tags.Key(), tags.Value(), tags.TagKey(), t.Plain(tags.Value()))
		}
	}
	if len(dst) == first {
		dst = append(dst, '{')
	} else {
		dst[first] = '{'
	}
	dst = append(dst, '}')
	// Whatever lost bytes to U+FFFD, or is kept with a line that is not
	// UTF-8, carries the line in base64.
	lineBase64 := e.bad
	if e.anom != 0 && line != nil && !lineBase64 {
		lineBase64 = !utf8.Valid(line)
	}
	if lineBase64 {
		e.anom |= anomInvalidUTF8
	}
	if e.anom != 0 {
		dst = append(dst, `,"anomalies":[`...)
		n := 0
		for i, name := range anomalyNames {
			if e.anom&(1<<i) == 0 {
				continue
			}
			if n > 0 {
				dst = append(dst, ',')
			}
			n++
			dst = append(dst, '"')
			dst = append(dst, name...)
			dst = append(dst, '"')
		}
		dst = append(dst, ']')
		if line != nil {
			if lineBase64 {
				dst = append(dst, `,"lineBase64":"`...)
				dst = base64.StdEncoding.AppendEncode(dst, line)
				dst = append(dst, '"')
			} else {
				dst = append(dst, `,"line":`...)
				dst = appendString(dst, line, &e.bad)
			}
		}
	}
	return append(dst, '}')
}
