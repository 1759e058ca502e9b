package envelope

import (
	"crypto/sha1"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// urlNamespace is RFC 9562's namespace for URLs.
var urlNamespace = UUID{0x6b, 0xa7, 0xb8, 0x11, 0x9d, 0xad, 0x11, 0xd1, 0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30, 0xc8}

func TestNamespace(t *testing.T) {
	if got := NewSHA1(urlNamespace, []byte("twitch.tv/message-id")); got != Namespace {
		t.Errorf("Namespace = %v, want %v", Namespace, got)
	}
	if Namespace.String() != "ceeb5c06-c3c5-593d-844f-8e7c82612b3e" {
		t.Errorf("Namespace = %v", Namespace)
	}
}

func TestNewSHA1(t *testing.T) {
	for _, c := range []struct {
		ns   UUID
		name string
		want string
	}{
		// Vectors from Python's uuid.uuid5 and RFC 9562 Appendix A.4.
		{urlNamespace, "twitch.tv/message-id", "ceeb5c06-c3c5-593d-844f-8e7c82612b3e"},
		{Namespace, "885196de-cb67-427a-baa8-82f9b0fcd05f", "c6dd916e-0c81-5ee1-9468-652ef54f43ff"},
		{UUID{0x6b, 0xa7, 0xb8, 0x10, 0x9d, 0xad, 0x11, 0xd1, 0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30, 0xc8}, "www.example.com", "2ed6657d-e927-568b-95e1-2665a8aea6a2"},
		{Namespace, strings.Repeat("x", 200), refUUIDv5(strings.Repeat("x", 200))},
		{Namespace, strings.Repeat("y", 128), refUUIDv5(strings.Repeat("y", 128))},
		{Namespace, "", refUUIDv5("")},
	} {
		if got := NewSHA1(c.ns, []byte(c.name)).String(); got != c.want {
			t.Errorf("NewSHA1(%v, %.20q) = %s, want %s", c.ns, c.name, got, c.want)
		}
	}
	if MessageID([]byte("abc")) != NewSHA1(Namespace, []byte("abc")) {
		t.Error("MessageID is not NewSHA1 in Namespace")
	}
}

func TestRandomUUID(t *testing.T) {
	u := randomUUID(^uint64(0), 0)
	if s := u.String(); s != "ffffffff-ffff-4fff-8000-000000000000" {
		t.Errorf("randomUUID = %s", s)
	}
	e := NewEncoder(nil)
	a, b := e.randomUUID(), e.randomUUID()
	if a == b || a[6]>>4 != 4 || a[8]>>6 != 2 {
		t.Errorf("random UUIDs %v %v", a, b)
	}
	e1, e2 := NewEncoder(nil), NewEncoder(nil)
	if e1.randomUUID() == e2.randomUUID() {
		t.Error("two encoders from crypto/rand seeds agree")
	}
	e1.Seed(7)
	e2.Seed(7)
	if e1.randomUUID() != e2.randomUUID() {
		t.Error("Seed(7) twice gives different ids")
	}
}

func TestSHA1OneBlock(t *testing.T) {
	name := make([]byte, maxOneBlock)
	for n := 0; n <= maxOneBlock; n++ {
		for i := range name {
			name[i] = byte(i*31 + n*7)
		}
		for _, ns := range []UUID{Namespace, urlNamespace, {}} {
			got := sha1OneBlock(&ns, name[:n])
			full := sha1.Sum(append(ns[:], name[:n]...))
			if got != [16]byte(full[:16]) {
				t.Fatalf("sha1OneBlock(%v, %d bytes) = %x, want %x", ns, n, got, full[:16])
			}
		}
	}
}

// FuzzSHA1: for any namespace and name, sha1OneBlock (names of up to
// maxOneBlock bytes) is the first 16 bytes of crypto/sha1's sum, and
// NewSHA1 is that sum with the version 5 and variant bits set, whatever
// the name's length.
func FuzzSHA1(f *testing.F) {
	f.Add(Namespace[:], []byte("885196de-cb67-427a-baa8-82f9b0fcd05f"))
	f.Add(urlNamespace[:], []byte("twitch.tv/message-id"))
	f.Add([]byte{}, []byte(""))
	f.Add([]byte{0xff}, []byte(strings.Repeat("x", maxOneBlock)))
	f.Add(Namespace[:], []byte(strings.Repeat("y", maxOneBlock+1)))
	f.Fuzz(func(t *testing.T, nsBytes, name []byte) {
		var ns UUID
		copy(ns[:], nsBytes)
		full := sha1.Sum(append(ns[:], name...))
		if len(name) <= maxOneBlock {
			if got := sha1OneBlock(&ns, name); got != [16]byte(full[:16]) {
				t.Fatalf("sha1OneBlock(%v, %q) = %x, want %x", ns, name, got, full[:16])
			}
		}
		want := UUID(full[:16])
		want[6] = want[6]&0x0f | 0x50
		want[8] = want[8]&0x3f | 0x80
		if got := NewSHA1(ns, name); got != want {
			t.Fatalf("NewSHA1(%v, %q) = %v, want %v", ns, name, got, want)
		}
	})
}

// TestAppendUUID holds the word-at-a-time hex digits to fmt's, for every
// byte value in every position and random UUIDs.
func TestAppendUUID(t *testing.T) {
	check := func(u UUID) {
		t.Helper()
		want := fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
		if got := string(AppendUUID([]byte("x"), u)); got != "x"+want {
			t.Fatalf("AppendUUID(%v) = %s, want x%s", u[:], got, want)
		}
	}
	for pos := range 16 {
		for b := range 256 {
			var u UUID
			u[pos] = byte(b)
			check(u)
		}
	}
	r := rand.New(rand.NewPCG(3, 4))
	for range 10000 {
		var u UUID
		binary.LittleEndian.PutUint64(u[:8], r.Uint64())
		binary.LittleEndian.PutUint64(u[8:], r.Uint64())
		check(u)
	}
}
