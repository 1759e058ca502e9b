// Package twitch reads Twitch chat: it keeps a pool of IRC connections
// joined to a set of channels and hands every line they receive to a
// Handler.
//
// A Manager is created with New and runs until its context ends or Close
// is called:
//
//	m, err := twitch.New(twitch.Options{
//		Channels: []string{"somechannel"}, // logins; '#' and case are normalised
//		Handler: twitch.HandlerFunc(func(ctx context.Context, l *twitch.Line) error {
//			// l.Msg and l.Raw are views into the read buffer: copy what you keep.
//			fmt.Printf("%s %s\n", l.Msg.Command, l.Msg.Trailing())
//			return nil
//		}),
//	})
//	if err != nil {
//		return err
//	}
//	go m.Run(ctx)
//	defer m.Close()
//
// The zero Options connect to wss://irc-ws.chat.twitch.tv:443 with an
// anonymous, read-only justinfan login; Options.Auth (an AuthSource: Static
// for a fixed token, or a source such as the firestoreauth package) logs in
// as an account. Channels can be added and removed while running with
// AddChannels and RemoveChannels. Ready reports whether every wanted
// channel is joined on a live connection; Status returns a snapshot for
// diagnostics that holds no secret and no chat text.
//
// # Delivery
//
// HandleLine is called for every line that parses, in order for each
// connection, from one goroutine per connection. While it runs its
// connection reads nothing more: a Handler that blocks applies
// backpressure, and nothing is dropped. A Handler error stops the Manager
// and Run returns it.
//
// # Connections
//
// Each connection carries at most Options.ChannelsPerConn channels; JOINs
// go through a rate limit (Options.JoinRate per JoinWindow, or for an
// account the budget Options.JoinGate grants from outside the manager) and
// are sent again if not confirmed by a JOIN echo or ROOMSTATE. A connection that
// goes silent is probed with PING and replaced when no answer comes; a
// failed one is redialled with capped, jittered exponential backoff.
//
// When the server sends RECONNECT, the replacement connection is opened
// and joined while the old one is still read (make-before-break); lines
// that both deliver are dropped by their id tag, and the old connection is
// closed only after a PING on it was answered, so that every line it
// received was read. An interval in which a wanted channel was joined on no
// live connection is a Gap, reported in Status.
//
// The package does not publish anywhere: what a line becomes is the
// Handler's business.
package twitch
