package ircv3

import (
	"slices"
	"testing"
)

// The ircdocs parser tests (testdata/irc-parser-tests, CC0).

func TestConformanceMsgSplit(t *testing.T) {
	var vectors struct {
		Tests []struct {
			Input string `json:"input"`
			Atoms atoms  `json:"atoms"`
		} `json:"tests"`
	}
	loadJSON(t, "testdata/irc-parser-tests/msg-split.json", &vectors)
	if len(vectors.Tests) < 30 {
		t.Fatalf("only %d vectors loaded", len(vectors.Tests))
	}
	for _, v := range vectors.Tests {
		m, err := Parse([]byte(v.Input))
		if err != nil {
			t.Errorf("Parse(%q) error %v", v.Input, err)
			continue
		}
		if got := toAtoms(&m); !got.equal(v.Atoms) {
			t.Errorf("Parse(%q) = %+v, want %+v", v.Input, got, v.Atoms)
		}
	}
}

func TestConformanceMsgJoin(t *testing.T) {
	var vectors struct {
		Tests []struct {
			Desc    string   `json:"desc"`
			Atoms   atoms    `json:"atoms"`
			Matches []string `json:"matches"`
		} `json:"tests"`
	}
	loadJSON(t, "testdata/irc-parser-tests/msg-join.json", &vectors)
	if len(vectors.Tests) < 15 {
		t.Fatalf("only %d vectors loaded", len(vectors.Tests))
	}
	for _, v := range vectors.Tests {
		var m Message
		var tags []byte
		keys := make([]string, 0, len(v.Atoms.Tags))
		for k := range v.Atoms.Tags {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for i, k := range keys {
			if i > 0 {
				tags = append(tags, ';')
			}
			tags = append(tags, k...)
			if val := v.Atoms.Tags[k]; val != "" {
				tags = append(tags, '=')
				tags = AppendEscaped(tags, []byte(val))
			}
		}
		m.Tags = tags
		if v.Atoms.Source != nil {
			m.Source = []byte(*v.Atoms.Source)
		}
		m.Command = []byte(v.Atoms.Verb)
		for _, p := range v.Atoms.Params {
			m.params[m.nparams] = []byte(p)
			m.nparams++
		}
		line, err := AppendMessage(nil, &m)
		if err != nil {
			t.Errorf("%s: AppendMessage error %v", v.Desc, err)
			continue
		}
		got := string(line[:len(line)-2])
		if string(line[len(line)-2:]) != "\r\n" {
			t.Errorf("%s: line %q does not end in CRLF", v.Desc, line)
		}
		if !slices.Contains(v.Matches, got) {
			t.Errorf("%s: AppendMessage = %q, want one of %q", v.Desc, got, v.Matches)
		}
	}
}

func TestConformanceUserhostSplit(t *testing.T) {
	var vectors struct {
		Tests []struct {
			Source string `json:"source"`
			Atoms  struct {
				Nick, User, Host string
			} `json:"atoms"`
		} `json:"tests"`
	}
	loadJSON(t, "testdata/irc-parser-tests/userhost-split.json", &vectors)
	if len(vectors.Tests) < 5 {
		t.Fatalf("only %d vectors loaded", len(vectors.Tests))
	}
	for _, v := range vectors.Tests {
		nick, user, host := SplitSource([]byte(v.Source))
		if string(nick) != v.Atoms.Nick || string(user) != v.Atoms.User || string(host) != v.Atoms.Host {
			t.Errorf("SplitSource(%q) = %q, %q, %q, want %q, %q, %q", v.Source, nick, user, host, v.Atoms.Nick, v.Atoms.User, v.Atoms.Host)
		}
	}
}
