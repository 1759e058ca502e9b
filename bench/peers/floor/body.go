package main

import (
	"bytes"
	"fmt"
	"math"
	"time"

	"github.com/ingress-egress/ingress-egress/envelope"
	"github.com/ingress-egress/ingress-egress/internal/corpus"
)

// findID returns the value of the id tag of a raw IRC line (a view into
// line), or nil when the line has no tags or no id tag. It looks only in
// the tag section, which ends at the first space, for "@id=" at its start
// or ";id=" inside it (";room-id=", ";user-id=" and the client-only "+id"
// do not match); the value ends at the next ';' or the end of the tags.
func findID(line []byte) []byte {
	if len(line) == 0 || line[0] != '@' {
		return nil
	}
	tags := line
	if sp := bytes.IndexByte(line, ' '); sp >= 0 {
		tags = line[:sp]
	}
	var at int
	if bytes.HasPrefix(tags, []byte("@id=")) {
		at = len("@id=")
	} else if i := bytes.Index(tags, []byte(";id=")); i >= 0 {
		at = i + len(";id=")
	} else {
		return nil
	}
	v := tags[at:]
	if end := bytes.IndexByte(v, ';'); end >= 0 {
		v = v[:end]
	}
	return v
}

// Parts of the body: {"payload":{"messageId":"<id>"},"pad":"xxx…"}.
const (
	bodyHead = `{"payload":{"messageId":"`
	bodyMid  = `"},"pad":"`
	bodyTail = `"}`
)

// appendBody appends to dst the floor's body for line with the message id
// id: {"payload":{"messageId":"<id>"},"pad":"xxx…"}, padded so that the
// body is size bytes long (longer only when the id alone does not fit). The
// id is written as a JSON string: '"', '\' and control bytes escaped, the
// rest as is. With room in dst it does not allocate.
func appendBody(dst, id []byte, size int) []byte {
	start := len(dst)
	dst = append(dst, bodyHead...)
	for _, c := range id {
		switch {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
		case c < 0x20:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&15])
		default:
			dst = append(dst, c)
		}
	}
	dst = append(dst, bodyMid...)
	for pad := size - (len(dst) - start) - len(bodyTail); pad > 0; pad-- {
		dst = append(dst, 'x')
	}
	return append(dst, bodyTail...)
}

const hexDigits = "0123456789abcdef"

// bodySize is the size of the service's envelope for a line of n bytes:
// ratio × n, rounded.
func bodySize(ratio float64, n int) int { return int(math.Round(ratio * float64(n))) }

// envelopeRatio measures, over n lines of the harness's corpus
// (internal/corpus, the PRIVMSGs bench/load sends, seed seed, spread over
// channels), the service's envelope bytes per line byte: the sum of the
// envelopes envelope.Encoder writes (with the service's default options)
// over the sum of the lines.
func envelopeRatio(seed int64, channels []string, n int) (float64, error) {
	if len(channels) == 0 || n <= 0 {
		return 0, fmt.Errorf("floor: no corpus to measure the envelope ratio on")
	}
	g := corpus.NewGenerator(seed)
	enc := envelope.NewEncoder(nil)
	sent := time.Unix(1_800_000_000, 123456789) // the harness's template time
	var line, env []byte
	var lineBytes, envBytes int
	var err error
	for i := range n {
		line = g.AppendPrivmsg(line[:0], channels[i%len(channels)], sent)
		if env, err = enc.AppendLine(env[:0], line, sent); err != nil {
			return 0, fmt.Errorf("floor: corpus line %d yields no envelope: %w", i, err)
		}
		lineBytes += len(line)
		envBytes += len(env)
	}
	return float64(envBytes) / float64(lineBytes), nil
}
