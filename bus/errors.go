package bus

import "errors"

// Errors returned by the Publisher.
var (
	// ErrClosed is returned by Publish after Close was called, and by a second Close.
	ErrClosed = errors.New("bus: publisher closed")
	// ErrNoSubject is returned by Publish for a message without a subject.
	ErrNoSubject = errors.New("bus: message has no subject")
	// ErrTooLarge is returned by Publish for a message larger than
	// Options.MaxMessageBytes. Such a message is not accepted (and not counted).
	ErrTooLarge = errors.New("bus: message too large")
)

// The classes of a failed send. A driver classifies each failure it reports
// with Permanent or Unavailable; an error left unclassified is retryable.
//
//   - retryable: the bus refused or did not acknowledge the message while it
//     was reachable (an ack timeout, a transient server error). It is sent
//     again with backoff, up to Options.MaxRetries times, then it becomes a
//     failure event.
//   - permanent: it will never succeed (too large, invalid subject, permission
//     denied, stream full with discard-new). It becomes a failure event at once.
//   - unavailable: the bus is down (disconnected, no responders). The message
//     was not judged; it is sent again with capped backoff without spending an
//     attempt, for as long as it takes. The bounded queue fills and Publish
//     blocks, which is how an outage reaches the reader as backpressure.
type classified struct {
	err   error
	class int
}

const (
	classRetryable = iota
	classPermanent
	classUnavailable
)

func (e *classified) Error() string { return e.err.Error() }
func (e *classified) Unwrap() error { return e.err }

// Permanent marks err as one that no retry will cure. A nil err stays nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &classified{err, classPermanent}
}

// Unavailable marks err as "the bus is down": the send is repeated until the
// bus returns, without counting an attempt. A nil err stays nil.
func Unavailable(err error) error {
	if err == nil {
		return nil
	}
	return &classified{err, classUnavailable}
}

// NoAnswer marks err as the failure of a message that was sent and got no
// answer: its acknowledgement timed out, the connection dropped after the
// write, or the wait was given up. The bus may have stored it. The class
// of err (Permanent, Unavailable, retryable) still decides what the
// Publisher does next; if the message is given up in the end, it is
// counted and reported as unknown (Stats.Unknown, Undelivered.Unknown)
// rather than lost. A driver marks only what it knows it wrote. A nil err
// stays nil.
func NoAnswer(err error) error {
	if err == nil {
		return nil
	}
	return &noAnswer{err}
}

// IsNoAnswer reports whether err (or an error it wraps) was marked NoAnswer.
func IsNoAnswer(err error) bool {
	var n *noAnswer
	return errors.As(err, &n)
}

type noAnswer struct{ err error }

func (e *noAnswer) Error() string { return e.err.Error() }
func (e *noAnswer) Unwrap() error { return e.err }

// IsPermanent reports whether err (or an error it wraps) was marked Permanent.
func IsPermanent(err error) bool { return classOf(err) == classPermanent }

// IsUnavailable reports whether err (or an error it wraps) was marked Unavailable.
func IsUnavailable(err error) bool { return classOf(err) == classUnavailable }

func classOf(err error) int {
	var c *classified
	if errors.As(err, &c) {
		return c.class
	}
	return classRetryable
}
