package corpus

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

var corpusPath = filepath.Join("..", "..", filepath.FromSlash(File))

// line is the minimal split the checks below need; the real parser lives in
// ircv3 and this package must not depend on it.
type line struct {
	tags    map[string]string // raw (escaped) values
	verb    string
	params  []string
	rawTags string
}

func split(t *testing.T, raw []byte) line {
	t.Helper()
	s := string(raw)
	var l line
	l.tags = map[string]string{}
	if strings.HasPrefix(s, "@") {
		i := strings.IndexByte(s, ' ')
		if i < 0 {
			t.Fatalf("tags without a command: %q", s)
		}
		l.rawTags = s[1:i]
		for _, kv := range strings.Split(l.rawTags, ";") {
			k, v, _ := strings.Cut(kv, "=")
			if k == "" {
				t.Fatalf("empty tag key in %q", s)
			}
			if _, dup := l.tags[k]; dup {
				t.Fatalf("duplicate tag %q in %q", k, s)
			}
			l.tags[k] = v
		}
		s = s[i+1:]
	}
	if strings.HasPrefix(s, ":") {
		i := strings.IndexByte(s, ' ')
		s = s[i+1:]
	}
	verb, rest, _ := strings.Cut(s, " ")
	l.verb = verb
	for rest != "" {
		if strings.HasPrefix(rest, ":") {
			l.params = append(l.params, rest[1:])
			break
		}
		p, r, _ := strings.Cut(rest, " ")
		l.params = append(l.params, p)
		rest = r
	}
	return l
}

func TestCorpusFile(t *testing.T) {
	want, err := os.ReadFile(corpusPath)
	if err != nil {
		t.Fatalf("read the committed corpus: %v", err)
	}
	var got bytes.Buffer
	if err := Write(&got, Seed, Lines); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), want) {
		t.Fatalf("Write(%d, %d) differs from %s (%d vs %d bytes): run `go generate ./internal/corpus`",
			Seed, Lines, File, got.Len(), len(want))
	}
	joined := bytes.Join(Generate(Seed, Lines), []byte("\r\n"))
	joined = append(joined, '\r', '\n')
	if !bytes.Equal(joined, want) {
		t.Fatalf("Generate(%d, %d) joined with CR LF differs from Write", Seed, Lines)
	}
}

func TestDeterminism(t *testing.T) {
	a, b := Generate(7, 500), Generate(7, 500)
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			t.Fatalf("Generate(7) line %d differs between runs:\n%s\n%s", i, a[i], b[i])
		}
	}
	c := Generate(8, 500)
	same := 0
	for i := range a {
		if bytes.Equal(a[i], c[i]) {
			same++
		}
	}
	if same > 50 { // PINGs coincide, little else should
		t.Errorf("seeds 7 and 8 share %d of 500 lines", same)
	}
}

func TestMixAndSize(t *testing.T) {
	lines := Generate(Seed, Lines)
	if len(lines) != Lines {
		t.Fatalf("Generate returned %d lines, want %d", len(lines), Lines)
	}
	counts := map[string]int{}
	total := 0
	for _, raw := range lines {
		total += len(raw)
		counts[split(t, raw).verb]++
	}
	share := func(verb string) float64 { return float64(counts[verb]) / float64(len(lines)) }
	if s := share("PRIVMSG"); s < 0.88 || s > 0.92 {
		t.Errorf("PRIVMSG share = %.3f, want 0.88..0.92", s)
	}
	for _, verb := range []string{"USERNOTICE", "CLEARCHAT", "CLEARMSG", "ROOMSTATE", "USERSTATE", "PING"} {
		if s := share(verb); s < 0.005 || s > 0.06 {
			t.Errorf("%s share = %.4f, want 0.005..0.06", verb, s)
		}
	}
	if len(counts) != 7 {
		t.Errorf("verbs = %v, want exactly the seven kinds", counts)
	}
	if avg := float64(total) / float64(len(lines)); avg < 440 || avg > 480 {
		t.Errorf("average line = %.1f bytes, want 440..480", avg)
	}
}

