package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestParseCommand(t *testing.T) {
	in := "@a=b\\sc;k :nick!u@h PRIVMSG #chan :hello there\r\n" +
		"PING :tmi.twitch.tv\n" +
		"\r\n" +
		":src\r\n" +
		strings.Repeat("x", 70) + "\n" +
		"VERB\x00\n" +
		"LAST :no newline"
	var out, errOut bytes.Buffer
	if code := run([]string{"parse", "--max-line", "64"}, noEnv, strings.NewReader(in), &out, &errOut); code != 0 {
		t.Fatalf("exit %d, stderr %q", code, errOut.String())
	}
	want := []string{
		`{"tags":{"a":"b c","k":""},"source":"nick!u@h","verb":"PRIVMSG","params":["#chan","hello there"]}`,
		`{"verb":"PING","params":["tmi.twitch.tv"]}`,
		`{"error":"ircv3: no command"}`,
		`{"error":"ircv3: line too long"}`,
		`{"error":"ircv3: NUL, CR or LF in line"}`,
		`{"verb":"LAST","params":["no newline"]}`,
	}
	got := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("parse output:\n%s\nwant:\n%s", out.String(), strings.Join(want, "\n"))
	}
	for _, l := range got {
		if !json.Valid([]byte(l)) {
			t.Errorf("invalid JSON %q", l)
		}
	}
}

func TestVersionAndUsage(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run([]string{"version"}, noEnv, nil, &out, &errOut); code != 0 || !strings.HasPrefix(out.String(), "ingress-egress ") {
		t.Errorf("version: exit %d, %q", code, out.String())
	}
	out.Reset()
	if code := run([]string{"nonsense"}, noEnv, nil, &out, &errOut); code != 2 || !strings.Contains(errOut.String(), "usage") {
		t.Errorf("unknown command: exit %d, stderr %q", code, errOut.String())
	}
}
func noEnv(string) string { return "" }
