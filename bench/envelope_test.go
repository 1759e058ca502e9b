package bench

// The envelope benchmarks. One op is one corpus line.
//
//   - BenchmarkEnvelope/ours: envelope.Encoder.Append of an already parsed
//     PRIVMSG of the corpus (the model's one pass over the tags, ids,
//     escaping, everything). It must stay at 0 allocs/op and at least 7×
//     faster than BenchmarkEnvelope/encoding-json.
//   - BenchmarkEnvelope/encoding-json: the same envelope as a Go user writes
//     it: a struct of strings (the fields read through the same
//     tmi.View, so that both sides do the same extraction), a map of
//     the unescaped tags, google/uuid ids (NewSHA1 and New), time.Format,
//     then json.Marshal.
//   - BenchmarkHotPath/ours: the whole per-line path of the service:
//     ircv3.Reader framing a byte stream, ircv3.Parse, the model and
//     Append, PRIVMSG envelopes as configured by default. It must stay at
//     0 allocs/op and at least 8× faster than BenchmarkHotPath/peer.
//   - BenchmarkHotPath/peer: the pipeline a Go user builds from the common
//     Twitch client: bufio.Reader.ReadString, go-twitch-irc's ParseMessage,
//     the envelope struct filled from its PrivateMessage, json.Marshal.
//
// TestEnvelopesAgree checks, outside the timings, that both sides of
// BenchmarkEnvelope write the same envelope (decoded) for every PRIVMSG of
// the corpus. envelope.sh prints the -count 10 table and the ratios.

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	twitchirc "github.com/gempir/go-twitch-irc/v4"
	"github.com/google/uuid"

	"github.com/ingress-egress/ingress-egress/envelope"
	"github.com/ingress-egress/ingress-egress/ircv3"
	"github.com/ingress-egress/ingress-egress/twitch/tmi"
)

// stdEnvelope and friends are the envelope for encoding/json.
type stdEnvelope struct {
	V                       string     `json:"v"`
	ID                      string     `json:"id"`
	CorrelationID           string     `json:"correlationId"`
	TraceID                 string     `json:"traceId"`
	Timestamp               string     `json:"timestamp"`
	Type                    string     `json:"type"`
	Source                  stdSource  `json:"source"`
	User                    stdUser    `json:"user"`
	RoutingSlip             []string   `json:"routingSlip"`
	FinalizationDestination string     `json:"finalizationDestination"`
	Payload                 stdPayload `json:"payload"`
}

type stdSource struct {
	Platform  string `json:"platform"`
	Channel   string `json:"channel"`
	ChannelID string `json:"channelId"`
}

type stdUser struct {
	ID              string `json:"id"`
	Name            string `json:"name"`
	DisplayName     string `json:"displayName"`
	ProfileImageURL string `json:"profileImageUrl"`
	Role            string `json:"role"`
}

type stdEmote struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	Start int    `json:"start"`
	End   int    `json:"end"`
}

type stdRaw struct {
	Tags       map[string]string `json:"tags"`
	Anomalies  []string          `json:"anomalies,omitempty"`
	Line       string            `json:"line,omitempty"`
	LineBase64 string            `json:"lineBase64,omitempty"`
}

type stdReply struct {
	ParentMessageID       string `json:"parentMessageId"`
	ParentUserID          string `json:"parentUserId"`
	ParentUserLogin       string `json:"parentUserLogin"`
	ParentDisplayName     string `json:"parentDisplayName"`
	ParentText            string `json:"parentText"`
	ThreadParentMessageID string `json:"threadParentMessageId"`
}

type stdShared struct {
	SourceRoomID    string `json:"sourceRoomId"`
	SourceMessageID string `json:"sourceMessageId"`
	IsOrigin        bool   `json:"isOrigin"`
}

type stdPayload struct {
	Text             string     `json:"text"`
	MessageID        string     `json:"messageId"`
	Badges           []string   `json:"badges"`
	IsMod            bool       `json:"isMod"`
	IsSubscriber     bool       `json:"isSubscriber"`
	Color            string     `json:"color"`
	Emotes           []stdEmote `json:"emotes"`
	Raw              stdRaw     `json:"raw"`
	IsAction         bool       `json:"isAction,omitempty"`
	Bits             *int64     `json:"bits,omitempty"`
	SentAt           string     `json:"sentAt,omitempty"`
	FirstMessage     bool       `json:"firstMessage,omitempty"`
	ReturningChatter bool       `json:"returningChatter,omitempty"`
	IsVip            bool       `json:"isVip,omitempty"`
	IsBroadcaster    bool       `json:"isBroadcaster,omitempty"`
	Reply            *stdReply  `json:"reply,omitempty"`
	SharedChat       *stdShared `json:"sharedChat,omitempty"`
}

