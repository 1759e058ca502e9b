package main

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gempir/go-twitch-irc/v4"
)

func TestParseFlags(t *testing.T) {
	tests := []struct {
		args     []string
		channels []string
		conns    int
		wantErr  bool
	}{
		{args: []string{"--channels", "#A, b,,c"}, channels: []string{"a", "b", "c"}, conns: 1},
		{args: []string{"--channel-count", "3", "--channel-prefix", "x", "--connections", "9"}, channels: []string{"x0", "x1", "x2"}, conns: 3},
		{args: []string{"--channel-count", "2", "--connections", "0"}, channels: []string{"ch0", "ch1"}, conns: 1},
		{args: []string{}, wantErr: true},
		{args: []string{"--channels", "a", "--channel-count", "2"}, wantErr: true},
		{args: []string{"--channels", "a", "--join-limit", "fast"}, wantErr: true},
		{args: []string{"--bogus"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			cfg, err := parseFlags(tt.args)
			if (err != nil) != tt.wantErr {
				t.Fatalf("parseFlags(%q) error = %v, want error %v", tt.args, err, tt.wantErr)
			}
			if err == nil && (!slices.Equal(cfg.channels, tt.channels) || cfg.connections != tt.conns) {
				t.Errorf("parseFlags(%q) = channels %q, connections %d; want %q, %d", tt.args, cfg.channels, cfg.connections, tt.channels, tt.conns)
			}
		})
	}
}

func TestBuildEnvelope(t *testing.T) {
	line := `@badge-info=subscriber/12;badges=subscriber/12,moderator/1;color=#AABBCC;display-name=;emotes=25:0-4,8-12;` +
		`id=msg-1;mod=1;room-id=42;subscriber=1;tmi-sent-ts=1700000000000;user-id=7;user-type=mod ` +
		`:viewer!viewer@viewer.tmi.twitch.tv PRIVMSG #chan :Kappa 😂 Kappa`
	m, ok := twitch.ParseMessage(line).(*twitch.PrivateMessage)
	if !ok {
		t.Fatal("ParseMessage did not return a PrivateMessage")
	}
	now := time.Date(2025, 11, 21, 17, 2, 0, 123456789, time.FixedZone("x", 3600))
	data, err := json.Marshal(buildEnvelope(*m, now))
	if err != nil {
		t.Fatal(err)
	}
	var env Envelope
	if err := json.Unmarshal(data, &env); err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		what string
		ok   bool
	}{
		{"ids", len(env.ID) == 36 && env.CorrelationID == env.ID && env.TraceID != env.ID},
		{"timestamp", env.Timestamp == "2025-11-21T16:02:00.123Z"},
		{"source", env.Source == Source{Platform: "twitch", Channel: "chan", ChannelID: "42"}},
		{"user", env.User == User{ID: "7", Name: "viewer", DisplayName: "viewer"}},
		{"routingSlip", strings.Contains(string(data), `"routingSlip":[]`)},
		{"payload", env.Payload.Text == "Kappa 😂 Kappa" && env.Payload.MessageID == "msg-1" && env.Payload.IsMod && env.Payload.IsSubscriber && env.Payload.Color == "#AABBCC"},
		{"badges", slices.Equal(env.Payload.Badges, []string{"moderator", "subscriber"})},
		{"emotes", len(env.Payload.Emotes) == 2 && env.Payload.Emotes[1] == Emote{ID: "25", Name: "Kappa", Start: 8, End: 12}},
		{"raw", env.Payload.Raw.Tags["room-id"] == "42" && len(env.Payload.Raw.Tags) == 12},
	}
	for _, c := range checks {
		if !c.ok {
			t.Errorf("%s wrong in %s", c.what, data)
		}
	}
}
