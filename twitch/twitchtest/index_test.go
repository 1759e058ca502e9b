package twitchtest

import (
	"bufio"
	"context"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"
)

// discardClient logs in anonymously as login over TCP, joins chans in one JOIN
// and discards what the server writes.
func discardClient(t testing.TB, url, login string, chans []string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(url, "tcp://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	msg := "NICK " + login + "\r\n"
	if len(chans) > 0 {
		msg += "JOIN #" + strings.Join(chans, ",#") + "\r\n"
	}
	if _, err := c.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
	go io.Copy(io.Discard, bufio.NewReader(c))
	return c
}

func waitIndex(t testing.TB, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := Wait(ctx, cond); err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
}

func TestChannelIndex(t *testing.T) {
	s := NewServer(Config{JoinLimit: 5, JoinWindow: time.Hour})
	defer s.Close()
	url, err := s.Listen("tcp")
	if err != nil {
		t.Fatal(err)
	}
	a := discardClient(t, url, "justinfan1", []string{"x", "y", "z"})
	discardClient(t, url, "justinfan2", []string{"y"})
	waitIndex(t, "4 JOINs", func() bool { return s.Stats().Joins == 4 })
	if n := s.JoinedChannels(); n != 3 {
		t.Errorf("JoinedChannels = %d, want 3", n)
	}
	if got := s.ChannelClients("y", nil); len(got) != 2 || got[0].Login() == got[1].Login() {
		t.Errorf("ChannelClients(y) = %d clients, want the two logins", len(got))
	}
	if got := s.ChannelClients("nope", nil); len(got) != 0 {
		t.Errorf("ChannelClients(nope) = %d clients, want 0", len(got))
	}

	// PART drops x from the index; closing the first client drops z and its y.
	if _, err := a.Write([]byte("PART #x\r\n")); err != nil {
		t.Fatal(err)
	}
	waitIndex(t, "the PART", func() bool { return s.JoinedChannels() == 2 })
	a.Close()
	waitIndex(t, "the close", func() bool { return s.JoinedChannels() == 1 })
	if got := s.ChannelClients("y", nil); len(got) != 1 || got[0].Login() != "justinfan2" {
		t.Errorf("after the close, ChannelClients(y) = %d clients, want justinfan2's", len(got))
	}
	if total, most := s.Queued(); total < 0 || most > total {
		t.Errorf("Queued() = %d, %d; want 0 ≤ most ≤ total", total, most)
	}
	// Part on the server's side (a suspension) too.
	s.ChannelClients("y", nil)[0].Part("y")
	if n := s.JoinedChannels(); n != 0 {
		t.Errorf("after Part, JoinedChannels = %d, want 0", n)
	}

	// Per login: 3 JOINs stay within 5 per window; a login sending 6 is
	// counted at 6 and dropped.
	if st := s.Stats(); st.MaxWindowJoins != 3 || st.JoinKicks != 0 {
		t.Errorf("MaxWindowJoins %d, JoinKicks %d; want 3, 0", st.MaxWindowJoins, st.JoinKicks)
	}
	discardClient(t, url, "justinfan3", []string{"a", "b", "c", "d", "e", "f"})
	waitIndex(t, "the kick", func() bool { return s.Stats().JoinKicks == 1 })
	if st := s.Stats(); st.MaxWindowJoins != 6 {
		t.Errorf("MaxWindowJoins %d, want 6", st.MaxWindowJoins)
	}
	waitIndex(t, "the kicked client's channels to leave the index", func() bool { return s.JoinedChannels() == 0 })
}

// BenchmarkChannelClients is the load harness's lookup of a line's
// clients among 100,000 channels.
func BenchmarkChannelClients(b *testing.B) {
	s := NewServer(Config{})
	c := &Client{s: s}
	names := make([]string, 100_000)
	for i := range names {
		names[i] = "ch" + strconv.Itoa(i)
		s.idx.add(names[i], c)
	}
	var dst []*Client
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		dst = s.ChannelClients(names[i%len(names)], dst[:0])
		i++
	}
	if len(dst) != 1 {
		b.Fatal(len(dst))
	}
}

// BenchmarkSendRaw writes 1 KiB lines to one client over loopback TCP, as
// the load harness does to every connection of the service.
func BenchmarkSendRaw(b *testing.B) {
	s := NewServer(Config{JoinLimit: -1})
	defer s.Close()
	url, err := s.Listen("tcp")
	if err != nil {
		b.Fatal(err)
	}
	discardClient(b, url, "justinfan1", []string{"x"})
	waitIndex(b, "the JOIN", func() bool { return s.JoinedChannels() == 1 })
	c := s.ChannelClients("x", nil)[0]
	line := []byte(PrivmsgLine("x", MessageID(1), 1) + strings.Repeat(" Kappa", 100))
	b.SetBytes(int64(len(line) + 2))
	b.ReportAllocs()
	for b.Loop() {
		c.SendRaw(line)
	}
}

// BenchmarkJoinedChannels counts the joined channels of 1,112 clients of 90
// channels each (the load harness polls this every 50 ms while the service
// joins 100,000 channels): from the index, and by walking every client as
// the harness did before the index.
func BenchmarkJoinedChannels(b *testing.B) {
	s := NewServer(Config{})
	for i := range 1112 {
		c := &Client{s: s, id: uint64(i + 1), joined: map[string]bool{}, registered: true}
		s.clients[c] = struct{}{}
		for j := range 90 {
			ch := "ch" + strconv.Itoa(i*90+j)
			c.joined[ch] = true
			s.idx.add(ch, c)
		}
	}
	b.Run("index", func(b *testing.B) {
		for b.Loop() {
			if s.JoinedChannels() != 1112*90 {
				b.Fatal("wrong count")
			}
		}
	})
	b.Run("walk", func(b *testing.B) {
		for b.Loop() {
			seen := map[string]bool{}
			for _, c := range s.Clients() {
				if !c.Registered() || c.Closed() {
					continue
				}
				for _, ch := range c.Channels() {
					seen[ch] = true
				}
			}
			if len(seen) != 1112*90 {
				b.Fatal("wrong count")
			}
		}
	})
}