const rfc3339ms = "2006-01-02T15:04:05.000Z"

var namespace = uuid.UUID(envelope.Namespace)

func unesc(raw []byte) string { return string(ircv3.AppendUnescaped(nil, raw)) }

// stdFromView builds the envelope of a parsed PRIVMSG the way a Go user
// would, reading the fields through a tmi.View. traceID is the trace id
// to use, or "" for uuid.New().
func stdFromView(line []byte, v *tmi.View, received time.Time, traceID string) *stdEnvelope {
	channel, hash := v.Channel()
	login, _ := v.Login()
	env := &stdEnvelope{
		V:         "1",
		Timestamp: received.UTC().Format(rfc3339ms),
		Type:      "external.chat.message.v1",
		Source: stdSource{
			Platform: "twitch", Channel: string(channel), ChannelID: unesc(v.RoomID()),
		},
		User:                    stdUser{ID: unesc(v.UserID()), Name: string(login), DisplayName: unesc(v.DisplayName())},
		RoutingSlip:             []string{},
		FinalizationDestination: "internal.finalizer.v1",
	}
	if env.User.DisplayName == "" {
		env.User.DisplayName = env.User.Name
	}
	var anomalies []string
	if !utf8.Valid(line) {
		anomalies = append(anomalies, "invalid-utf8")
	}
	if !hash {
		anomalies = append(anomalies, "channel-without-hash")
	}
	id := unesc(v.ID())
	if id != "" {
		env.ID = uuid.NewSHA1(namespace, []byte(id)).String()
	} else {
		env.ID = uuid.New().String()
		anomalies = append(anomalies, "no-message-id")
	}
	if login == nil {
		anomalies = append(anomalies, "no-login")
	}
	env.CorrelationID = env.ID
	env.TraceID = traceID
	if traceID == "" {
		env.TraceID = uuid.New().String()
	}
	p := &env.Payload
	p.Text = string(v.Text())
	p.MessageID = id
	p.Badges = []string{}
	badges := v.Badges()
	for badges.Next() {
		p.Badges = append(p.Badges, unesc(badges.Name()))
	}
	if badges.Malformed() {
		anomalies = append(anomalies, "badges-malformed")
	}
	p.IsMod, p.IsSubscriber, p.Color = v.IsMod(), v.IsSubscriber(), unesc(v.Color())
	p.Emotes = []stdEmote{}
	emotes := v.Emotes()
	for emotes.Next() {
		p.Emotes = append(p.Emotes, stdEmote{unesc(emotes.ID()), string(emotes.Name()), emotes.Start(), emotes.End()})
	}
	if emotes.Problems()&tmi.EmoteMalformed != 0 {
		anomalies = append(anomalies, "emotes-malformed")
	}
	if emotes.Problems()&tmi.EmoteOutOfRange != 0 {
		anomalies = append(anomalies, "emotes-out-of-range")
	}
	if bits, ok := v.Bits(); ok {
		p.Bits = &bits
	} else if v.Tags.Has(tmi.TagBits) {
		anomalies = append(anomalies, "bad-bits")
	}
	if ms, ok := v.SentAt(); ok && ms <= 253402300799999 {
		p.SentAt = time.UnixMilli(ms).UTC().Format(rfc3339ms)
	} else if v.Tags.Has(tmi.TagTmiSentTS) {
		anomalies = append(anomalies, "bad-tmi-sent-ts")
	}
	if v.Tags.Duplicates() {
		anomalies = append(anomalies, "duplicate-tags")
	}
	p.Raw.Tags = map[string]string{}
	var m ircv3.Message
	m.Tags = v.RawTags()
	tags := m.TagIter()
	badKey := false
	for tags.Next() {
		if !utf8.Valid(tags.Key()) {
			badKey = true
			continue
		}
		p.Raw.Tags[string(tags.Key())] = unesc(tags.Value())
	}
	if badKey {
		anomalies = append(anomalies, "invalid-tag-key")
	}
	if len(anomalies) > 0 {
		p.Raw.Anomalies = anomalies
		if utf8.Valid(line) {
			p.Raw.Line = string(line)
		} else {
			p.Raw.LineBase64 = base64.StdEncoding.EncodeToString(line)
		}
	}
	p.IsAction, p.FirstMessage, p.ReturningChatter = v.IsAction(), v.IsFirstMessage(), v.IsReturningChatter()
	p.IsVip, p.IsBroadcaster = v.IsVIP(), v.IsBroadcaster()
	if v.IsReply() {
		t := &v.Tags
		p.Reply = &stdReply{
			unesc(t.Get(tmi.TagReplyParentMsgID)), unesc(t.Get(tmi.TagReplyParentUserID)),
			unesc(t.Get(tmi.TagReplyParentUserLogin)), unesc(t.Get(tmi.TagReplyParentDisplayName)),
			unesc(t.Get(tmi.TagReplyParentMsgBody)), unesc(t.Get(tmi.TagReplyThreadParentMsgID)),
		}
	}
	if v.IsSharedChat() {
		p.SharedChat = &stdShared{unesc(v.Tags.Get(tmi.TagSourceRoomID)), unesc(v.Tags.Get(tmi.TagSourceID)), v.IsSharedChatOrigin()}
	}
	return env
}

