package peers

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ingress-egress/ingress-egress/bench/loss"
)

// ircServer is a tiny Twitch-shaped IRC server on 127.0.0.1: enough
// registration (CAP LS/REQ/END, PASS, NICK, USER → 001..004, 375, 372, 376)
// and JOIN handling (echo, NAMES, ROOMSTATE) for go-twitch-irc and Twurple to
// join, and a way to push tagged PRIVMSGs to whichever connection joined a
// channel. It is stopped when the test ends.
type ircServer struct {
	ln net.Listener
	wg sync.WaitGroup

	mu     sync.Mutex
	closed bool
	conns  map[*ircConn]struct{}
	joined map[string]*ircConn // channel → the connection that joined it
	change chan struct{}       // a token after each JOIN
}

type ircConn struct {
	c   net.Conn
	wmu sync.Mutex
}

func (ic *ircConn) write(lines ...string) error {
	ic.wmu.Lock()
	defer ic.wmu.Unlock()
	var b strings.Builder
	for _, l := range lines {
		b.WriteString(l)
		b.WriteString("\r\n")
	}
	_ = ic.c.SetWriteDeadline(time.Now().Add(10 * time.Second))
	_, err := ic.c.Write([]byte(b.String()))
	return err
}

func startIRC(t *testing.T) *ircServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("irc listen: %v", err)
	}
	s := &ircServer{ln: ln, conns: map[*ircConn]struct{}{}, joined: map[string]*ircConn{}, change: make(chan struct{}, 1)}
	s.wg.Go(s.accept)
	t.Cleanup(s.close)
	return s
}

func (s *ircServer) addr() string { return s.ln.Addr().String() }

func (s *ircServer) close() {
	s.mu.Lock()
	s.closed = true
	for ic := range s.conns {
		_ = ic.c.Close()
	}
	s.mu.Unlock()
	_ = s.ln.Close()
	s.wg.Wait()
}

func (s *ircServer) accept() {
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		ic := &ircConn{c: c}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			_ = c.Close()
			return
		}
		s.conns[ic] = struct{}{}
		s.mu.Unlock()
		s.wg.Go(func() { s.serve(ic) })
	}
}

func (s *ircServer) serve(ic *ircConn) {
	defer func() {
		_ = ic.c.Close()
		s.mu.Lock()
		delete(s.conns, ic)
		for ch, owner := range s.joined {
			if owner == ic {
				delete(s.joined, ch)
			}
		}
		s.mu.Unlock()
	}()
	sc := bufio.NewScanner(ic.c)
	sc.Buffer(make([]byte, 4096), 64*1024)
	var nick string
	capNegotiating, capEnded, welcomed := false, false, false
	for sc.Scan() {
		cmd, rest, _ := strings.Cut(strings.TrimRight(sc.Text(), "\r"), " ")
		var err error
		switch strings.ToUpper(cmd) {
		case "CAP":
			sub, args, _ := strings.Cut(rest, " ")
			switch strings.ToUpper(sub) {
			case "LS":
				capNegotiating = true
				err = ic.write(":tmi.twitch.tv CAP * LS :twitch.tv/membership twitch.tv/tags twitch.tv/commands")
			case "REQ":
				err = ic.write(":tmi.twitch.tv CAP * ACK " + args)
			case "END":
				capEnded = true
			}
		case "NICK":
			nick = strings.TrimPrefix(rest, ":")
		case "JOIN":
			for ch := range strings.SplitSeq(strings.TrimPrefix(rest, ":"), ",") {
				ch = strings.TrimPrefix(strings.TrimSpace(ch), "#")
				if ch == "" {
					continue
				}
				err = ic.write(
					fmt.Sprintf(":%s!%s@%s.tmi.twitch.tv JOIN #%s", nick, nick, nick, ch),
					fmt.Sprintf(":%s.tmi.twitch.tv 353 %s = #%s :%s", nick, nick, ch, nick),
					fmt.Sprintf(":%s.tmi.twitch.tv 366 %s #%s :End of /NAMES list", nick, nick, ch),
					fmt.Sprintf("@emote-only=0;followers-only=-1;r9k=0;room-id=%d;slow=0;subs-only=0 :tmi.twitch.tv ROOMSTATE #%s", roomID(ch), ch),
				)
				s.mu.Lock()
				s.joined[ch] = ic
				s.mu.Unlock()
				select {
				case s.change <- struct{}{}:
				default:
				}
			}
		case "PING":
			err = ic.write(":tmi.twitch.tv PONG tmi.twitch.tv " + rest)
		case "QUIT":
			return
		}
		if err != nil {
			return
		}
		if !welcomed && nick != "" && (!capNegotiating || capEnded) {
			welcomed = true
			if ic.write(
				":tmi.twitch.tv 001 "+nick+" :Welcome, GLHF!",
				":tmi.twitch.tv 002 "+nick+" :Your host is tmi.twitch.tv",
				":tmi.twitch.tv 003 "+nick+" :This server is rather new",
				":tmi.twitch.tv 004 "+nick+" :-",
				":tmi.twitch.tv 375 "+nick+" :-",
				":tmi.twitch.tv 372 "+nick+" :You are in a maze of twisty passages, all alike.",
				":tmi.twitch.tv 376 "+nick+" :>",
			) != nil {
				return
			}
		}
	}
}

