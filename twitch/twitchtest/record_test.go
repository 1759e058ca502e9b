package twitchtest

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"
)

// rawClient is a hand-driven TCP client of the fake server.
type rawClient struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
}

func dialRaw(t *testing.T, url, nick string, channels ...string) *rawClient {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(url, "tcp://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	rc := &rawClient{t: t, c: c, r: bufio.NewReader(c)}
	rc.send("NICK " + nick)
	rc.until(" 376 ")
	for _, ch := range channels {
		rc.send("JOIN #" + ch)
		rc.until(" ROOMSTATE #" + ch)
	}
	return rc
}

func (rc *rawClient) send(line string) {
	rc.t.Helper()
	if _, err := rc.c.Write([]byte(line + "\r\n")); err != nil {
		rc.t.Fatal(err)
	}
}

// line reads one line within 5 s.
func (rc *rawClient) line() (string, error) {
	rc.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	l, err := rc.r.ReadString('\n')
	return strings.TrimRight(l, "\r\n"), err
}

// until reads lines until one contains sub.
func (rc *rawClient) until(sub string) string {
	rc.t.Helper()
	for range 100 {
		l, err := rc.line()
		if err != nil {
			rc.t.Fatalf("waiting for %q: %v", sub, err)
		}
		if strings.Contains(l, sub) {
			return l
		}
	}
	rc.t.Fatalf("no line with %q in 100", sub)
	return ""
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := Wait(ctx, cond); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// TestRecordPrivmsgs: every PRIVMSG written is recorded with its id,
// channel, client and place, in order; other lines are not; a connection's
// record says who ended it.
func TestRecordPrivmsgs(t *testing.T) {
	s := NewServer(Config{Record: true})
	defer s.Close()
	url, err := s.Listen("tcp")
	if err != nil {
		t.Fatal(err)
	}
	a := dialRaw(t, url, "justinfan1", "one", "two")
	b := dialRaw(t, url, "justinfan2", "two")
	ids := map[string]int{}
	g := s.Generate(context.Background(), Gen{Channels: []string{"one", "two"}, Count: 300, OnSent: func(id string, clients int) {
		ids[id] = clients
	}})
	if g != 300 {
		t.Fatalf("generated %d", g)
	}
	want := 0
	for _, n := range ids {
		want += n
	}
	for _, c := range []*rawClient{a, b} {
		for range 150 {
			c.until("PRIVMSG")
		}
	}
	a.until("PRIVMSG") // a has 300, b 150
	waitFor(t, "every write recorded", func() bool { return len(s.Records(0)) == want })
	recs := s.Records(0)
	seq := map[uint64]int{}
	for _, r := range recs {
		if _, ok := ids[r.ID]; !ok {
			t.Fatalf("record of an id never generated: %+v", r)
		}
		if r.Seq != seq[r.Client] {
			t.Errorf("record %+v: seq %d, want %d", r, r.Seq, seq[r.Client])
		}
		seq[r.Client]++
		if r.At.IsZero() || r.Failed || (r.Channel != "one" && r.Channel != "two") {
			t.Errorf("record %+v", r)
		}
	}
	if seq[1] != 300 || seq[2] != 150 {
		t.Errorf("records per client %v, want 300 and 150", seq)
	}
	if got := s.Records(len(recs) - 2); len(got) != 2 || got[1] != recs[len(recs)-1] {
		t.Errorf("Records(n-2) = %+v", got)
	}

	b.send("QUIT")
	s.Clients()[0].Close()
	waitFor(t, "both ended", func() bool {
		cs := s.Conns()
		return len(cs) == 2 && !cs[0].Ended.IsZero() && !cs[1].Ended.IsZero()
	})
	cs := s.Conns()
	if cs[0].Client != 1 || cs[0].EndedBy != EndServer || cs[1].Client != 2 || cs[1].EndedBy != EndClient {
		t.Errorf("conns %+v, want 1 ended by the server, 2 by the client", cs)
	}
}

// TestDropQueue: a client that stops reading is dropped once its queue
// reaches the bound; Send never blocks.
func TestDropQueue(t *testing.T) {
	s := NewServer(Config{Record: true, DropQueue: 100, SendBuffer: 4096})
	defer s.Close()
	url, err := s.Listen("tcp")
	if err != nil {
		t.Fatal(err)
	}
	c := dialRaw(t, url, "justinfan1", "one")
	_ = c // reads nothing from here on
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sent := s.Generate(ctx, Gen{Channels: []string{"one"}, Count: 20000})
	if sent != 20000 {
		t.Fatalf("generated %d of 20000 within 10 s: Send blocked", sent)
	}
	waitFor(t, "the slow reader dropped", func() bool { return s.Stats().SlowDrops == 1 })
	cs := s.Conns()
	if len(cs) != 1 || cs[0].EndedBy != EndServer || !strings.Contains(cs[0].Reason, "slow reader") {
		t.Errorf("conns %+v, want one dropped by the server as a slow reader", cs)
	}
	if n := len(s.Records(0)); n >= 20000 {
		t.Errorf("%d of 20000 lines written to a client that reads nothing", n)
	}
}

// TestMutePings: muted, the server answers no PING but keeps sending.
func TestMutePings(t *testing.T) {
	s := NewServer(Config{})
	defer s.Close()
	url, err := s.Listen("tcp")
	if err != nil {
		t.Fatal(err)
	}
	c := dialRaw(t, url, "justinfan1", "one")
	s.MutePings(true)
	c.send("PING :a")
	waitFor(t, "PING :a read", func() bool { return s.Stats().Pings == 1 })
	s.Broadcast("one", PrivmsgLine("one", MessageID(1), 1))
	if l := c.until("PRIVMSG"); strings.Contains(l, "PONG") {
		t.Fatalf("got %q", l)
	}
	s.MutePings(false)
	c.send("PING :b")
	if l := c.until("PONG"); !strings.HasSuffix(l, ":b") {
		t.Errorf("PONG %q, want the answer to PING :b", l)
	}
	if st := s.Stats(); st.Pings != 2 {
		t.Errorf("pings %d, want 2", st.Pings)
	}
}

// TestCutMidLine: the client gets the lines written before, then the
// start of a line, then EOF (FIN) or a reset (RST).
func TestCutMidLine(t *testing.T) {
	for _, rst := range []bool{false, true} {
		name := "FIN"
		if rst {
			name = "RST"
		}
		t.Run(name, func(t *testing.T) {
			s := NewServer(Config{Record: true})
			defer s.Close()
			url, err := s.Listen("tcp")
			if err != nil {
				t.Fatal(err)
			}
			c := dialRaw(t, url, "justinfan1", "one")
			s.Broadcast("one", PrivmsgLine("one", MessageID(1), 1))
			c.until("PRIVMSG")
			if err := s.Clients()[0].CutMidLine([]byte("@id=partial :x PRIVMSG #one :cut he"), rst); err != nil {
				t.Fatal(err)
			}
			rest, err := c.line()
			if rest != "@id=partial :x PRIVMSG #one :cut he" {
				t.Errorf("after the cut: %q, want the partial line", rest)
			}
			switch {
			case !rst && err != io.EOF:
				t.Errorf("FIN: read error %v, want EOF", err)
			case rst && !errors.Is(err, syscall.ECONNRESET):
				t.Errorf("RST: read error %v, want a reset", err)
			}
			if cs := s.Conns(); len(cs) != 1 || cs[0].EndedBy != EndServer || !strings.Contains(cs[0].Reason, name) {
				t.Errorf("conns %+v", cs)
			}
			if recs := s.Records(0); len(recs) != 1 {
				t.Errorf("records %+v, want the one whole PRIVMSG", recs)
			}
		})
	}
}

func TestPrivmsgID(t *testing.T) {
	for _, tc := range []struct {
		line, id, ch string
		ok           bool
	}{
		{PrivmsgLine("chan", MessageID(7), 7), MessageID(7), "chan", true},
		{"@id=abc :u!u@u PRIVMSG #c :hi", "abc", "c", true},
		{"@a=1;id=x;b=2 :u PRIVMSG #c", "x", "c", true},
		{"@client-nonce=1;id= :u PRIVMSG #c :x", "", "", false},
		{":u PRIVMSG #c :no tags", "", "", false},
		{"@id=1 :tmi.twitch.tv USERNOTICE #c :x", "", "", false},
		{"@id=1", "", "", false},
	} {
		id, ch, ok := privmsgID([]byte(tc.line))
		if id != tc.id || ch != tc.ch || ok != tc.ok {
			t.Errorf("privmsgID(%q) = %q, %q, %v; want %q, %q, %v", tc.line, id, ch, ok, tc.id, tc.ch, tc.ok)
		}
	}
}
