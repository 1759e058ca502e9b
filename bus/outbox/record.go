package outbox

import (
	"encoding/binary"
	"errors"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/ingress-egress/ingress-egress/bus"
)

// A record is one stored message of the stream holding a run of the
// publisher's messages (a batch, or part of one): one store write, one
// acknowledgement and one delivery to the forwarder per batch instead of
// per message. Stored one message per record, the store's per-message work
// (its acknowledgement, a write to the block file, a delivery) cost the
// outbox half of the direct path's throughput on two cores.
//
// Layout: the byte recordVersion, the message count (uvarint), then per
// message its subject, id, traceparent and content type (each a uvarint
// length and the bytes), its receive time (varint Unix nanoseconds, 0 for
// none) and its data (uvarint length and the bytes). The record carries the
// header HeaderCount (the message count), so that Open can count the stored
// messages from the headers alone.
const (
	recordVersion = 1
	// HeaderCount is the header of a record with its message count.
	HeaderCount = "Outbox-Count"
	// maxRecord bounds a record's payload; a batch larger goes in several.
	maxRecord = 4 << 20
)

// errBadRecord is a record that does not decode: never written by this
// package (the store checksums every record).
var errBadRecord = errors.New("outbox: record does not decode")

// recordOverhead bounds what appendRecordMsg adds besides the fields' bytes.
const recordOverhead = 6*binary.MaxVarintLen64 + 1

func recordMsgSize(m *bus.Message) int {
	return len(m.Subject) + len(m.MsgID) + len(m.TraceParent) + len(m.ContentType) + len(m.Data) + recordOverhead
}

// appendRecordHead starts a record of n messages.
func appendRecordHead(dst []byte, n int) []byte {
	dst = append(dst, recordVersion)
	return binary.AppendUvarint(dst, uint64(n))
}

// appendRecordMsg appends m to a record.
func appendRecordMsg(dst []byte, m *bus.Message) []byte {
	for _, s := range [...]string{m.Subject, m.MsgID, m.TraceParent, m.ContentType} {
		dst = binary.AppendUvarint(dst, uint64(len(s)))
		dst = append(dst, s...)
	}
	var rt int64
	if !m.Received.IsZero() {
		rt = m.Received.UnixNano()
	}
	dst = binary.AppendVarint(dst, rt)
	dst = binary.AppendUvarint(dst, uint64(len(m.Data)))
	return append(dst, m.Data...)
}

// decodeRecord appends the messages of rec to dst. Their Data alias rec;
// their strings are copies.
func decodeRecord(dst []bus.Message, rec []byte) ([]bus.Message, error) {
	if len(rec) < 2 || rec[0] != recordVersion {
		return dst, errBadRecord
	}
	n, k := binary.Uvarint(rec[1:])
	if k <= 0 || n > uint64(len(rec)) {
		return dst, errBadRecord
	}
	p := rec[1+k:]
	bytes := func() ([]byte, bool) {
		l, k := binary.Uvarint(p)
		if k <= 0 || l > uint64(len(p)-k) {
			return nil, false
		}
		b := p[k : k+int(l)]
		p = p[k+int(l):]
		return b, true
	}
	var subject, ctype string
	for range n {
		var f [4][]byte
		for i := range f {
			b, ok := bytes()
			if !ok {
				return dst, errBadRecord
			}
			f[i] = b
		}
		rt, k := binary.Varint(p)
		if k <= 0 {
			return dst, errBadRecord
		}
		p = p[k:]
		data, ok := bytes()
		if !ok {
			return dst, errBadRecord
		}
		m := bus.Message{Subject: subject, MsgID: string(f[1]), TraceParent: string(f[2]),
			ContentType: ctype, Data: data[:len(data):len(data)]}
		// A record's messages share a few subjects and content types:
		// one string each while they repeat.
		if m.Subject != string(f[0]) {
			m.Subject, subject = string(f[0]), string(f[0])
		}
		if m.ContentType != string(f[3]) {
			m.ContentType, ctype = string(f[3]), string(f[3])
		}
		if rt != 0 {
			m.Received = time.Unix(0, rt)
		}
		dst = append(dst, m)
	}
	if len(p) != 0 {
		return dst, errBadRecord
	}
	return dst, nil
}

// recordHeader is the header of a record of n messages.
func recordHeader(n int) nats.Header {
	return nats.Header{HeaderCount: []string{strconv.Itoa(n)}}
}

// recordCount reads a record's message count from its header (1 when it
// has none).
func recordCount(h nats.Header) int64 {
	if vs := h[HeaderCount]; len(vs) > 0 {
		if n, err := strconv.ParseInt(vs[0], 10, 64); err == nil && n > 0 {
			return n
		}
	}
	return 1
}
