package bench

import (
	"bytes"
	"os"
	"reflect"
	"sync"
	"testing"

	"github.com/ergochat/irc-go/ircmsg"
	twitch "github.com/gempir/go-twitch-irc/v4"

	"github.com/ingress-egress/ingress-egress/ircv3"
)

const corpusFile = "../ircv3/testdata/twitch-corpus.irc"

type corpusData struct {
	lines   [][]byte
	strs    []string // the same lines, for the peers' string APIs
	avgSize int64
}

var loadOnce = sync.OnceValues(func() (*corpusData, error) {
	data, err := os.ReadFile(corpusFile)
	if err != nil {
		return nil, err
	}
	c := &corpusData{}
	total := 0
	for len(data) > 0 {
		var line []byte
		line, data = ircv3.NextLine(data)
		if len(line) == 0 {
			continue
		}
		c.lines = append(c.lines, line)
		c.strs = append(c.strs, string(line))
		total += len(line)
	}
	c.avgSize = int64(total / len(c.lines))
	return c, nil
})

func load(tb testing.TB) *corpusData {
	tb.Helper()
	c, err := loadOnce()
	if err != nil {
		tb.Fatalf("load corpus: %v", err)
	}
	if len(c.lines) < 10000 {
		tb.Fatalf("corpus has %d lines, want at least 10000", len(c.lines))
	}
	return c
}

// atoms is what the split baseline finds: no validation, no tag handling.
type atoms struct {
	tags, source, command []byte
	params                [ircv3.MaxParams][]byte
	n                     int
}

// split cuts line by IndexByte only; it assumes a well-formed line.
func split(line []byte, a *atoms) {
	a.n = 0
	if len(line) > 0 && line[0] == '@' {
		i := bytes.IndexByte(line, ' ')
		a.tags, line = line[1:i], line[i+1:]
	}
	if len(line) > 0 && line[0] == ':' {
		i := bytes.IndexByte(line, ' ')
		a.source, line = line[1:i], line[i+1:]
	}
	i := bytes.IndexByte(line, ' ')
	if i < 0 {
		a.command = line
		return
	}
	a.command, line = line[:i], line[i+1:]
	for len(line) > 0 && a.n < len(a.params) {
		if line[0] == ':' || a.n == len(a.params)-1 {
			a.params[a.n] = line[1:]
			a.n++
			return
		}
		i := bytes.IndexByte(line, ' ')
		if i < 0 {
			a.params[a.n] = line
			a.n++
			return
		}
		a.params[a.n], line = line[:i], line[i+1:]
		a.n++
	}
}

// Sinks keep the compiler from dropping the work.
var (
	sinkOurs   ircv3.Message
	sinkErgo   ircmsg.Message
	sinkTwitch twitch.Message
	sinkAtoms  atoms
	sinkErr    error
)

func BenchmarkParse(b *testing.B) {
	c := load(b)
	n := len(c.lines)
	bench := func(name string, parse func(i int)) {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(c.avgSize)
			i := 0
			for b.Loop() {
				parse(i)
				if i++; i == n {
					i = 0
				}
			}
		})
	}
	bench("ours", func(i int) { sinkOurs, sinkErr = ircv3.Parse(c.lines[i]) })
	bench("ergochat", func(i int) { sinkErgo, sinkErr = ircmsg.ParseLine(c.strs[i]) })
	bench("gotwitchirc", func(i int) { sinkTwitch = twitch.ParseMessage(c.strs[i]) })
	bench("split", func(i int) { split(c.lines[i], &sinkAtoms) })
}

// TestParsersAgree makes sure the benchmarks compare the same work: every
// parser accepts every corpus line, go-twitch-irc recognises every kind, and
// ours and ergochat agree on every atom, tags unescaped.
func TestParsersAgree(t *testing.T) {
	c := load(t)
	var val []byte
	for i, line := range c.lines {
		m, err := ircv3.Parse(line)
		if err != nil {
			t.Fatalf("line %d: ircv3.Parse: %v\n%s", i, err, line)
		}
		e, err := ircmsg.ParseLine(c.strs[i])
		if err != nil {
			t.Fatalf("line %d: ircmsg.ParseLine: %v\n%s", i, err, line)
		}
		if string(m.Command) != e.Command || string(m.Source) != e.Source {
			t.Fatalf("line %d: command/source %q %q, ergochat %q %q", i, m.Command, m.Source, e.Command, e.Source)
		}
		var params []string
		for _, p := range m.Params() {
			params = append(params, string(p))
		}
		if len(params) != len(e.Params) || len(params) > 0 && !reflect.DeepEqual(params, e.Params) {
			t.Fatalf("line %d: params %q, ergochat %q", i, params, e.Params)
		}
		tags := map[string]string{}
		for it := m.TagIter(); it.Next(); {
			val = ircv3.AppendUnescaped(val[:0], it.Value())
			tags[string(it.Key())] = string(val)
		}
		if want := e.AllTags(); !reflect.DeepEqual(tags, want) {
			t.Fatalf("line %d: tags\n%v\nergochat\n%v", i, tags, want)
		}

		var a atoms
		split(line, &a)
		if string(a.command) != e.Command || a.n != len(e.Params) {
			t.Fatalf("line %d: split baseline found %q with %d params, want %q with %d", i, a.command, a.n, e.Command, len(e.Params))
		}

		switch tm := twitch.ParseMessage(c.strs[i]).(type) {
		case *twitch.PrivateMessage, *twitch.UserNoticeMessage, *twitch.ClearChatMessage, *twitch.ClearMessage,
			*twitch.RoomStateMessage, *twitch.UserStateMessage, *twitch.PingMessage:
		default:
			t.Fatalf("line %d: twitch.ParseMessage gave %T\n%s", i, tm, line)
		}
	}
}

// TestOursDoesNotAllocate repeats the 0 allocs/op guard of BenchmarkParse/ours
// over the whole corpus, so that `go test` alone catches a regression.
func TestOursDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under -race")
	}
	c := load(t)
	i := 0
	allocs := testing.AllocsPerRun(len(c.lines), func() {
		sinkOurs, sinkErr = ircv3.Parse(c.lines[i%len(c.lines)])
		i++
	})
	if allocs != 0 {
		t.Errorf("ircv3.Parse over the corpus: %v allocs per line, want 0", allocs)
	}
}
