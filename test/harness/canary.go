package harness

import (
	"crypto/rand"
	"encoding/hex"
	"strings"
	"testing"
)

// Canaries are the secrets of one run, by the setting that carries them.
type Canaries map[string]string

// NewCanaries returns a fresh random secret for each name: 24 hex
// characters, unique to the run.
func NewCanaries(names ...string) Canaries {
	c := Canaries{}
	for _, n := range names {
		b := make([]byte, 12)
		rand.Read(b)
		c[n] = hex.EncodeToString(b)
	}
	return c
}

// Check fails the test when any 12 characters in a row of a canary appear
// in text (a secret cut short is still a leak); where names the text.
func (c Canaries) Check(t testing.TB, where, text string) {
	t.Helper()
	for _, leak := range c.Leaks(text) {
		t.Errorf("%s leaks %s", where, leak)
	}
}

// Leaks describes each canary found in text, with its context.
func (c Canaries) Leaks(text string) []string {
	var out []string
	for name, v := range c {
		for i := 0; i+12 <= len(v); i++ {
			if j := strings.Index(text, v[i:i+12]); j >= 0 {
				lo, hi := max(0, j-100), min(len(text), j+100)
				out = append(out, name+": …"+text[lo:hi]+"…")
				break
			}
		}
	}
	return out
}
