// Package bench holds the benchmarks that compare ingress-egress with other
// Twitch IRC parsers, the envelope benchmarks, the end-to-end load
// harness (package load, command cmd/load), and the long runs of the fault
// suite (command cmd/faults, which runs ../test/faults with the durations
// of the fault-injection report and rewrites the README's table), and the
// long fault run of cluster mode (command cmd/chaos: instances killed or
// replaced every interval under load, then sent, delivered, lost,
// duplicated and the seconds without a reader). It is a
// nested module (its own go.mod, with a replace to ../) so that the service's
// module never depends on the peers it is measured against:
// github.com/ergochat/irc-go v0.5.0 and github.com/gempir/go-twitch-irc/v4
// v4.2.0 are required here and nowhere else.
//
// The input is the committed corpus ../ircv3/testdata/twitch-corpus.irc
// (10,000 Twitch-shaped lines, seed 1 of internal/corpus, average about 460
// bytes). One benchmark op is one line: ns/op is the time per line, B/s the
// throughput at the corpus's average line size, allocs/op the allocations
// per line. Each op takes the next line of the corpus, cycling.
//
// What each benchmark guards:
//
//   - BenchmarkParse/ours: ircv3.Parse, the service's hot path. It must stay
//     at 0 allocs/op, at least 6× faster than ergochat and at least 25×
//     faster than gotwitchirc per line; parse.sh prints the ratios.
//   - BenchmarkParse/ergochat: ircmsg.ParseLine, a careful general IRCv3
//     parser that unescapes every tag into a map. The 6× target is measured
//     against it.
//   - BenchmarkParse/gotwitchirc: twitch.ParseMessage, the common Go Twitch
//     client, which also builds typed Twitch messages (badges, emotes). The
//     25× target is measured against it.
//   - BenchmarkParse/split: a bare split into tags, source, command and
//     parameters by IndexByte, with no validation: the floor. ours should
//     stay close to it; a growing gap means the parser does work per byte
//     that it should not.
//
// The peers take strings: the corpus is converted once, before timing, so
// the conversion is not charged to them. TestParsersAgree checks, outside
// the timings, that every parser accepts every line and that ours and
// ergochat find the same command, source, parameters and unescaped tags, so
// that the benchmarks compare the same work.
//
// Run ./parse.sh for the -count 10 comparison with its benchstat table and
// ratios (about three minutes on two cores).
package bench
