package tmi

import "github.com/ingress-egress/ingress-egress/internal/tagindex"

// TagKey names a tag Twitch defines. Tags.Get(k) returns its raw value.
type TagKey tagindex.Key

// The tags the model knows, from Twitch's IRC tag reference
// (https://dev.twitch.tv/docs/chat/irc/#twitch-irc-tags). Any other tag
// (msg-param-*, new ones) is still seen by View.UniqueTags.
const (
	TagAnimationID                   TagKey = TagKey(tagindex.AnimationID)
	TagBadgeInfo                     TagKey = TagKey(tagindex.BadgeInfo)
	TagBadges                        TagKey = TagKey(tagindex.Badges)
	TagBanDuration                   TagKey = TagKey(tagindex.BanDuration)
	TagBits                          TagKey = TagKey(tagindex.Bits)
	TagClientNonce                   TagKey = TagKey(tagindex.ClientNonce)
	TagColor                         TagKey = TagKey(tagindex.Color)
	TagCustomRewardID                TagKey = TagKey(tagindex.CustomRewardID)
	TagDisplayName                   TagKey = TagKey(tagindex.DisplayName)
	TagEmoteOnly                     TagKey = TagKey(tagindex.EmoteOnly)
	TagEmoteSets                     TagKey = TagKey(tagindex.EmoteSets)
	TagEmotes                        TagKey = TagKey(tagindex.Emotes)
	TagFirstMsg                      TagKey = TagKey(tagindex.FirstMsg)
	TagFlags                         TagKey = TagKey(tagindex.Flags)
	TagFollowersOnly                 TagKey = TagKey(tagindex.FollowersOnly)
	TagID                            TagKey = TagKey(tagindex.ID)
	TagLogin                         TagKey = TagKey(tagindex.Login)
	TagMessageID                     TagKey = TagKey(tagindex.MessageID)
	TagMod                           TagKey = TagKey(tagindex.Mod)
	TagMsgID                         TagKey = TagKey(tagindex.MsgID)
	TagPinnedChatPaidAmount          TagKey = TagKey(tagindex.PinnedChatPaidAmount)
	TagPinnedChatPaidCurrency        TagKey = TagKey(tagindex.PinnedChatPaidCurrency)
	TagPinnedChatPaidExponent        TagKey = TagKey(tagindex.PinnedChatPaidExponent)
	TagPinnedChatPaidIsSystemMessage TagKey = TagKey(tagindex.PinnedChatPaidIsSystemMessage)
	TagPinnedChatPaidLevel           TagKey = TagKey(tagindex.PinnedChatPaidLevel)
	TagR9K                           TagKey = TagKey(tagindex.R9K)
	TagReplyParentDisplayName        TagKey = TagKey(tagindex.ReplyParentDisplayName)
	TagReplyParentMsgBody            TagKey = TagKey(tagindex.ReplyParentMsgBody)
	TagReplyParentMsgID              TagKey = TagKey(tagindex.ReplyParentMsgID)
	TagReplyParentUserID             TagKey = TagKey(tagindex.ReplyParentUserID)
	TagReplyParentUserLogin          TagKey = TagKey(tagindex.ReplyParentUserLogin)
	TagReplyThreadParentDisplayName  TagKey = TagKey(tagindex.ReplyThreadParentDisplayName)
	TagReplyThreadParentMsgID        TagKey = TagKey(tagindex.ReplyThreadParentMsgID)
	TagReplyThreadParentUserID       TagKey = TagKey(tagindex.ReplyThreadParentUserID)
	TagReplyThreadParentUserLogin    TagKey = TagKey(tagindex.ReplyThreadParentUserLogin)
	TagReturningChatter              TagKey = TagKey(tagindex.ReturningChatter)
	TagRoomID                        TagKey = TagKey(tagindex.RoomID)
	TagSlow                          TagKey = TagKey(tagindex.Slow)
	TagSourceBadgeInfo               TagKey = TagKey(tagindex.SourceBadgeInfo)
	TagSourceBadges                  TagKey = TagKey(tagindex.SourceBadges)
	TagSourceID                      TagKey = TagKey(tagindex.SourceID)
	TagSourceMsgID                   TagKey = TagKey(tagindex.SourceMsgID)
	TagSourceOnly                    TagKey = TagKey(tagindex.SourceOnly)
	TagSourceRoomID                  TagKey = TagKey(tagindex.SourceRoomID)
	TagSubsOnly                      TagKey = TagKey(tagindex.SubsOnly)
	TagSubscriber                    TagKey = TagKey(tagindex.Subscriber)
	TagSystemMsg                     TagKey = TagKey(tagindex.SystemMsg)
	TagTargetMsgID                   TagKey = TagKey(tagindex.TargetMsgID)
	TagTargetUserID                  TagKey = TagKey(tagindex.TargetUserID)
	TagThreadID                      TagKey = TagKey(tagindex.ThreadID)
	TagTmiSentTS                     TagKey = TagKey(tagindex.TmiSentTS)
	TagTurbo                         TagKey = TagKey(tagindex.Turbo)
	TagUserID                        TagKey = TagKey(tagindex.UserID)
	TagUserType                      TagKey = TagKey(tagindex.UserType)
	TagVIP                           TagKey = TagKey(tagindex.VIP)

	// TagUnknown is the TagKey of a tag the model does not know.
	TagUnknown TagKey = TagKey(tagindex.Unknown)
)

// String returns the tag's name as Twitch writes it ("display-name"), or
// "" for TagUnknown.
func (k TagKey) String() string { return tagindex.Key(k).String() }

// Tags holds the raw values of the known tags of one message. A value is
// nil when the tag is absent and non-nil (possibly empty) when present;
// the last duplicate wins. Values are views into the line, still escaped
// (write them with ircv3.AppendUnescaped). Its zero value has no tags.
type Tags tagindex.Index

// index is t as the tag index it is. The envelope encoder makes the same
// conversion to ask what only a writer needs (Index.Plain, ItemSpan),
// which the model does not export.
func (t *Tags) index() *tagindex.Index { return (*tagindex.Index)(t) }

// Get returns the raw value of the tag k, or nil when it is absent.
func (t *Tags) Get(k TagKey) []byte { return t.index().Get(tagindex.Key(k)) }

// Has reports whether the tag k is present.
func (t *Tags) Has(k TagKey) bool { return t.index().Has(tagindex.Key(k)) }

// Len returns the number of tags in the line, duplicates included.
func (t *Tags) Len() int { return t.index().Len() }

// Duplicates reports whether some key appears more than once.
func (t *Tags) Duplicates() bool { return t.index().Duplicates() }

// UniqueTagIter iterates over the tags of a message in line order, each
// key once (the last duplicate wins). Key and Value are raw views into the
// line. Its zero value is an empty iteration.
type UniqueTagIter tagindex.UniqueIter

// Next advances to the next tag and reports whether there is one.
func (u *UniqueTagIter) Next() bool { return (*tagindex.UniqueIter)(u).Next() }

// Key returns the current tag's key.
func (u *UniqueTagIter) Key() []byte { return (*tagindex.UniqueIter)(u).Key() }

// Value returns the current tag's raw, escaped value.
func (u *UniqueTagIter) Value() []byte { return (*tagindex.UniqueIter)(u).Value() }

// TagKey returns the current tag's TagKey, TagUnknown for a tag the model
// does not know.
func (u *UniqueTagIter) TagKey() TagKey { return TagKey((*tagindex.UniqueIter)(u).TagKey()) }
