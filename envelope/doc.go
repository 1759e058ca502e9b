// Package envelope writes the JSON envelope that carries one Twitch chat
// line to the message bus, the contract with every downstream service.
//
// An [Encoder] turns a parsed line (an ircv3.Message) into the envelope
// with [Encoder.Append], in the strconv Append contract, without
// allocating: no reflection, no maps, strings escaped exactly as
// encoding/json escapes them. Its shape, id scheme and escaping are
// documented in README.md beside this file.
package envelope