// TestFeatures checks that the corpus holds every shape the benchmarks are
// meant to exercise.
func TestFeatures(t *testing.T) {
	data, err := os.ReadFile(corpusPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, substr string }{
		{"subscriber badge", "badges=subscriber/12"},
		{"predictions badge", "predictions/blue-1"},
		{"predictions badge-info escaped", `predictions/Blue\sTeam`},
		{"vip", ";vip=1"},
		{"moderator", "badges=moderator/1"},
		{"broadcaster", "badges=broadcaster/1"},
		{"empty color", ";color=;"},
		{"empty display name", ";display-name=;"},
		{"CJK display name", ";display-name=김민수;"},
		{"display name with escaped trailing space", `\s;emotes=`},
		{"client nonce", ";client-nonce="},
		{"first message", ";first-msg=1;"},
		{"returning chatter", ";returning-chatter=1;"},
		{"emote-only", ";emote-only=1;"},
		{"bits", ";bits="},
		{"cheer", " Cheer100"},
		{"reply body with backslash", `reply-parent-msg-body=¯\\_(ツ)_/¯;`},
		{"reply body with \\\\s", `reply-parent-msg-body=type\s\\s\sin`},
		{"reply body with \\:", `first\:\ssecond`},
		{"reply body with trailing \\s", `reply-parent-msg-body=trailing\sspace\s;`},
		{"thread parent", ";reply-thread-parent-msg-id="},
		{"shared chat", ";source-room-id="},
		{"shared chat source-only", ";source-only=1"},
		{"shared chat badges", ";source-badges=subscriber/"},
		{"ACTION", " :\x01ACTION "},
		{"emoji", "🏳️‍🌈"},
		{"sub", ";msg-id=sub;"},
		{"resub", ";msg-id=resub;"},
		{"subgift", ";msg-id=subgift;"},
		{"submysterygift", ";msg-id=submysterygift;"},
		{"raid", ";msg-id=raid;"},
		{"announcement", ";msg-id=announcement;"},
		{"escaped system-msg", `\ssubscribed\sat\sTier\s1.\sThey've\ssubscribed\sfor\s`},
		{"timeout", "@ban-duration="},
		{"clear all", " :tmi.twitch.tv CLEARCHAT #"},
		{"CLEARMSG with empty room-id", ";room-id=;target-msg-id="},
		{"ROOMSTATE full", "@emote-only=0;followers-only="},
		{"USERSTATE", " :tmi.twitch.tv USERSTATE #"},
		{"PING", "\r\nPING :tmi.twitch.tv\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !bytes.Contains(data, []byte(tc.substr)) {
				t.Errorf("corpus lacks %q", tc.substr)
			}
		})
	}
	// A CLEARCHAT that clears the whole room has no trailing parameter.
	if !bytes.Contains(data, []byte(" CLEARCHAT #xqc\r\n")) && !bytes.Contains(data, []byte(" CLEARCHAT #kaicenat\r\n")) {
		t.Error("corpus lacks a CLEARCHAT without a target")
	}
}

