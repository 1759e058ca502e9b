package envelope

import (
	"testing"

	"github.com/ingress-egress/ingress-egress/ircv3"
)

// Append is on the per-line hot path: with room in dst it must not
// allocate, for any kind, with or without anomalies.
func TestZeroAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under -race")
	}
	e := NewEncoder(&Options{Kinds: allKinds})
	buf := make([]byte, 0, 8192)
	sink := 0
	for _, line := range []string{fullPrivmsg, trickyLines[19], trickyLines[25], trickyLines[34], trickyLines[36], trickyLines[40], trickyLines[26], "PING :x"} {
		lb := []byte(line)
		m, err := ircv3.Parse(lb)
		if err != nil {
			t.Fatal(err)
		}
		if n := testing.AllocsPerRun(200, func() {
			out, _ := e.Append(buf[:0], lb, &m, received)
			sink += len(out)
		}); n != 0 {
			t.Errorf("Append(%.60q...) allocates %v times per run, want 0", line, n)
		}
		if n := testing.AllocsPerRun(200, func() {
			out, _ := e.AppendLine(buf[:0], lb, received)
			sink += len(out)
		}); n != 0 {
			t.Errorf("AppendLine(%.60q...) allocates %v times per run, want 0", line, n)
		}
	}
	id := []byte("885196de-cb67-427a-baa8-82f9b0fcd05f")
	for name, f := range map[string]func(){
		"MessageID":  func() { u := MessageID(id); sink += int(u[0]) },
		"randomUUID": func() { u := e.randomUUID(); sink += int(u[0]) },
		"AppendUUID": func() { buf = AppendUUID(buf[:0], Namespace) },
		"appendString": func() {
			buf = appendString(buf[:0], []byte("Kappa 😂 <3 \xff \u2028 \"x\""), new(bool))
		},
		"appendMillis": func() { buf = appendMillis(buf[:0], 1642786203573) },
	} {
		if n := testing.AllocsPerRun(200, f); n != 0 {
			t.Errorf("%s allocates %v times per run, want 0", name, n)
		}
	}
	_ = sink
}
