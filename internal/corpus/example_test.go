package corpus_test

import (
	"bytes"
	"fmt"
	"strconv"
	"time"

	"github.com/ingress-egress/ingress-egress/internal/corpus"
)

// A fake Twitch server gives each client connection its own Generator, seeded
// differently (ids then never repeat across connections), and writes one
// PRIVMSG per tick for each joined channel with the send time in the line.
// The load harness finds SentTag on the far side of the pipeline and
// measures latency as now - time.Unix(0, sentNS).
func ExampleGenerator() {
	var conn bytes.Buffer // stands in for the client's net.Conn
	g := corpus.NewGenerator(1)
	line := make([]byte, 0, 4096) // reused: AppendPrivmsg does not allocate
	sent := time.Unix(1_750_000_000, 0)
	for _, channel := range []string{"#xqc", "#shroud", "#xqc"} {
		line = g.AppendPrivmsg(line[:0], channel, sent)
		line = append(line, '\r', '\n')
		conn.Write(line)
	}

	// The harness side: read the send time back.
	first, _, _ := bytes.Cut(conn.Bytes(), []byte("\r\n"))
	_, after, _ := bytes.Cut(first, []byte(";"+corpus.SentTag+"="))
	value, _, _ := bytes.Cut(after, []byte(" "))
	ns, _ := strconv.ParseInt(string(value), 10, 64)
	fmt.Println(bytes.Count(conn.Bytes(), []byte("\r\n")), time.Unix(0, ns).Equal(sent))
	// Output: 3 true
}
