package twitch

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/coder/websocket"
)

// The WebSocket read buffer starts small, grows to the largest message,
// and goes back to its first size once messages are small again, so that
// a burst does not keep an idle connection's memory.
func TestWSBufferGrowsAndShrinks(t *testing.T) {
	big := strings.Repeat("PRIVMSG #c :"+strings.Repeat("x", 988)+"\r\n", 100) // 100 lines, 100,000 bytes
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true})
		if err != nil {
			return
		}
		defer c.CloseNow()
		ctx := r.Context()
		c.Write(ctx, websocket.MessageText, []byte("PING :a"))
		c.Write(ctx, websocket.MessageText, []byte(big))
		for range wsShrinkAfter + 1 {
			c.Write(ctx, websocket.MessageText, []byte("PING :small"))
		}
		c.Read(ctx) // until the client closes
	}))
	defer srv.Close()

	o := Options{URL: "ws" + strings.TrimPrefix(srv.URL, "http")}
	o.setDefaults()
	ep, err := parseEndpoint(o.URL)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := dialTransport(context.Background(), ep, &o)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	ws := tr.(*wsTransport)
	read := func(want string) {
		t.Helper()
		line, err := ws.ReadLine()
		if err != nil || !strings.HasPrefix(string(line), want) {
			t.Fatalf("ReadLine = %.40q, %v; want %q…", line, err, want)
		}
	}
	read("PING :a")
	if len(ws.buf) != wsBufMin {
		t.Errorf("first buffer %d bytes, want %d", len(ws.buf), wsBufMin)
	}
	for range 100 {
		read("PRIVMSG #c :xxx")
	}
	if len(ws.buf) < len(big) || len(ws.buf) > 2*len(big) {
		t.Errorf("after a %d-byte message the buffer is %d bytes", len(big), len(ws.buf))
	}
	for range wsShrinkAfter + 1 {
		read("PING :small")
	}
	if len(ws.buf) != wsBufMin {
		t.Errorf("after %d small messages the buffer is %d bytes, want %d", wsShrinkAfter, len(ws.buf), wsBufMin)
	}
}
