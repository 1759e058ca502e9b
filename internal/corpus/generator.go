package corpus

import (
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// SentTag is the tag key a Generator adds when it is given a send time: the
// value is the send time in Unix nanoseconds, e.g. `+ie/sent-ns=1748800800123456789`.
// It is a client-only tag (`+` prefix, vendor `ie`), the kind a server relays
// unchanged from the sending client, so a real parser must keep it; a load
// harness reads it at the far end of the pipeline to measure latency with
// nanosecond resolution. `tmi-sent-ts` carries the same instant in
// milliseconds, as Twitch does.
const SentTag = "+ie/sent-ns"

// Kind is the verb of a generated line.
type Kind uint8

// The kinds of line a Generator makes, with their share of the mix in AppendLine.
const (
	Privmsg    Kind = iota // 90 %
	UserNotice             // 4 %: sub, resub, subgift, submysterygift, raid, announcement
	ClearChat              // 1.5 %: timeout, ban, clear
	ClearMsg               // 1 %
	RoomState              // 1 %
	UserState              // 1 %
	Ping                   // 1.5 %
	numKinds
)

var kindVerbs = [numKinds]string{"PRIVMSG", "USERNOTICE", "CLEARCHAT", "CLEARMSG", "ROOMSTATE", "USERSTATE", "PING"}

// kindWeights are per mille; they add up to 1000.
var kindWeights = [numKinds]int{900, 40, 15, 10, 10, 10, 15}

// String returns the IRC verb of k.
func (k Kind) String() string {
	if k < numKinds {
		return kindVerbs[k]
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// RoomID returns the room-id a Generator uses for channel (given with or
// without its leading '#'), so that a fake server can send the same id in its
// own ROOMSTATE.
func RoomID(channel string) uint64 {
	return 10_000_000 + uint64(fnv32(strings.TrimPrefix(channel, "#")))%990_000_000
}

const (
	numUsers    = 3000
	maxChannels = 4096 // cached channel descriptions; the cache is emptied when full
	ringSize    = 64   // recent message ids, targets of replies and CLEARMSG
	botLogin    = "ingressbot"
)

type user struct {
	login   string
	display string // the display-name tag value, already escaped
	mention string // the name a reply's leading @mention uses
	id      string
	color   string
	role    int // 0 none, 1 moderator, 2 vip, 3 broadcaster
	months  int // subscribed months, 0 = not a subscriber
	tier    int // 1, 2 or 3
	founder bool
	turbo   bool
	extra   string // one more badge, or ""
}

type chanInfo struct {
	name   string
	room   string
	emotes []emote
	owner  user
}

type occurrence struct {
	id         string
	start, end int // code points, inclusive
}

// Generator makes realistic Twitch IRC lines, deterministically from its seed:
// the same seed and the same sequence of calls give the same bytes (send times
// aside, which only change the two time tags).
//
// Every id tag it writes (the message id of PRIVMSG and USERNOTICE, a USERSTATE
// id, a shared-chat source-id) is a version 4 UUID that no other line of the
// same Generator carries, nor any line of a Generator made from another seed:
// the UUID is a bijection of (seed, sequence number).
//
// A Generator is not safe for concurrent use; give each goroutine its own,
// with its own seed.
type Generator struct {
	r      rng
	prefix uint64 // bijection of the seed, the id namespace
	seq    uint64 // ids handed out
	clock  int64  // synthetic tmi-sent-ts in ms, used when no send time is given
	users  []user
	chans  map[string]*chanInfo
	pool   []*chanInfo // Generate's channels; shared-chat partners
	ring   [ringSize][36]byte
	nring  int
	last   [36]byte
	hasID  bool
	text   []byte
	tmp    []byte
	occ    []occurrence
}

// NewGenerator returns a Generator for seed.
func NewGenerator(seed int64) *Generator {
	g := &Generator{
		r:      rng{s: uint64(seed)},
		prefix: mix64(uint64(seed) + 0x2545f4914f6cdd1d),
		clock:  1748800800000, // 2025-06-01T18:00:00Z
		chans:  make(map[string]*chanInfo),
		text:   make([]byte, 0, 1024),
		tmp:    make([]byte, 0, 1024),
		occ:    make([]occurrence, 0, 64),
	}
	ur := rng{s: uint64(seed) ^ 0xa0761d6478bd642f}
	g.users = make([]user, numUsers)
	for i := range g.users {
		g.users[i] = makeUser(&ur)
	}
	for _, name := range channels {
		g.pool = append(g.pool, g.channel(name))
	}
	return g
}

// AppendLine appends one line of the corpus mix for channel to dst, without
// CR LF, and returns the extended buffer and the line's kind. PING lines do
// not name the channel. When sent is not zero, tmi-sent-ts is sent in
// milliseconds and the line carries SentTag (on PRIVMSG, USERNOTICE, CLEARCHAT
// and CLEARMSG, the lines that have a tmi-sent-ts).
func (g *Generator) AppendLine(dst []byte, channel string, sent time.Time) ([]byte, Kind) {
	c := g.channel(channel)
	k := g.pickKind()
	var ns int64
	if !sent.IsZero() {
		ns = sent.UnixNano()
	}
	g.hasID = false
	switch k {
	case Privmsg:
		dst = g.appendPrivmsg(dst, c, ns)
	case UserNotice:
		dst = g.appendUserNotice(dst, c, ns)
	case ClearChat:
		dst = g.appendClearChat(dst, c, ns)
	case ClearMsg:
		dst = g.appendClearMsg(dst, c, ns)
	case RoomState:
		dst = g.appendRoomState(dst, c)
	case UserState:
		dst = g.appendUserState(dst, c)
	default:
		dst = append(dst, "PING :tmi.twitch.tv"...)
	}
	return dst, k
}

// AppendPrivmsg appends one PRIVMSG line for channel to dst, without CR LF,
// and returns the extended buffer. Its id tag is unique (see Generator); when
// sent is not zero, tmi-sent-ts is sent in milliseconds and the line ends its
// tags with SentTag=sent in Unix nanoseconds. It does not allocate once the
// channel has been seen and dst has room.
func (g *Generator) AppendPrivmsg(dst []byte, channel string, sent time.Time) []byte {
	var ns int64
	if !sent.IsZero() {
		ns = sent.UnixNano()
	}
	g.hasID = false
	return g.appendPrivmsg(dst, g.channel(channel), ns)
}

// LastID appends to dst the id tag of the last line appended, if that line
// has one (PRIVMSG, USERNOTICE, and USERSTATE sometimes), and returns the
// extended buffer.
func (g *Generator) LastID(dst []byte) []byte {
	if !g.hasID {
		return dst
	}
	return append(dst, g.last[:]...)
}

func (g *Generator) pickKind() Kind {
	n := g.r.intn(1000)
	for k, w := range kindWeights {
		if n < w {
			return Kind(k)
		}
		n -= w
	}
	return Privmsg
}

// channel returns the cached description of name.
func (g *Generator) channel(name string) *chanInfo {
	name = strings.TrimPrefix(name, "#")
	if c, ok := g.chans[name]; ok {
		return c
	}
	if len(g.chans) >= maxChannels {
		clear(g.chans)
	}
	c := &chanInfo{name: name, room: strconv.FormatUint(RoomID(name), 10)}
	prefix := make([]byte, 0, 4)
	for i := 0; i < len(name) && len(prefix) < 4; i++ {
		if b := name[i]; b >= 'a' && b <= 'z' || b >= '0' && b <= '9' {
			prefix = append(prefix, b)
		}
	}
	if len(prefix) == 0 {
		prefix = append(prefix, "chan"...)
	}
	h := uint64(fnv32(name))
	for i, s := range channelEmoteSuffixes {
		var id [41]byte
		copy(id[:], "emotesv2_")
		hexTo(id[9:25], mix64(h+uint64(i)))
		hexTo(id[25:41], mix64(h+uint64(i)+1<<32))
		c.emotes = append(c.emotes, emote{id: string(id[:]), name: string(prefix) + s})
	}
	c.owner = user{login: name, display: name, mention: name, id: c.room, color: "#9146FF", role: 3}
	g.chans[name] = c
	return c
}

func makeUser(r *rng) user {
	var b []byte
	for n := r.between(2, 3); n > 0; n-- {
		b = append(b, pick(r, loginSyllables)...)
	}
	if r.pm(400) || len(b) < 4 {
		b = strconv.AppendInt(b, int64(r.between(1, 9999)), 10)
	}
	if r.pm(100) {
		b = append(b, '_')
	}
	u := user{login: string(b)}
	switch n := r.intn(1000); {
	case n < 20:
		u.display, u.mention = "", u.login
	case n < 90:
		u.display = pick(r, cjkNames)
		u.mention = u.display
	case n < 100: // a display name with a trailing space, escaped as `\s`
		u.display = strings.ToUpper(u.login[:1]) + u.login[1:] + `\s`
		u.mention = u.login
	case n < 150:
		u.display = strings.ToUpper(u.login)
		u.mention = u.display
	case n < 600:
		u.display = strings.ToUpper(u.login[:1]) + u.login[1:]
		u.mention = u.display
	default:
		u.display, u.mention = u.login, u.login
	}
	u.id = strconv.Itoa(r.between(20_000_000, 1_290_000_000))
	switch n := r.intn(1000); {
	case n < 150:
	case n < 850:
		u.color = pick(r, colors)
	default:
		var c [7]byte
		c[0] = '#'
		hexUpper(c[1:], uint64(r.intn(1<<24)))
		u.color = string(c[:])
	}
	switch n := r.intn(1000); {
	case n < 40:
		u.role = 1
	case n < 70:
		u.role = 2
	}
	if r.pm(350) {
		u.months = pick(r, []int{1, 1, 2, 3, 4, 6, 7, 9, 12, 13, 18, 24, 25, 36, 48, 60, 71})
		u.tier = 1
		if n := r.intn(100); n < 5 {
			u.tier = 3
		} else if n < 15 {
			u.tier = 2
		}
	}
	u.founder = r.pm(10)
	u.turbo = r.pm(10)
	if r.pm(300) {
		u.extra = pick(r, otherBadges)
	}
	return u
}

func (g *Generator) pickUser(c *chanInfo) *user {
	if g.r.pm(3) {
		return &c.owner
	}
	return &g.users[g.r.intn(g.r.intn(len(g.users))+1)]
}

// tick advances the synthetic clock and returns the tmi-sent-ts to write.
func (g *Generator) tick(sentNS int64) int64 {
	g.clock += int64(g.r.intn(61))
	if sentNS != 0 {
		return sentNS / 1e6
	}
	return g.clock
}

// newID writes a fresh UUID to g.last and remembers it for replies and CLEARMSG.
func (g *Generator) newID() []byte {
	c := g.seq + 0x2b992ddfa23249 // so that the first id is not mostly zeros
	g.seq++
	const mask58 = 1<<58 - 1
	m := c * 0x9e3779b97f4a7c15 & mask58 // each step is a bijection on 58 bits
	m ^= m >> 29
	m = m * 0xbf58476d1ce4e5b9 & mask58
	m ^= m >> 31
	lo := 1<<63 | (g.prefix&0xf)<<58 | m     // variant 10, 4 prefix bits, the mixed counter
	hi60 := g.prefix>>4 ^ mix64(c)>>4        // 60 prefix bits, masked by the counter
	hi := hi60>>12<<16 | 0x4000 | hi60&0xfff // version 4
	var b [32]byte
	hexTo(b[:16], hi)
	hexTo(b[16:], lo)
	id := &g.last
	copy(id[0:8], b[0:8])
	id[8] = '-'
	copy(id[9:13], b[8:12])
	id[13] = '-'
	copy(id[14:18], b[12:16])
	id[18] = '-'
	copy(id[19:23], b[16:20])
	id[23] = '-'
	copy(id[24:36], b[20:32])
	g.ring[g.nring%ringSize] = *id
	g.nring++
	return id[:]
}

// recentID returns a recent message id, or a fresh one at the start.
func (g *Generator) recentID() [36]byte {
	if g.nring == 0 {
		g.newID()
		return g.last
	}
	n := min(g.nring, ringSize)
	return g.ring[(g.nring-1-g.r.intn(n))%ringSize]
}

const hexDigits = "0123456789abcdef"

func hexTo(dst []byte, v uint64) {
	for i := len(dst) - 1; i >= 0; i-- {
		dst[i] = hexDigits[v&0xf]
		v >>= 4
	}
}

func hexUpper(dst []byte, v uint64) {
	const digits = "0123456789ABCDEF"
	for i := len(dst) - 1; i >= 0; i-- {
		dst[i] = digits[v&0xf]
		v >>= 4
	}
}

// appendEscaped appends s escaped as an IRCv3 tag value.
func appendEscaped[S ~string | ~[]byte](dst []byte, s S) []byte {
	for i := 0; i < len(s); i++ {
		switch b := s[i]; b {
		case ';':
			dst = append(dst, `\:`...)
		case ' ':
			dst = append(dst, `\s`...)
		case '\\':
			dst = append(dst, `\\`...)
		case '\r':
			dst = append(dst, `\r`...)
		case '\n':
			dst = append(dst, `\n`...)
		default:
			dst = append(dst, b)
		}
	}
	return dst
}

func appendInt(dst []byte, v int) []byte { return strconv.AppendInt(dst, int64(v), 10) }

// subBadge is the subscriber badge version for months at tier: the largest
// milestone reached, plus 2000 or 3000 for tiers 2 and 3.
func subBadge(months, tier int) int {
	v := 0
	for _, m := range [...]int{2, 3, 6, 9, 12, 18, 24, 30, 36, 42, 48, 54, 60, 72} {
		if months >= m {
			v = m
		}
	}
	switch tier {
	case 2:
		v += 2000
	case 3:
		v += 3000
	}
	return v
}

// appendBadges appends the badge-info and badges tags (with their keys,
// prefixed by prefix, and a trailing ';'). months overrides u.months when not zero; pred is a
// predictions outcome index or -1.
func appendBadges(dst []byte, prefix string, u *user, months, pred int) []byte {
	if months == 0 {
		months = u.months
	}
	dst = append(dst, prefix...)
	dst = append(dst, "badge-info="...)
	sep := false
	if u.founder {
		dst = append(dst, "founder/"...)
		dst = appendInt(dst, max(months, 1))
		sep = true
	} else if months > 0 {
		dst = append(dst, "subscriber/"...)
		dst = appendInt(dst, months)
		sep = true
	}
	if pred >= 0 {
		if sep {
			dst = append(dst, ',')
		}
		dst = append(dst, "predictions/"...)
		dst = append(dst, predictionOutcomes[pred].info...)
	}
	dst = append(dst, ';')
	dst = append(dst, prefix...)
	dst = append(dst, "badges="...)
	sep = false
	add := func(s string) {
		if sep {
			dst = append(dst, ',')
		}
		dst = append(dst, s...)
		sep = true
	}
	switch u.role {
	case 1:
		add("moderator/1")
	case 2:
		add("vip/1")
	case 3:
		add("broadcaster/1")
	}
	if u.founder {
		add("founder/0")
	} else if months > 0 {
		if sep {
			dst = append(dst, ',')
		}
		dst = append(dst, "subscriber/"...)
		dst = appendInt(dst, subBadge(months, max(u.tier, 1)))
		sep = true
	}
	if pred >= 0 {
		add(predictionOutcomes[pred].badge)
	}
	if u.extra != "" {
		add(u.extra)
	}
	if u.turbo {
		add("turbo/1")
	}
	return append(dst, ';')
}

func (g *Generator) appendSource(dst []byte, u *user) []byte {
	dst = append(dst, " :"...)
	dst = append(dst, u.login...)
	dst = append(dst, '!')
	dst = append(dst, u.login...)
	dst = append(dst, '@')
	dst = append(dst, u.login...)
	return append(dst, ".tmi.twitch.tv "...)
}

func appendTarget(dst []byte, verb string, c *chanInfo) []byte {
	dst = append(dst, verb...)
	dst = append(dst, " #"...)
	return append(dst, c.name...)
}

func appendSent(dst []byte, ns int64) []byte {
	if ns == 0 {
		return dst
	}
	dst = append(dst, ";"+SentTag+"="...)
	return strconv.AppendInt(dst, ns, 10)
}

// appendText fills g.text (after what it already holds, cp code points) with a
// chat message and g.occ with its emotes. It returns the bits cheered and
// whether the message is emotes only.
func (g *Generator) appendText(c *chanInfo, cp int, cheer bool) (bits int, emoteOnly bool) {
	r := &g.r
	var n int
	switch x := r.intn(1000); {
	case x < 380:
		n = r.between(1, 3)
	case x < 780:
		n = r.between(4, 10)
	case x < 960:
		n = r.between(11, 22)
	default:
		n = r.between(23, 40)
	}
	lang := g.pickLanguage()
	onlyEmotes := r.pm(50)
	if onlyEmotes {
		n = r.between(1, 6)
	}
	leadEmoji := !onlyEmotes && r.pm(60) // emoji before an emote shift its code point offset
	cheerAt := -1
	if cheer {
		cheerAt = r.intn(n + 1)
	}
	emoteOnly = true
	prevGlue := false
	space := func() {
		if len(g.text) > 0 && g.text[len(g.text)-1] != ' ' {
			g.text = append(g.text, ' ')
			cp++
		}
	}
	emoteToken := func() {
		var e emote
		if r.pm(600) {
			e = pick(r, globalEmotes)
		} else {
			e = pick(r, c.emotes)
		}
		space()
		g.occ = append(g.occ, occurrence{id: e.id, start: cp, end: cp + len(e.name) - 1})
		g.text = append(g.text, e.name...)
		cp += len(e.name)
		prevGlue = false
	}
	if leadEmoji {
		for k := r.between(1, 3); k > 0; k-- {
			e := pick(r, emoji)
			g.text = append(g.text, e...)
			cp += utf8.RuneCountInString(e)
		}
		emoteToken()
		emoteOnly = false
	}
	for i := 0; i <= n; i++ {
		if i == cheerAt {
			amount := pick(r, cheerAmounts)
			space()
			start := len(g.text)
			g.text = append(g.text, pick(r, cheerPrefixes)...)
			g.text = appendInt(g.text, amount)
			cp += len(g.text) - start
			bits += amount
			emoteOnly = false
			prevGlue = false
		}
		if i == n {
			break
		}
		x := r.intn(1000)
		switch {
		case onlyEmotes || x < 120:
			emoteToken()
			continue
		case x < 200:
			space()
			e := pick(r, emoji)
			g.text = append(g.text, e...)
			cp += utf8.RuneCountInString(e)
			prevGlue = false
		default:
			w := pick(r, lang.words)
			if !(prevGlue && lang.glue && r.pm(500)) {
				space()
			}
			g.text = append(g.text, w...)
			cp += utf8.RuneCountInString(w)
			prevGlue = lang.glue
		}
		emoteOnly = false
	}
	return bits, emoteOnly && len(g.occ) > 0
}

func (g *Generator) pickLanguage() *language {
	total := 0
	for i := range languages {
		total += languages[i].weight
	}
	n := g.r.intn(total)
	for i := range languages {
		if n < languages[i].weight {
			return &languages[i]
		}
		n -= languages[i].weight
	}
	return &languages[0]
}

// appendEmotes appends the emotes tag value from g.occ: emotes grouped by id
// in order of first use, `id:start-end,start-end/id:start-end`.
func (g *Generator) appendEmotes(dst []byte) []byte {
	for i, o := range g.occ {
		first := true
		for _, p := range g.occ[:i] {
			if p.id == o.id {
				first = false
				break
			}
		}
		if !first {
			continue
		}
		if i > 0 {
			dst = append(dst, '/')
		}
		dst = append(dst, o.id...)
		dst = append(dst, ':')
		sep := false
		for _, p := range g.occ[i:] {
			if p.id != o.id {
				continue
			}
			if sep {
				dst = append(dst, ',')
			}
			dst = appendInt(dst, p.start)
			dst = append(dst, '-')
			dst = appendInt(dst, p.end)
			sep = true
		}
	}
	return dst
}

// appendShortText appends a few plain words to dst.
func (g *Generator) appendShortText(dst []byte) []byte {
	lang := g.pickLanguage()
	for n := g.r.between(1, 8); n > 0; n-- {
		dst = append(dst, pick(&g.r, lang.words)...)
		if n > 1 {
			dst = append(dst, ' ')
		}
	}
	if g.r.pm(200) {
		dst = append(dst, ' ')
		dst = append(dst, pick(&g.r, emoji)...)
	}
	return dst
}

func (g *Generator) appendPrivmsg(dst []byte, c *chanInfo, sentNS int64) []byte {
	r := &g.r
	u := g.pickUser(c)
	ts := g.tick(sentNS)
	reply := r.pm(100)
	shared := r.pm(60)
	action := r.pm(30) && !reply
	cheer := r.pm(15)
	pred := -1
	if r.pm(50) {
		pred = r.intn(len(predictionOutcomes))
	}

	var parent, thread *user
	var parentID, threadID [36]byte
	g.text, g.occ = g.text[:0], g.occ[:0]
	cp := 0
	if reply {
		parent = &g.users[r.intn(len(g.users))]
		parentID = g.recentID()
		thread, threadID = parent, parentID
		if r.pm(400) {
			thread = &g.users[r.intn(len(g.users))]
			threadID = g.recentID()
		}
		g.text = append(g.text, '@')
		g.text = append(g.text, parent.mention...)
		g.text = append(g.text, ' ')
		cp = utf8.RuneCount(g.text)
	}
	bits, emoteOnly := g.appendText(c, cp, cheer)
	emoteOnly = emoteOnly && !reply

	dst = append(dst, '@')
	dst = appendBadges(dst, "", u, 0, pred)
	if bits > 0 {
		dst = append(dst, "bits="...)
		dst = appendInt(dst, bits)
		dst = append(dst, ';')
	}
	if r.pm(700) {
		var nonce [32]byte
		hexTo(nonce[:16], r.next())
		hexTo(nonce[16:], r.next())
		dst = append(dst, "client-nonce="...)
		dst = append(dst, nonce[:]...)
		dst = append(dst, ';')
	}
	dst = append(dst, "color="...)
	dst = append(dst, u.color...)
	if r.pm(5) {
		dst = append(dst, ";custom-reward-id="...)
		var id [36]byte
		copy(id[:], g.newID())
		dst = append(dst, id[:]...)
	}
	dst = append(dst, ";display-name="...)
	dst = append(dst, u.display...)
	if emoteOnly {
		dst = append(dst, ";emote-only=1"...)
	}
	dst = append(dst, ";emotes="...)
	dst = g.appendEmotes(dst)
	dst = append(dst, ";first-msg="...)
	dst = append(dst, bit(r.pm(20)))
	dst = append(dst, ";flags="...)
	if r.pm(20) {
		dst = append(dst, "0-"...)
		dst = appendInt(dst, r.between(2, 6))
		dst = append(dst, ":P.6"...)
	}
	var sourceID [36]byte
	if shared {
		copy(sourceID[:], g.newID()) // a message first seen in another room has its own id there
	}
	dst = append(dst, ";id="...)
	id := g.newID()
	dst = append(dst, id...)
	g.hasID = true
	dst = append(dst, ";mod="...)
	dst = append(dst, bit(u.role == 1))
	if r.pm(3) {
		dst = append(dst, ";msg-id=highlighted-message"...)
	}
	if reply {
		dst = append(dst, ";reply-parent-display-name="...)
		dst = append(dst, parent.display...)
		dst = append(dst, ";reply-parent-msg-body="...)
		if r.pm(400) {
			dst = appendEscaped(dst, pick(r, replyBodies))
		} else {
			g.tmp = g.appendShortText(g.tmp[:0])
			dst = appendEscaped(dst, g.tmp)
		}
		dst = append(dst, ";reply-parent-msg-id="...)
		dst = append(dst, parentID[:]...)
		dst = append(dst, ";reply-parent-user-id="...)
		dst = append(dst, parent.id...)
		dst = append(dst, ";reply-parent-user-login="...)
		dst = append(dst, parent.login...)
		full := r.pm(700) // newer servers also send the thread parent's display name and id
		if full {
			dst = append(dst, ";reply-thread-parent-display-name="...)
			dst = append(dst, thread.display...)
		}
		dst = append(dst, ";reply-thread-parent-msg-id="...)
		dst = append(dst, threadID[:]...)
		if full {
			dst = append(dst, ";reply-thread-parent-user-id="...)
			dst = append(dst, thread.id...)
		}
		dst = append(dst, ";reply-thread-parent-user-login="...)
		dst = append(dst, thread.login...)
	}
	dst = append(dst, ";returning-chatter="...)
	dst = append(dst, bit(r.pm(30)))
	dst = append(dst, ";room-id="...)
	dst = append(dst, c.room...)
	if shared {
		var sourceRoom string
		if r.pm(600) { // sent in a partner's room, mirrored here
			p := g.pool[r.intn(len(g.pool))]
			if p == c {
				p = g.pool[(indexOf(g.pool, c)+1)%len(g.pool)]
			}
			sourceRoom = p.room
		} else { // sent here during a shared session: the source is this message
			sourceRoom = c.room
			copy(sourceID[:], id)
		}
		dst = append(dst, ';')
		if sourceRoom == c.room {
			dst = appendBadges(dst, "source-", u, 0, -1)
		} else {
			dst = append(dst, "source-badge-info=;source-badges="...)
			if r.pm(500) {
				dst = append(dst, "subscriber/"...)
				dst = appendInt(dst, subBadge(r.between(1, 40), 1))
			}
			dst = append(dst, ';')
		}
		dst = append(dst, "source-id="...)
		dst = append(dst, sourceID[:]...)
		if r.pm(500) {
			dst = append(dst, ";source-only="...)
			dst = append(dst, bit(r.pm(100)))
		}
		dst = append(dst, ";source-room-id="...)
		dst = append(dst, sourceRoom...)
	}
	dst = append(dst, ";subscriber="...)
	dst = append(dst, bit(u.months > 0 || u.founder))
	dst = append(dst, ";tmi-sent-ts="...)
	dst = strconv.AppendInt(dst, ts, 10)
	dst = append(dst, ";turbo="...)
	dst = append(dst, bit(u.turbo))
	dst = append(dst, ";user-id="...)
	dst = append(dst, u.id...)
	dst = append(dst, ";user-type="...)
	if u.role == 1 {
		dst = append(dst, "mod"...)
	}
	if u.role == 2 {
		dst = append(dst, ";vip=1"...)
	}
	dst = appendSent(dst, sentNS)
	dst = g.appendSource(dst, u)
	dst = appendTarget(dst, "PRIVMSG", c)
	dst = append(dst, " :"...)
	if action {
		dst = append(dst, "\x01ACTION "...)
		dst = append(dst, g.text...)
		return append(dst, '\x01')
	}
	return append(dst, g.text...)
}

func indexOf(s []*chanInfo, c *chanInfo) int {
	for i, x := range s {
		if x == c {
			return i
		}
	}
	return 0
}

func bit(b bool) byte {
	if b {
		return '1'
	}
	return '0'
}
