package envelope

import (
	"bytes"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/ingress-egress/ingress-egress/ircv3"
)

// This file builds the envelope a second, independent way: plain Go
// values from string operations, written by encoding/json. The
// differential test and FuzzEnvelope require both to decode to the same
// value. Only ircv3.Parse and the tag unescaping are shared (they are
// tested on their own in package ircv3).

type refSource struct {
	Platform  string `json:"platform"`
	Channel   string `json:"channel"`
	ChannelID string `json:"channelId"`
}

type refUser struct {
	ID              string `json:"id"`
	Name            string `json:"name"`
	DisplayName     string `json:"displayName"`
	ProfileImageURL string `json:"profileImageUrl"`
	Role            string `json:"role"`
}

type refEnvelope struct {
	V                       string         `json:"v"`
	ID                      string         `json:"id"`
	CorrelationID           string         `json:"correlationId"`
	TraceID                 string         `json:"traceId"`
	Timestamp               string         `json:"timestamp"`
	Type                    string         `json:"type"`
	Source                  refSource      `json:"source"`
	User                    refUser        `json:"user"`
	RoutingSlip             []string       `json:"routingSlip"`
	FinalizationDestination string         `json:"finalizationDestination"`
	Payload                 map[string]any `json:"payload"`
}

type refTag struct{ key, raw string }

// refInput is one line as the reference sees it.
type refInput struct {
	line string
	m    ircv3.Message
	tags []refTag          // in line order, duplicates included
	last map[string]string // unescaped, last duplicate wins, every key
}

func unescape(raw string) string { return string(ircv3.AppendUnescaped(nil, []byte(raw))) }

func (in *refInput) get(key string) (string, bool) {
	v, ok := in.last[key]
	return v, ok
}

func (in *refInput) val(key string) string { v, _ := in.get(key); return v }

// rawTag returns the raw value of the last occurrence of key.
func (in *refInput) rawTag(key string) (string, bool) {
	for i := len(in.tags) - 1; i >= 0; i-- {
		if in.tags[i].key == key {
			return in.tags[i].raw, true
		}
	}
	return "", false
}