// TestLinesWellFormed checks every line: valid UTF-8, no CR, LF or NUL, tag
// values escaped, unique ids, and emote ranges that point at the emote's
// code in the text, counted in code points.
func TestLinesWellFormed(t *testing.T) {
	ids := map[string]bool{}
	emoteLines, afterEmoji := 0, 0
	for i, raw := range Generate(Seed, Lines) {
		if !utf8.Valid(raw) || bytes.ContainsAny(raw, "\r\n\x00") {
			t.Fatalf("line %d is not valid UTF-8 or holds CR, LF or NUL: %q", i, raw)
		}
		l := split(t, raw)
		for k, v := range l.tags {
			if strings.ContainsAny(v, " ;") || strings.HasSuffix(strings.ReplaceAll(v, `\\`, ""), `\`) {
				t.Fatalf("line %d: tag %s=%q is not escaped", i, k, v)
			}
		}
		if id, ok := l.tags["id"]; ok {
			if len(id) != 36 || id[14] != '4' || !strings.ContainsRune("89ab", rune(id[19])) {
				t.Fatalf("line %d: id %q is not a version 4 UUID", i, id)
			}
			if ids[id] {
				t.Fatalf("line %d: id %q seen before", i, id)
			}
			ids[id] = true
		}
		if l.verb == "PRIVMSG" {
			for _, k := range []string{"badge-info", "badges", "color", "display-name", "emotes", "first-msg",
				"flags", "id", "mod", "returning-chatter", "room-id", "subscriber", "tmi-sent-ts", "turbo", "user-id", "user-type"} {
				if _, ok := l.tags[k]; !ok {
					t.Fatalf("line %d: PRIVMSG lacks tag %s: %s", i, k, raw)
				}
			}
			if len(l.params) != 2 || !strings.HasPrefix(l.params[0], "#") {
				t.Fatalf("line %d: PRIVMSG params = %q", i, l.params)
			}
			if strings.Contains(l.rawTags, "reply-parent-msg-id=") && !strings.HasPrefix(l.params[1], "@") {
				t.Fatalf("line %d: a reply without its leading @mention: %q", i, l.params[1])
			}
		}
		em := l.tags["emotes"]
		if em == "" {
			continue
		}
		emoteLines++
		text := []rune(strings.TrimSuffix(strings.TrimPrefix(l.params[len(l.params)-1], "\x01ACTION "), "\x01"))
		for _, group := range strings.Split(em, "/") {
			id, ranges, ok := strings.Cut(group, ":")
			if !ok {
				t.Fatalf("line %d: emote group %q", i, group)
			}
			code := ""
			for _, rg := range strings.Split(ranges, ",") {
				a, b, _ := strings.Cut(rg, "-")
				start, err1 := strconv.Atoi(a)
				end, err2 := strconv.Atoi(b)
				if err1 != nil || err2 != nil || start < 0 || end < start || end >= len(text) {
					t.Fatalf("line %d: emote range %q outside the text %q", i, rg, string(text))
				}
				word := string(text[start : end+1])
				if code == "" {
					code = word
				} else if word != code {
					t.Fatalf("line %d: emote %s covers both %q and %q", i, id, code, word)
				}
				if start > 0 && text[start-1] != ' ' || end+1 < len(text) && text[end+1] != ' ' || strings.Contains(word, " ") {
					t.Fatalf("line %d: emote %s range %s is not a whole word: %q", i, id, rg, word)
				}
				if len(string(text[:start])) != start {
					afterEmoji++
				}
			}
		}
	}
	if emoteLines < 3000 || afterEmoji < 100 {
		t.Errorf("%d lines with emotes, %d emotes after multi-byte text; want at least 3000 and 100", emoteLines, afterEmoji)
	}
}

func TestGeneratorSentTime(t *testing.T) {
	g := NewGenerator(42)
	sent := time.Date(2025, 6, 1, 18, 0, 0, 123456789, time.UTC)
	ids := map[string]bool{}
	for i := range 200 {
		raw := g.AppendPrivmsg(nil, "#Some_Channel", sent)
		l := split(t, raw)
		if l.verb != "PRIVMSG" || l.params[0] != "#Some_Channel" {
			t.Fatalf("AppendPrivmsg %d = %s %q, want PRIVMSG to #Some_Channel", i, l.verb, l.params)
		}
		if got, want := l.tags["tmi-sent-ts"], strconv.FormatInt(sent.UnixMilli(), 10); got != want {
			t.Fatalf("tmi-sent-ts = %q, want %q", got, want)
		}
		if got, want := l.tags[SentTag], strconv.FormatInt(sent.UnixNano(), 10); got != want {
			t.Fatalf("%s = %q, want %q", SentTag, got, want)
		}
		if got, want := l.tags["room-id"], strconv.FormatUint(RoomID("Some_Channel"), 10); got != want {
			t.Fatalf("room-id = %q, want RoomID = %q", got, want)
		}
		if id := string(g.LastID(nil)); id != l.tags["id"] || ids[id] {
			t.Fatalf("LastID = %q, id tag %q, seen before %v", id, l.tags["id"], ids[id])
		} else {
			ids[id] = true
		}
		sent = sent.Add(time.Millisecond)
	}
	raw, _ := g.AppendLine(nil, "xqc", time.Time{})
	if bytes.Contains(raw, []byte(SentTag)) {
		t.Errorf("AppendLine without a send time wrote %s: %s", SentTag, raw)
	}
}

func TestGeneratorIDsAcrossSeeds(t *testing.T) {
	ids := map[string]int64{}
	for seed := range int64(20) {
		g := NewGenerator(seed)
		for range 500 {
			g.AppendPrivmsg(nil, "xqc", time.Time{})
			id := string(g.LastID(nil))
			if prev, dup := ids[id]; dup {
				t.Fatalf("id %s from seed %d already made by seed %d", id, seed, prev)
			}
			ids[id] = seed
		}
	}
}

func TestAppendLineKinds(t *testing.T) {
	g := NewGenerator(3)
	seen := map[Kind]int{}
	for range 5000 {
		raw, k := g.AppendLine(nil, "shroud", time.Time{})
		if got := split(t, raw).verb; got != k.String() {
			t.Fatalf("AppendLine kind %v made a %s line: %s", k, got, raw)
		}
		seen[k]++
	}
	for k := Privmsg; k < numKinds; k++ {
		if seen[k] == 0 {
			t.Errorf("no %v in 5000 lines", k)
		}
	}
}

func TestAppendPrivmsgAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under -race")
	}
	g := NewGenerator(5)
	buf := make([]byte, 0, 8192)
	now := time.Unix(1_750_000_000, 0)
	g.AppendPrivmsg(buf, "xqc", now) // learn the channel
	if n := testing.AllocsPerRun(1000, func() { buf = g.AppendPrivmsg(buf[:0], "xqc", now) }); n != 0 {
		t.Errorf("AppendPrivmsg allocates %v times per line, want 0", n)
	}
	if n := testing.AllocsPerRun(1000, func() { buf, _ = g.AppendLine(buf[:0], "xqc", now) }); n != 0 {
		t.Errorf("AppendLine allocates %v times per line, want 0", n)
	}
}

func BenchmarkAppendPrivmsg(b *testing.B) {
	g := NewGenerator(1)
	buf := make([]byte, 0, 8192)
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		buf = g.AppendPrivmsg(buf[:0], "xqc", now)
	}
}
