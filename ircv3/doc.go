// Package ircv3 frames, parses and builds IRC lines with IRCv3 message tags.
//
// It is the allocation-free core of ingress-egress and depends on the
// standard library only.
//
//   - [Reader] cuts a byte stream (TCP, TLS) into lines with a fixed, reused
//     buffer and a hard cap on line length; [NextLine] cuts a WebSocket
//     message that carries one or more lines.
//   - [Parse] splits one line into tags, source, verb and parameters. Every
//     part of a [Message] is a view into the line it was parsed from: it is
//     valid until the caller changes or reuses that line (for a line from
//     [Reader.ReadLine], until the next call to ReadLine). Nothing is copied
//     and tag values stay escaped until asked for with [AppendUnescaped].
//   - The Append functions build what a client sends (CAP, PASS, NICK, JOIN,
//     PART, PING, PONG, PRIVMSG) in the strconv Append contract. They reject
//     any parameter that could inject a second line or shift parameters.
//
// The grammar follows RFC 1459/2812 as refined by the IRCv3 message-tags
// specification (https://ircv3.net/specs/extensions/message-tags):
//
//	<message> ::= ['@' <tags> <SPACE>] [':' <source> <SPACE>] <command> <parameters> <crlf>
//
// Atoms are separated by one or more spaces, as the ircdocs parser tests
// require.
package ircv3