func refDigits(s string, max int) (int64, bool) {
	if len(s) == 0 || len(s) > max {
		return 0, false
	}
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

func refAction(p string) (string, bool) {
	if !strings.HasPrefix(p, "\x01ACTION") {
		return p, false
	}
	rest := p[len("\x01ACTION"):]
	if rest != "" && rest[0] != ' ' && rest[0] != '\x01' {
		return p, false
	}
	rest = strings.TrimPrefix(rest, " ")
	rest = strings.TrimSuffix(rest, "\x01")
	return rest, true
}

func refUUIDv5(name string) string {
	ns, _ := hex.DecodeString(strings.ReplaceAll("6ba7b811-9dad-11d1-80b4-00c04fd430c8", "-", ""))
	h := sha1.Sum(append(ns, "twitch.tv/message-id"...))
	ns = h[:16]
	ns[6], ns[8] = ns[6]&0x0f|0x50, ns[8]&0x3f|0x80
	h = sha1.Sum(append(append([]byte{}, ns...), name...))
	u := h[:16]
	u[6], u[8] = u[6]&0x0f|0x50, u[8]&0x3f|0x80
	s := hex.EncodeToString(u)
	return s[:8] + "-" + s[8:12] + "-" + s[12:16] + "-" + s[16:20] + "-" + s[20:]
}

func refMillis(ms int64) string {
	return time.UnixMilli(ms).UTC().Format("2006-01-02T15:04:05.000Z")
}

// refBuild returns the reference envelope of line, or the error Append
// must give. id and traceID are taken from the encoder only where they are
// random.
func refBuild(line string, kinds Kinds, received time.Time, randomID, traceID string) (*refEnvelope, error) {
	in := &refInput{line: line, last: map[string]string{}}
	if err := in.m.Parse([]byte(line)); err != nil {
		return nil, err
	}
	it := in.m.TagIter()
	for it.Next() {
		k, raw := string(it.Key()), string(it.Value())
		in.tags = append(in.tags, refTag{k, raw})
		in.last[k] = unescape(raw)
	}
	m := &in.m
	cmd := string(m.Command)
	typ := map[string]string{"PRIVMSG": TypeMessage, "USERNOTICE": TypeUsernotice, "CLEARCHAT": TypeModeration, "CLEARMSG": TypeModeration}[cmd]
	kind := map[string]Kinds{"PRIVMSG": Privmsg, "USERNOTICE": Usernotice, "CLEARCHAT": Clearchat, "CLEARMSG": Clearmsg}[cmd]
	if kinds == 0 {
		kinds = Privmsg
	}
	if kind == 0 || kinds&kind == 0 {
		return nil, ErrNotEnabled
	}
	chat := cmd == "PRIVMSG" || cmd == "USERNOTICE"
	param := func(i int) string { return string(m.Param(i)) }
	chParam := param(0)
	if chParam == "*" {
		chParam = ""
	}
	channel, hash := strings.CutPrefix(chParam, "#")
	if channel == "" {
		return nil, ErrNoChannel
	}
	var text string
	var action bool
	if cmd != "CLEARCHAT" && m.NumParams() >= 2 {
		text, action = refAction(param(1))
	}
	if cmd == "PRIVMSG" && text == "" && !action {
		return nil, ErrNoText
	}

	var anomalies []string
	anomaly := func(cond bool, name string) {
		if cond {
			anomalies = append(anomalies, name)
		}
	}

	nick, _, _ := strings.Cut(string(m.Source), "@")
	nick, _, _ = strings.Cut(nick, "!")
	if !strings.ContainsAny(string(m.Source), "!@") && strings.Contains(nick, ".") {
		nick = "" // a server name (tmi.twitch.tv), not a nick
	}
	var login string
	switch cmd {
	case "PRIVMSG":
		login = nick
		if login == "" {
			login = in.val("login")
		}
	case "USERNOTICE", "CLEARMSG":
		login = in.val("login")
	case "CLEARCHAT":
		login = param(1)
	}
	userID := in.val("user-id")
	if cmd == "CLEARCHAT" {
		userID = in.val("target-user-id")
	}
	display := in.val("display-name")
	if display == "" {
		display = login
	}

	env := &refEnvelope{
		V: "1", Type: DefaultTypePrefix + typ,
		Timestamp:               refMillis(received.UnixMilli()),
		TraceID:                 traceID,
		Source:                  refSource{Platform: "twitch", Channel: channel, ChannelID: in.val("room-id")},
		User:                    refUser{ID: userID, Name: login, DisplayName: display},
		RoutingSlip:             []string{},
		FinalizationDestination: DefaultFinalizationDestination,
		Payload:                 map[string]any{},
	}
	if id := in.val("id"); id != "" {
		env.ID = refUUIDv5(id)
	} else {
		env.ID = randomID
	}
	env.CorrelationID = env.ID
	p := env.Payload

	var badgesBad, emotesBad, emotesRange, banBad bool
	if chat {
		p["text"] = text
		p["messageId"] = in.val("id")
		badges := []any{}
		if raw, _ := in.rawTag("badges"); raw != "" {
			for _, item := range strings.Split(raw, ",") {
				name, _, ok := strings.Cut(item, "/")
				if !ok || name == "" {
					badgesBad = true
					continue
				}
				badges = append(badges, unescape(name))
			}
		}
		p["badges"] = badges
		p["isMod"] = in.val("mod") == "1"
		p["isSubscriber"] = in.val("subscriber") == "1"
		p["color"] = in.val("color")
		emotes := []any{}
		runes := []rune(text)
		if raw, _ := in.rawTag("emotes"); raw != "" {
			for _, group := range strings.Split(raw, "/") {
				id, ranges, ok := strings.Cut(group, ":")
				if !ok || id == "" || ranges == "" {
					emotesBad = true
					continue
				}
				for _, r := range strings.Split(ranges, ",") {
					a, b, ok := strings.Cut(r, "-")
					start, ok1 := refDigits(a, 9)
					end, ok2 := refDigits(b, 9)
					if !ok || !ok1 || !ok2 {
						emotesBad = true
						continue
					}
					if start > end || start >= int64(len(runes)) {
						emotesRange = true
						continue
					}
					if end >= int64(len(runes)) {
						end = int64(len(runes)) - 1
						emotesRange = true
					}
					emotes = append(emotes, map[string]any{
						"id": unescape(id), "name": string(runes[start : end+1]),
						"start": float64(start), "end": float64(end),
					})
				}
			}
		}
		p["emotes"] = emotes
		if cmd == "USERNOTICE" {
			p["msgId"] = in.val("msg-id")
			p["systemMsg"] = in.val("system-msg")
			params := map[string]any{}
			for k, v := range in.last {
				if suffix, ok := strings.CutPrefix(k, "msg-param-"); ok && utf8.ValidString(k) {
					params[suffix] = v
				}
			}
			p["msgParams"] = params
		}
	} else if cmd == "CLEARMSG" {
		p["action"] = "delete"
		p["targetUserLogin"] = login
		p["targetMessageId"] = in.val("target-msg-id")
		p["text"] = text
	} else if _, hasTarget := in.get("target-user-id"); login == "" && !hasTarget {
		p["action"] = "clear"
	} else {
		d, hasDur := in.get("ban-duration")
		n, ok := refDigits(d, 18)
		banBad = hasDur && !ok
		p["action"] = "ban"
		if ok {
			p["action"] = "timeout"
			p["durationSeconds"] = float64(n)
		}
		p["targetUserId"] = in.val("target-user-id")
		p["targetUserLogin"] = login
	}

	sentRaw, hasSent := in.get("tmi-sent-ts")
	sent, sentOK := refDigits(sentRaw, 18)
	sentOK = sentOK && sent <= 253402300799999
	bitsRaw, hasBits := in.get("bits")
	bits, bitsOK := refDigits(bitsRaw, 18)

	tags := map[string]any{}
	invalidKey, dup := false, false
	seen := map[string]bool{}
	for _, t := range in.tags {
		dup = dup || seen[t.key]
		seen[t.key] = true
		if !utf8.ValidString(t.key) {
			invalidKey = true
			continue
		}
		tags[t.key] = in.last[t.key]
	}
	raw := map[string]any{"tags": tags}
	p["raw"] = raw
	// A string that is not UTF-8 loses bytes to U+FFFD, and so does a tag
	// whose key is not: then the line goes along in base64.
	bad := invalidKey || !validStrings(env.Source.Channel, env.User.Name, env.User.DisplayName, env.User.ID, env.Source.ChannelID) ||
		!validValue(p)
	anomaly(!hash, "channel-without-hash")
	anomaly(chat && in.val("id") == "", "no-message-id")
	anomaly(chat && login == "", "no-login")
	anomaly(badgesBad, "badges-malformed")
	anomaly(emotesBad, "emotes-malformed")
	anomaly(emotesRange, "emotes-out-of-range")
	anomaly(hasBits && !bitsOK, "bad-bits")
	anomaly(hasSent && !sentOK, "bad-tmi-sent-ts")
	anomaly(banBad, "bad-ban-duration")
	anomaly(dup, "duplicate-tags")
	anomaly(invalidKey, "invalid-tag-key")
	base64Line := bad || len(anomalies) > 0 && !utf8.ValidString(line)
	if base64Line {
		anomalies = append([]string{"invalid-utf8"}, anomalies...)
	}
	if len(anomalies) > 0 {
		list := []any{}
		for _, a := range anomalies {
			list = append(list, a)
		}
		raw["anomalies"] = list
		if base64Line {
			raw["lineBase64"] = base64.StdEncoding.EncodeToString([]byte(line))
		} else {
			raw["line"] = line
		}
	}

	if action {
		p["isAction"] = true
	}
	if bitsOK {
		p["bits"] = float64(bits)
	}
	if sentOK {
		p["sentAt"] = refMillis(sent)
	}
	if in.val("first-msg") == "1" {
		p["firstMessage"] = true
	}
	if in.val("returning-chatter") == "1" {
		p["returningChatter"] = true
	}
	if vip, ok := in.get("vip"); ok && vip != "0" {
		p["isVip"] = true
	}
	if chat {
		broadcaster := in.val("user-id") != "" && in.val("user-id") == in.val("room-id")
		if raw, _ := in.rawTag("badges"); raw != "" {
			for _, item := range strings.Split(raw, ",") {
				if name, _, ok := strings.Cut(item, "/"); ok && unescape(name) == "broadcaster" {
					broadcaster = true
				}
			}
		}
		if broadcaster {
			p["isBroadcaster"] = true
		}
	}
	if _, ok := in.get("reply-parent-msg-id"); ok {
		p["reply"] = map[string]any{
			"parentMessageId":       in.val("reply-parent-msg-id"),
			"parentUserId":          in.val("reply-parent-user-id"),
			"parentUserLogin":       in.val("reply-parent-user-login"),
			"parentDisplayName":     in.val("reply-parent-display-name"),
			"parentText":            in.val("reply-parent-msg-body"),
			"threadParentMessageId": in.val("reply-thread-parent-msg-id"),
		}
	}
	if src, ok := in.get("source-room-id"); ok {
		p["sharedChat"] = map[string]any{
			"sourceRoomId":    src,
			"sourceMessageId": in.val("source-id"),
			"isOrigin":        src == in.val("room-id"),
		}
	}
	return env, nil
}

func validStrings(ss ...string) bool {
	for _, s := range ss {
		if !utf8.ValidString(s) {
			return false
		}
	}
	return true
}

// validValue reports whether every string in v, map keys included, is
// UTF-8.
func validValue(v any) bool {
	switch x := v.(type) {
	case string:
		return utf8.ValidString(x)
	case map[string]any:
		for k, e := range x {
			if !utf8.ValidString(k) || !validValue(e) {
				return false
			}
		}
	case []any:
		for _, e := range x {
			if !validValue(e) {
				return false
			}
		}
	}
	return true
}

// checkAgainstReference encodes line with e and compares it with the
// reference; it returns whether an envelope was written.
func checkAgainstReference(t testing.TB, e *Encoder, kinds Kinds, line []byte, received time.Time) bool {
	t.Helper()
	out, err := e.AppendLine([]byte("prefix"), line, received)
	if !bytes.HasPrefix(out, []byte("prefix")) {
		t.Fatalf("Append(%q) lost dst's contents", line)
	}
	out = out[len("prefix"):]
	ref, refErr := refBuild(string(line), kinds, received, e.ID().String(), e.TraceID().String())
	if refErr != nil || err != nil {
		if err != refErr {
			t.Fatalf("Append(%q) error %v, reference %v", line, err, refErr)
		}
		if len(out) != 0 {
			t.Fatalf("Append(%q) wrote %q with error %v", line, out, err)
		}
		return false
	}
	if !json.Valid(out) {
		t.Fatalf("Append(%q) wrote invalid JSON: %s", line, out)
	}
	want, err := json.Marshal(ref)
	if err != nil {
		t.Fatal(err)
	}
	var gotV, wantV any
	if err := json.Unmarshal(out, &gotV); err != nil {
		t.Fatalf("Append(%q): %v", line, err)
	}
	if err := json.Unmarshal(want, &wantV); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(gotV, wantV) {
		t.Fatalf("Append(%q) differs from the reference\n got %s\nwant %s", line, out, want)
	}
	return true
}
