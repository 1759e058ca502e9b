package main

import (
	"slices"
	"time"

	"github.com/gempir/go-twitch-irc/v4"
	"github.com/google/uuid"
)

// Envelope is the ingress envelope (the seed's §13 shape), written the way a
// Go user would: a plain struct for encoding/json, random google/uuid ids.
type Envelope struct {
	V                       string   `json:"v"`
	ID                      string   `json:"id"`
	CorrelationID           string   `json:"correlationId"`
	TraceID                 string   `json:"traceId"`
	Timestamp               string   `json:"timestamp"`
	Type                    string   `json:"type"`
	Source                  Source   `json:"source"`
	User                    User     `json:"user"`
	RoutingSlip             []string `json:"routingSlip"`
	FinalizationDestination string   `json:"finalizationDestination"`
	Payload                 Payload  `json:"payload"`
}

// Source says where a message came from.
type Source struct {
	Platform  string `json:"platform"`
	Channel   string `json:"channel"`
	ChannelID string `json:"channelId"`
}

// User is the chatter, as far as IRC tells.
type User struct {
	ID              string `json:"id"`
	Name            string `json:"name"`
	DisplayName     string `json:"displayName"`
	ProfileImageURL string `json:"profileImageUrl"`
	Role            string `json:"role"`
}

// Payload is the chat message itself.
type Payload struct {
	Text         string   `json:"text"`
	MessageID    string   `json:"messageId"`
	Badges       []string `json:"badges"`
	IsMod        bool     `json:"isMod"`
	IsSubscriber bool     `json:"isSubscriber"`
	Color        string   `json:"color"`
	Emotes       []Emote  `json:"emotes"`
	Raw          Raw      `json:"raw"`
}

// Emote is one emote occurrence; Start and End are inclusive code-point
// offsets into Text, as Twitch sends them.
type Emote struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	Start int    `json:"start"`
	End   int    `json:"end"`
}

// Raw carries every IRC tag as go-twitch-irc unescaped it.
type Raw struct {
	Tags map[string]string `json:"tags"`
}

// buildEnvelope turns one go-twitch-irc PRIVMSG into an envelope received at
// now.
func buildEnvelope(m twitch.PrivateMessage, now time.Time) Envelope {
	id := uuid.NewString()
	badges := make([]string, 0, len(m.User.Badges))
	for name := range m.User.Badges {
		badges = append(badges, name)
	}
	slices.Sort(badges) // go-twitch-irc keeps badges in a map; sort for a stable order
	emotes := []Emote{}
	for _, e := range m.Emotes {
		for _, p := range e.Positions {
			emotes = append(emotes, Emote{ID: e.ID, Name: e.Name, Start: p.Start, End: p.End})
		}
	}
	display := m.User.DisplayName
	if display == "" {
		display = m.User.Name
	}
	tags := m.Tags
	if tags == nil {
		tags = map[string]string{}
	}
	return Envelope{
		V:             "1",
		ID:            id,
		CorrelationID: id,
		TraceID:       uuid.NewString(),
		Timestamp:     now.UTC().Format("2006-01-02T15:04:05.000Z"),
		Type:          "external.chat.message.v1",
		Source:        Source{Platform: "twitch", Channel: m.Channel, ChannelID: m.RoomID},
		User: User{
			ID:          m.User.ID,
			Name:        m.User.Name,
			DisplayName: display,
		},
		RoutingSlip:             []string{},
		FinalizationDestination: "internal.finalizer.v1",
		Payload: Payload{
			Text:         m.Message,
			MessageID:    m.ID,
			Badges:       badges,
			IsMod:        m.User.IsMod,
			IsSubscriber: m.Tags["subscriber"] == "1",
			Color:        m.User.Color,
			Emotes:       emotes,
			Raw:          Raw{Tags: tags},
		},
	}
}
