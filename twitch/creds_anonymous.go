package twitch

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"strconv"
)

// Anonymous is the credential source used when none is configured: every
// ChatAuth returns a fresh "justinfan" login with random digits and no
// token. Twitch lets such a login read chat but not send. It is always
// ready. Safe for concurrent use.
type Anonymous struct{}

// NewAnonymous returns the anonymous source and logs, once, a warning that
// chat is read anonymously. log may be nil.
func NewAnonymous(log *slog.Logger) *Anonymous {
	if log != nil {
		log.Warn("no Twitch credentials configured: reading chat anonymously (read-only justinfan login)")
	}
	return &Anonymous{}
}

// ChatAuth implements AuthSource. The login asked for is ignored: an
// anonymous source has no account of its own.
func (*Anonymous) ChatAuth(ctx context.Context, login string) (Auth, error) {
	if err := ctx.Err(); err != nil {
		return Auth{}, err
	}
	return Auth{Login: AnonymousLogin(), Anonymous: true}, nil
}

// Invalidate implements AuthSource; there is nothing to invalidate.
func (*Anonymous) Invalidate(context.Context, Auth) {}

// Ready reports true: an anonymous login needs nothing.
func (*Anonymous) Ready() bool { return true }

// Status returns the source's snapshot.
func (*Anonymous) Status() AuthStatus {
	return AuthStatus{Mode: AuthAnonymous, Ready: true, Login: "justinfan*"}
}

// AnonymousLogin returns "justinfan" followed by 5 to 8 random digits.
func AnonymousLogin() string {
	n := 10000 + rand.Int64N(99990000) // [10000, 99999999]
	return "justinfan" + strconv.FormatInt(n, 10)
}

// Run waits for ctx: an anonymous login has nothing to keep fresh. It
// returns ctx.Err().
func (*Anonymous) Run(ctx context.Context) error {
	<-ctx.Done()
	return ctx.Err()
}

// Close does nothing.
func (*Anonymous) Close() error { return nil }
