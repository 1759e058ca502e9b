package tagindex

import (
	"encoding/binary"
	"math/bits"
)

// Key names a tag Twitch defines. Index.Get(k) returns its raw value.
type Key uint8

// The tags the model knows, from Twitch's IRC tag reference. Any other tag
// (msg-param-*, new ones) is still seen by Unique. tmi.TagKey gives each
// its public name (tmi.TagBadges for Badges).
const (
	AnimationID Key = iota
	BadgeInfo
	Badges
	BanDuration
	Bits
	ClientNonce
	Color
	CustomRewardID
	DisplayName
	EmoteOnly
	EmoteSets
	Emotes
	FirstMsg
	Flags
	FollowersOnly
	ID
	Login
	MessageID
	Mod
	MsgID
	PinnedChatPaidAmount
	PinnedChatPaidCurrency
	PinnedChatPaidExponent
	PinnedChatPaidIsSystemMessage
	PinnedChatPaidLevel
	R9K
	ReplyParentDisplayName
	ReplyParentMsgBody
	ReplyParentMsgID
	ReplyParentUserID
	ReplyParentUserLogin
	ReplyThreadParentDisplayName
	ReplyThreadParentMsgID
	ReplyThreadParentUserID
	ReplyThreadParentUserLogin
	ReturningChatter
	RoomID
	Slow
	SourceBadgeInfo
	SourceBadges
	SourceID
	SourceMsgID
	SourceOnly
	SourceRoomID
	SubsOnly
	Subscriber
	SystemMsg
	TargetMsgID
	TargetUserID
	ThreadID
	TmiSentTS
	Turbo
	UserID
	UserType
	VIP

	numKeys
)

// Unknown is the Key of a tag the model does not know.
const Unknown = numKeys

var tagNames = [numKeys]string{
	AnimationID:                   "animation-id",
	BadgeInfo:                     "badge-info",
	Badges:                        "badges",
	BanDuration:                   "ban-duration",
	Bits:                          "bits",
	ClientNonce:                   "client-nonce",
	Color:                         "color",
	CustomRewardID:                "custom-reward-id",
	DisplayName:                   "display-name",
	EmoteOnly:                     "emote-only",
	EmoteSets:                     "emote-sets",
	Emotes:                        "emotes",
	FirstMsg:                      "first-msg",
	Flags:                         "flags",
	FollowersOnly:                 "followers-only",
	ID:                            "id",
	Login:                         "login",
	MessageID:                     "message-id",
	Mod:                           "mod",
	MsgID:                         "msg-id",
	PinnedChatPaidAmount:          "pinned-chat-paid-amount",
	PinnedChatPaidCurrency:        "pinned-chat-paid-currency",
	PinnedChatPaidExponent:        "pinned-chat-paid-exponent",
	PinnedChatPaidIsSystemMessage: "pinned-chat-paid-is-system-message",
	PinnedChatPaidLevel:           "pinned-chat-paid-level",
	R9K:                           "r9k",
	ReplyParentDisplayName:        "reply-parent-display-name",
	ReplyParentMsgBody:            "reply-parent-msg-body",
	ReplyParentMsgID:              "reply-parent-msg-id",
	ReplyParentUserID:             "reply-parent-user-id",
	ReplyParentUserLogin:          "reply-parent-user-login",
	ReplyThreadParentDisplayName:  "reply-thread-parent-display-name",
	ReplyThreadParentMsgID:        "reply-thread-parent-msg-id",
	ReplyThreadParentUserID:       "reply-thread-parent-user-id",
	ReplyThreadParentUserLogin:    "reply-thread-parent-user-login",
	ReturningChatter:              "returning-chatter",
	RoomID:                        "room-id",
	Slow:                          "slow",
	SourceBadgeInfo:               "source-badge-info",
	SourceBadges:                  "source-badges",
	SourceID:                      "source-id",
	SourceMsgID:                   "source-msg-id",
	SourceOnly:                    "source-only",
	SourceRoomID:                  "source-room-id",
	SubsOnly:                      "subs-only",
	Subscriber:                    "subscriber",
	SystemMsg:                     "system-msg",
	TargetMsgID:                   "target-msg-id",
	TargetUserID:                  "target-user-id",
	ThreadID:                      "thread-id",
	TmiSentTS:                     "tmi-sent-ts",
	Turbo:                         "turbo",
	UserID:                        "user-id",
	UserType:                      "user-type",
	VIP:                           "vip",
}

// String returns the tag's name as Twitch writes it.
func (k Key) String() string {
	if k < numKeys {
		return tagNames[k]
	}
	return ""
}

// The key lookup is an open-addressed table indexed by a multiplicative
// hash of the key's length and its first and last 8 bytes, the words the
// scanner has at hand, verified by comparing those words (and, for keys
// longer than 16 bytes, the bytes between them): a string switch over 55
// keys cost a binary search per tag, a byte hash and a string comparison
// a call each (BenchmarkViewReset in twitch/tmi).
const keyTableBits = 8

type keyEntry struct {
	first, last uint64 // the name's first and last 8 bytes (zero-padded when shorter)
	n           uint8  // its length; 0 for an empty slot
	k           Key
}

var keyTable [1 << keyTableBits]keyEntry

func keyHash(first, last uint64, n int) uint {
	h := (first ^ bits.RotateLeft64(last, 29) ^ uint64(n)<<56) * 0x9E3779B97F4A7C15
	return uint(h >> (64 - keyTableBits))
}

// keyWords returns the first and last 8 bytes of key (zero-padded when it
// is shorter than 8, then both the same word).
func keyWords(key []byte) (first, last uint64) {
	if len(key) >= 8 {
		return binary.LittleEndian.Uint64(key), binary.LittleEndian.Uint64(key[len(key)-8:])
	}
	var b [8]byte
	copy(b[:], key)
	first = binary.LittleEndian.Uint64(b[:])
	return first, first
}

func init() {
	for k, name := range tagNames {
		first, last := keyWords([]byte(name))
		h := keyHash(first, last, len(name))
		for keyTable[h].n != 0 {
			h = (h + 1) % (1 << keyTableBits)
		}
		keyTable[h] = keyEntry{first, last, uint8(len(name)), Key(k)}
	}
}

// Lookup returns the Key named key, or Unknown.
func Lookup(key []byte) Key {
	if len(key) == 0 || len(key) > 255 {
		return numKeys
	}
	first, last := keyWords(key)
	return lookupWords(key, first, last)
}

// lookupWords is Lookup with the key's words (keyWords) at hand. The
// first probe of a key of up to 16 bytes (the two words are the whole key)
// is small enough to be inlined; longer keys, collisions and unknown keys
// go on in lookupProbe.
func lookupWords(key []byte, first, last uint64) Key {
	n := len(key)
	h := keyHash(first, last, n)
	if e := &keyTable[h]; e.first == first && e.last == last && int(e.n) == n && n <= 16 {
		return e.k
	}
	return lookupProbe(key, first, last, h)
}

func lookupProbe(key []byte, first, last uint64, h uint) Key {
	n := len(key)
	for ; ; h = (h + 1) % (1 << keyTableBits) {
		e := &keyTable[h]
		if e.n == 0 {
			return numKeys
		}
		if e.first == first && e.last == last && int(e.n) == n &&
			(n <= 16 || tagNames[e.k][8:n-8] == string(key[8:n-8])) {
			return e.k
		}
	}
}