// stdFromPeer builds the envelope from go-twitch-irc's PrivateMessage, as
// a user of that library would.
func stdFromPeer(msg *twitchirc.PrivateMessage, received time.Time) *stdEnvelope {
	env := &stdEnvelope{
		V:                       "1",
		ID:                      uuid.NewSHA1(namespace, []byte(msg.ID)).String(),
		TraceID:                 uuid.New().String(),
		Timestamp:               received.UTC().Format(rfc3339ms),
		Type:                    "external.chat.message.v1",
		Source:                  stdSource{Platform: "twitch", Channel: msg.Channel, ChannelID: msg.RoomID},
		User:                    stdUser{ID: msg.User.ID, Name: msg.User.Name, DisplayName: msg.User.DisplayName},
		RoutingSlip:             []string{},
		FinalizationDestination: "internal.finalizer.v1",
	}
	env.CorrelationID = env.ID
	if env.User.DisplayName == "" {
		env.User.DisplayName = env.User.Name
	}
	p := &env.Payload
	p.Text, p.MessageID = msg.Message, msg.ID
	p.Badges = make([]string, 0, len(msg.User.Badges))
	for name := range msg.User.Badges {
		p.Badges = append(p.Badges, name)
	}
	p.IsMod, p.IsSubscriber, p.Color = msg.User.IsMod, msg.Tags["subscriber"] == "1", msg.User.Color
	p.Emotes = []stdEmote{}
	for _, e := range msg.Emotes {
		for _, pos := range e.Positions {
			p.Emotes = append(p.Emotes, stdEmote{e.ID, e.Name, pos.Start, pos.End})
		}
	}
	p.Raw.Tags = msg.Tags
	if msg.Bits > 0 {
		bits := int64(msg.Bits)
		p.Bits = &bits
	}
	if !msg.Time.IsZero() {
		p.SentAt = msg.Time.UTC().Format(rfc3339ms)
	}
	p.IsAction, p.FirstMessage = msg.Action, msg.FirstMessage
	p.ReturningChatter = msg.Tags["returning-chatter"] == "1"
	p.IsVip, p.IsBroadcaster = msg.User.IsVip, msg.User.IsBroadcaster
	if msg.Reply != nil {
		p.Reply = &stdReply{msg.Reply.ParentMsgID, msg.Reply.ParentUserID, msg.Reply.ParentUserLogin,
			msg.Reply.ParentDisplayName, msg.Reply.ParentMsgBody, msg.Tags["reply-thread-parent-msg-id"]}
	}
	if src, ok := msg.Tags["source-room-id"]; ok {
		p.SharedChat = &stdShared{src, msg.Tags["source-id"], src == msg.RoomID}
	}
	return env
}

var benchReceived = time.Date(2025, 11, 21, 17, 2, 0, 0, time.UTC)

type privmsgs struct {
	lines [][]byte
	msgs  []ircv3.Message
}

// loadPrivmsgs returns the corpus's PRIVMSG lines, parsed.
func loadPrivmsgs(tb testing.TB) *privmsgs {
	c := load(tb)
	p := &privmsgs{}
	for _, line := range c.lines {
		m, err := ircv3.Parse(line)
		if err != nil || string(m.Command) != "PRIVMSG" {
			continue
		}
		p.lines = append(p.lines, line)
		p.msgs = append(p.msgs, m)
	}
	if len(p.lines) < 1000 {
		tb.Fatalf("corpus has %d PRIVMSG lines", len(p.lines))
	}
	return p
}

var (
	sinkBytes []byte
	sinkEnv   *stdEnvelope
)