func roomID(ch string) int {
	h := 0
	for _, b := range []byte(ch) {
		h = (h*31 + int(b)) % 1_000_000
	}
	return 10_000_000 + h
}

// waitJoined waits until every channel is joined, the deadline passes, or
// exited is closed (the peer died).
func (s *ircServer) waitJoined(channels []string, timeout time.Duration, exited <-chan struct{}) error {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		missing := 0
		for _, ch := range channels {
			if s.joined[ch] == nil {
				missing++
			}
		}
		s.mu.Unlock()
		if missing == 0 {
			return nil
		}
		select {
		case <-s.change:
		case <-deadline.C:
			return fmt.Errorf("%d of %d channels not joined after %v", missing, len(channels), timeout)
		case <-exited:
			return errors.New("peer exited before joining")
		}
	}
}

// chatLine is one PRIVMSG the server sent, for checking envelopes.
type chatLine struct {
	id, channel, login, text string
	action, emoji            bool
}

// sendChat writes k PRIVMSGs round-robin over channels, each to the
// connection that joined its channel, and records each in chk. Every 7th is
// a /me action, every 5th has an emoji before a second Kappa.
func (s *ircServer) sendChat(k int, channels []string, chk *loss.Checker) (map[string]chatLine, error) {
	sent := make(map[string]chatLine, k)
	for i := range k {
		ch := channels[i%len(channels)]
		s.mu.Lock()
		ic := s.joined[ch]
		s.mu.Unlock()
		if ic == nil {
			return sent, fmt.Errorf("channel %s not joined", ch)
		}
		l := chatLine{id: uuid.NewString(), channel: ch, login: fmt.Sprint("viewer", i%13)}
		emotes := "25:0-4"
		l.text = fmt.Sprintf("Kappa hello %d", i)
		if i%5 == 0 {
			l.emoji = true
			l.text = fmt.Sprintf("Kappa 😂 Kappa %d", i)
			emotes = "25:0-4,8-12"
		}
		trailing := l.text
		if i%7 == 0 {
			l.action = true
			trailing = "\x01ACTION " + l.text + "\x01"
		}
		line := fmt.Sprintf("@badge-info=subscriber/12;badges=subscriber/12,premium/1;client-nonce=n\\s%d;color=#1E90FF;"+
			"display-name=Viewer%d;emotes=%s;first-msg=0;flags=;id=%s;mod=0;returning-chatter=0;room-id=%d;"+
			"subscriber=1;tmi-sent-ts=%d;turbo=0;user-id=%d;user-type= :%s!%s@%s.tmi.twitch.tv PRIVMSG #%s :%s",
			i, i%13, emotes, l.id, roomID(ch), time.Now().UnixMilli(), 500+i%13, l.login, l.login, l.login, ch, trailing)
		chk.Sent(loss.Sent{ID: l.id, Channel: ch, At: time.Now(), Connected: true})
		if err := ic.write(line); err != nil {
			return sent, fmt.Errorf("write to %s: %w", ch, err)
		}
		sent[l.id] = l
	}
	return sent, nil
}
