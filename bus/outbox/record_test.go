package outbox

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ingress-egress/ingress-egress/bus"
)

func TestRecordRoundTrip(t *testing.T) {
	msgs := []bus.Message{
		{Subject: "a.internal.ingress.v1", Data: []byte(`{"v":"1"}`), MsgID: "id-1",
			TraceParent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", ContentType: "application/json",
			Received: time.Unix(1700000000, 123456789)},
		{Subject: "a.internal.ingress.v1", Data: []byte{}, ContentType: "application/json"}, // no id, no time
		{Subject: "a.internal.finalize.v1", Data: []byte(strings.Repeat("x", 70000)), MsgID: "ü\x00id"},
	}
	rec := appendRecordHead(nil, len(msgs))
	for i := range msgs {
		rec = appendRecordMsg(rec, &msgs[i])
	}
	got, err := decodeRecord(nil, rec)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(msgs) {
		t.Fatalf("decoded %d messages, want %d", len(got), len(msgs))
	}
	for i := range msgs {
		w, g := msgs[i], got[i]
		if !w.Received.Equal(g.Received) {
			t.Errorf("message %d: Received %v, want %v", i, g.Received, w.Received)
		}
		w.Received, g.Received = time.Time{}, time.Time{}
		if !reflect.DeepEqual(fmt.Sprintf("%q", g), fmt.Sprintf("%q", w)) {
			t.Errorf("message %d = %+v, want %+v", i, g, w)
		}
	}
	// Every cut short of the whole record, and a byte too many, is refused.
	for n := range len(rec) {
		if _, err := decodeRecord(nil, rec[:n]); err == nil {
			t.Fatalf("decodeRecord(first %d of %d bytes) = nil error", n, len(rec))
		}
	}
	if _, err := decodeRecord(nil, append(rec[:len(rec):len(rec)], 0)); err == nil {
		t.Error("decodeRecord with a trailing byte = nil error")
	}
}

func FuzzDecodeRecord(f *testing.F) {
	m := bus.Message{Subject: "s", Data: []byte("d"), MsgID: "i"}
	f.Add(appendRecordMsg(appendRecordHead(nil, 1), &m))
	f.Add([]byte{recordVersion, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Fuzz(func(t *testing.T, rec []byte) {
		msgs, err := decodeRecord(nil, rec)
		if err != nil {
			return
		}
		// What decodes encodes to a record that decodes the same (the
		// bytes may differ: a varint need not be minimal).
		again := appendRecordHead(nil, len(msgs))
		for i := range msgs {
			again = appendRecordMsg(again, &msgs[i])
		}
		msgs2, err := decodeRecord(nil, again)
		if err != nil {
			t.Fatalf("re-encoded record does not decode: %v", err)
		}
		if fmt.Sprintf("%q", msgs) != fmt.Sprintf("%q", msgs2) {
			t.Fatalf("decode/encode/decode changed the messages: %q → %q", msgs, msgs2)
		}
	})
}
