// Package load is the end-to-end load harness: it drives the fake
// Twitch server (twitch/twitchtest) into a target process — the
// ingress-egress binary, one of the comparison peers of bench/peers, or the
// floor (bench/peers/floor: the service's chat reading and publishing (core NATS or JetStream)
// with no per-line work, what the I/O alone costs) — and
// a real NATS bus, reads every envelope back with bench/consumer, and
// classifies every line sent with bench/loss.
//
// One Run:
//
//   - starts a fake server on 127.0.0.1 (plain TCP, or WebSocket with
//     Config.Transport; no JOIN limit, or Twitch's per-login limit with
//     Config.ServerJoinLimit) and prepares per-channel templates: realistic PRIVMSGs from
//     internal/corpus whose id tag, tmi-sent-ts and +ie/sent-ns are
//     rewritten for every line (a unique UUID-shaped id with the run's
//     prefix, and the send time), so that generating a line costs a copy,
//     not the corpus generator's 1.6 µs;
//   - creates a JetStream stream for the run (bus "jetstream"; subjects
//     under a per-run prefix, 2 min duplicate window) and starts the
//     consumer: a core subscription, or an ordered consumer on the stream,
//     so that an envelope counts only once the bus stored it;
//   - starts the target with the same channels (ch0 … chN−1; the service
//     gets them in TWITCH_CHANNELS, or through POST /_admin/channels when
//     the list would not fit in an environment variable), the same number
//     of connections (the service's TWITCH_CHANNELS_PER_CONN decides; the
//     peers get --connections to match) and the same bus, and waits until
//     the fake server has every channel joined (it keeps a channel → clients
//     index, so that this wait and each line's lookup cost a map read at
//     100,000 channels);
//   - sends at the rate for the duration, paced by a 1 ms tick, to every
//     client joined to each line's channel, recording each line in the
//     loss checker with its send time (a send to a full client queue waits:
//     a target that cannot keep up pushes back and the rate achieved drops);
//   - drains until every line is back or nothing arrived for Config.Drain,
//     reads the target's CPU seconds (/proc/PID/stat) and peak RSS
//     (VmHWM), the service's counts and gaps (/metrics, /_debug/twitch) or a
//     peer's exit summary, stops the target with SIGTERM and checks;
//   - with Config.Restart, starts the service again and measures the time
//     until every channel is joined again.
//
// The loss check keeps 24 bytes per line without pointers (seqChecker: the
// sender's ids are a run prefix and a sequence number), so that a run of
// 15 million lines costs the harness ~360 MB and no garbage-collector walk.
//
// Allocation is estimated from the Go targets' GODEBUG=gctrace=1 lines (the
// service exposes no allocation counter). The bus is shared by the runs of an
// invocation: StartBusProcess runs it as a child process so that its CPU
// seconds are reported apart from the target's and the harness's.
//
// TestCI (ci_test.go) is the CI-sized run: the service binary through
// JetStream, core NATS and its embedded bus, 7 channels over 3 connections
// at 2,000 lines/s for 1.5 s each, the floor the same way over core NATS,
// and the 100,000-channel run scaled down
// (5,000 channels over 56 connections through POST /_admin/channels, a
// per-login JOIN limit, a restart); it fails on any line lost, duplicated,
// unexpected or missing without a reported gap, a channel not joined, or a
// login over the JOIN limit. It guards correctness, not speed. The scenarios and the report are in bench/cmd/load and
// bench/report; bench/load.sh runs them.
package load
