package ircv3

import (
	"encoding/json"
	"os"
	"reflect"
	"testing"
)

// atoms is a message in the vocabulary of the ircdocs parser tests.
type atoms struct {
	Tags   map[string]string `json:"tags"`
	Source *string           `json:"source"`
	Verb   string            `json:"verb"`
	Params []string          `json:"params"`
}

func (a atoms) equal(b atoms) bool {
	if len(a.Tags) != len(b.Tags) || len(a.Params) != len(b.Params) || a.Verb != b.Verb {
		return false
	}
	if (a.Source == nil) != (b.Source == nil) || a.Source != nil && *a.Source != *b.Source {
		return false
	}
	return (len(a.Tags) == 0 || reflect.DeepEqual(a.Tags, b.Tags)) &&
		(len(a.Params) == 0 || reflect.DeepEqual(a.Params, b.Params))
}

func toAtoms(m *Message) atoms {
	var a atoms
	it := m.TagIter()
	for it.Next() {
		if a.Tags == nil {
			a.Tags = map[string]string{}
		}
		a.Tags[string(it.Key())] = string(AppendUnescaped(nil, it.Value()))
	}
	if len(m.Source) > 0 {
		s := string(m.Source)
		a.Source = &s
	}
	a.Verb = string(m.Command)
	for _, p := range m.Params() {
		a.Params = append(a.Params, string(p))
	}
	return a
}

func loadJSON(t testing.TB, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}