func BenchmarkEnvelope(b *testing.B) {
	p := loadPrivmsgs(b)
	n := len(p.lines)
	b.Run("ours", func(b *testing.B) {
		e := envelope.NewEncoder(nil)
		buf := make([]byte, 0, 16<<10)
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			buf, _ = e.Append(buf[:0], p.lines[i], &p.msgs[i], benchReceived)
			if i++; i == n {
				i = 0
			}
		}
		sinkBytes = buf
	})
	b.Run("encoding-json", func(b *testing.B) {
		var v tmi.View
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			v.Reset(&p.msgs[i])
			out, err := json.Marshal(stdFromView(p.lines[i], &v, benchReceived, ""))
			if err != nil {
				b.Fatal(err)
			}
			sinkBytes = out
			if i++; i == n {
				i = 0
			}
		}
	})
	// Marshal alone, of structs built beforehand: the share of the
	// encoding/json path above that is json.Marshal itself (for the
	// record; the target compares with the whole path, which starts from
	// the same parsed line as Append).
	b.Run("encoding-json-marshal-only", func(b *testing.B) {
		envs := make([]*stdEnvelope, n)
		var v tmi.View
		for i := range envs {
			v.Reset(&p.msgs[i])
			envs[i] = stdFromView(p.lines[i], &v, benchReceived, "")
		}
		b.ReportAllocs()
		b.ResetTimer()
		i := 0
		for b.Loop() {
			out, err := json.Marshal(envs[i])
			if err != nil {
				b.Fatal(err)
			}
			sinkBytes = out
			if i++; i == n {
				i = 0
			}
		}
	})
}

// loopReader yields data over and over, as a connection would.
type loopReader struct {
	data []byte
	off  int
}

func (r *loopReader) Read(p []byte) (int, error) {
	n := copy(p, r.data[r.off:])
	if r.off += n; r.off == len(r.data) {
		r.off = 0
	}
	return n, nil
}

func corpusStream(tb testing.TB) []byte {
	c := load(tb)
	var stream []byte
	for _, l := range c.lines {
		stream = append(append(stream, l...), '\r', '\n')
	}
	return stream
}

func BenchmarkHotPath(b *testing.B) {
	stream := corpusStream(b)
	b.Run("ours", func(b *testing.B) {
		rd := ircv3.NewReader(&loopReader{data: stream}, 0)
		e := envelope.NewEncoder(nil)
		var m ircv3.Message
		buf := make([]byte, 0, 16<<10)
		b.ReportAllocs()
		for b.Loop() {
			line, err := rd.ReadLine()
			if err != nil {
				b.Fatal(err)
			}
			if m.Parse(line) != nil {
				continue
			}
			buf, _ = e.Append(buf[:0], line, &m, benchReceived)
		}
		sinkBytes = buf
	})
	b.Run("peer", func(b *testing.B) {
		rd := bufio.NewReader(&loopReader{data: stream})
		b.ReportAllocs()
		for b.Loop() {
			line, err := rd.ReadString('\n')
			if err != nil {
				b.Fatal(err)
			}
			msg, ok := twitchirc.ParseMessage(strings.TrimRight(line, "\r\n")).(*twitchirc.PrivateMessage)
			if !ok {
				continue
			}
			out, err := json.Marshal(stdFromPeer(msg, benchReceived))
			if err != nil {
				b.Fatal(err)
			}
			sinkBytes = out
		}
	})
}

// TestEnvelopesAgree: for every PRIVMSG of the corpus, Append and the
// encoding/json struct decode to the same value, so that BenchmarkEnvelope
// compares the same work.
func TestEnvelopesAgree(t *testing.T) {
	p := loadPrivmsgs(t)
	e := envelope.NewEncoder(nil)
	var v tmi.View
	for i, line := range p.lines {
		out, err := e.Append(nil, line, &p.msgs[i], benchReceived)
		if err != nil {
			continue // no text: skipped by both pipelines in the service
		}
		v.Reset(&p.msgs[i])
		std, err := json.Marshal(stdFromView(line, &v, benchReceived, e.TraceID().String()))
		if err != nil {
			t.Fatal(err)
		}
		var a, b any
		if err := json.Unmarshal(out, &a); err != nil {
			t.Fatalf("line %d: %v\n%s", i, err, out)
		}
		if err := json.Unmarshal(std, &b); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("line %d: envelopes differ\nours %s\nstd  %s", i, out, std)
		}
	}
}

// TestHotPathDoesNotAllocate repeats the 0 allocs/op guard of
// BenchmarkHotPath/ours over the corpus.
func TestHotPathDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under -race")
	}
	stream := corpusStream(t)
	rd := ircv3.NewReader(&loopReader{data: stream}, 0)
	e := envelope.NewEncoder(nil)
	var m ircv3.Message
	buf := make([]byte, 0, 16<<10)
	allocs := testing.AllocsPerRun(20000, func() {
		line, err := rd.ReadLine()
		if err != nil && err != io.EOF {
			t.Fatal(err)
		}
		if m.Parse(line) == nil {
			buf, _ = e.Append(buf[:0], line, &m, benchReceived)
		}
	})
	if allocs != 0 {
		t.Errorf("hot path: %v allocs per line, want 0", allocs)
	}
}
