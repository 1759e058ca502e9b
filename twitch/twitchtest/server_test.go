package twitchtest

import (
	"bufio"
	"net"
	"strings"
	"testing"
	"time"
)

func TestCapLS(t *testing.T) {
	tests := []struct {
		name, send, want string
	}{
		{"ls 302", "CAP LS 302", ":tmi.twitch.tv CAP * LS :twitch.tv/membership twitch.tv/tags twitch.tv/commands"},
		{"ls", "CAP LS", ":tmi.twitch.tv CAP * LS :twitch.tv/membership twitch.tv/tags twitch.tv/commands"},
		{"req", "CAP REQ :twitch.tv/tags", ":tmi.twitch.tv CAP * ACK :twitch.tv/tags"},
	}
	s := NewServer(Config{})
	defer s.Close()
	url, err := s.Listen("tcp")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := net.Dial("tcp", strings.TrimPrefix(url, "tcp://"))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(5 * time.Second))
			if _, err := c.Write([]byte(tt.send + "\r\n")); err != nil {
				t.Fatal(err)
			}
			got, err := bufio.NewReader(c).ReadString('\n')
			if err != nil {
				t.Fatalf("%s: no answer: %v", tt.send, err)
			}
			if got = strings.TrimRight(got, "\r\n"); got != tt.want {
				t.Errorf("%s: answer %q, want %q", tt.send, got, tt.want)
			}
		})
	}
}
