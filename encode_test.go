package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"
)

const encodeInput = "@badge-info=;badges=moderator/1;color=#00FF7F;display-name=Zerovo;emotes=25:0-4;id=18a1f571-1bd0-4bab-8ecc-085795ddd10f;mod=1;room-id=861539271;subscriber=0;tmi-sent-ts=1748800800027;user-id=256172220 :zerovo!zerovo@zerovo.tmi.twitch.tv PRIVMSG #papaplatte :Kappa <3\r\n" +
	"PING :tmi.twitch.tv\r\n" +
	":a!a@a PRIVMSG #c :no id tag\n" +
	"@login=ronni;msg-id=sub;id=u1 :tmi.twitch.tv USERNOTICE #dallas\r\n" +
	":a!a@a PRIVMSG #c :\r\n" +
	"@a=b\r\n" +
	"@id=last :b!b@b PRIVMSG #c :no final newline"

func encode(t *testing.T, input string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	code = runEncode(args, strings.NewReader(input), &out, &errb)
	return out.String(), errb.String(), code
}

func TestEncode(t *testing.T) {
	out, errs, code := encode(t, encodeInput, "--now", "2025-11-21T17:02:00.5Z", "--seed", "42")
	if code != 0 {
		t.Fatalf("exit %d, stderr %s", code, errs)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 3 {
		t.Fatalf("%d envelopes, want 3:\n%s", len(lines), out)
	}
	for i, want := range []struct{ text, timestamp string }{
		{"Kappa <3", "2025-11-21T17:02:00.500Z"},
		{"no id tag", "2025-11-21T17:02:00.500Z"},
		{"no final newline", "2025-11-21T17:02:00.500Z"},
	} {
		var env struct {
			ID, TraceID, Timestamp string
			Payload                struct{ Text string }
		}
		if err := json.Unmarshal([]byte(lines[i]), &env); err != nil {
			t.Fatalf("envelope %d: %v\n%s", i, err, lines[i])
		}
		if env.Payload.Text != want.text || env.Timestamp != want.timestamp || len(env.TraceID) != 36 {
			t.Errorf("envelope %d: text %q timestamp %q traceId %q, want %q %q", i, env.Payload.Text, env.Timestamp, env.TraceID, want.text, want.timestamp)
		}
	}
	if want := "encode: 7 lines, 3 envelopes, 4 skipped (2 not enabled, 0 without channel, 1 without text, 1 unparsable, 0 too long)\n"; errs != want {
		t.Errorf("stderr %q, want %q", errs, want)
	}
	// --now and --seed make the output reproducible.
	again, _, _ := encode(t, encodeInput, "--now", "2025-11-21T17:02:00.5Z", "--seed", "42")
	if again != out {
		t.Errorf("two runs with the same --now and --seed differ:\n%s\n%s", out, again)
	}
	other, _, _ := encode(t, encodeInput, "--now", "2025-11-21T17:02:00.5Z", "--seed", "43")
	if other == out {
		t.Error("--seed 43 gives the output of --seed 42")
	}
}

func TestEncodeKindsAndOptions(t *testing.T) {
	out, errs, code := encode(t, encodeInput, "--kinds", "privmsg,usernotice", "--now", "2025-01-01T00:00:00Z",
		"--type-prefix", "x.", "--finalization-destination", "fin")
	if code != 0 {
		t.Fatalf("exit %d, stderr %s", code, errs)
	}
	if n := strings.Count(out, "\n"); n != 4 {
		t.Errorf("%d envelopes with usernotice, want 4", n)
	}
	if !strings.Contains(out, `"type":"x.usernotice.v1"`) || !strings.Contains(out, `"finalizationDestination":"fin"`) {
		t.Errorf("options not applied:\n%s", out)
	}
	if !strings.Contains(out, `"timestamp":"2025-01-01T00:00:00.000Z"`) {
		t.Errorf("--now not applied:\n%s", out)
	}
	// Without --now, the clock.
	out, _, _ = encode(t, ":a!a@a PRIVMSG #c :hi\n")
	var env struct{ Timestamp string }
	json.Unmarshal([]byte(out), &env)
	ts, err := time.Parse(time.RFC3339Nano, env.Timestamp)
	if err != nil || time.Since(ts) > time.Hour || time.Since(ts) < -time.Hour {
		t.Errorf("timestamp %q from the clock: %v", env.Timestamp, err)
	}
}

func TestEncodeBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"--now", "yesterday"},
		{"--kinds", "privmsg,join"},
		{"--seed", "x"},
		{"extra"},
		{"--nope"},
	} {
		if _, errs, code := encode(t, "", args...); code != 2 || errs == "" {
			t.Errorf("encode %q: exit %d, stderr %q; want 2 and a message", args, code, errs)
		}
	}
}

func TestEncodeTooLongLine(t *testing.T) {
	in := ":a!a@a PRIVMSG #c :" + strings.Repeat("x", 600) + "\n:a!a@a PRIVMSG #c :short\n"
	out, errs, code := encode(t, in, "--max-line", "512")
	if code != 0 || strings.Count(out, "\n") != 1 || !strings.Contains(errs, "1 too long") {
		t.Errorf("exit %d, %d envelopes, stderr %q", code, strings.Count(out, "\n"), errs)
	}
}

// TestEncodeStreams: each envelope is written as soon as its line is read,
// before the input ends.
func TestEncodeStreams(t *testing.T) {
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	t.Cleanup(func() { inW.Close(); outR.Close() }) // stops runEncode on failure
	done := make(chan int, 1)
	go func() {
		done <- runEncode(nil, inR, outW, io.Discard)
		outW.Close()
	}()
	rd := bufio.NewReader(outR)
	for i := range 3 {
		got := make(chan string, 1)
		go func() {
			l, _ := rd.ReadString('\n')
			got <- l
		}()
		if _, err := io.WriteString(inW, ":a!a@a PRIVMSG #c :line\r\n"); err != nil {
			t.Fatal(err)
		}
		select {
		case l := <-got:
			if !strings.Contains(l, `"text":"line"`) {
				t.Fatalf("envelope %d: %q", i, l)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("envelope %d not written before the input ended", i)
		}
	}
	inW.Close()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("exit %d", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("encode did not end at EOF")
	}
}
