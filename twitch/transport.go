package twitch

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/ingress-egress/ingress-egress/ircv3"
)

// DefaultURL is Twitch chat over secure WebSocket.
const DefaultURL = "wss://irc-ws.chat.twitch.tv:443"

// transport is the line I/O of one connection. One goroutine reads and one
// writes; Close may be called from any goroutine, more than once, and
// unblocks both.
type transport interface {
	// ReadLine returns the next non-empty line without its line ending, a
	// view valid until the next call. It returns ircv3.ErrLineTooLong (and
	// no line) for a line over the limit; reading may go on after it.
	ReadLine() ([]byte, error)
	// WriteLines writes b: one or more lines, each ending in "\r\n".
	WriteLines(b []byte) error
	Close() error
}

// endpoint is a parsed Options.URL.
type endpoint struct {
	kind   string // "ws", "tcp"
	tls    bool
	addr   string // host:port to dial
	host   string // host name for TLS verification
	wsURL  string // for kind "ws": the URL given to the WebSocket dialer
	public string // scheme://host:port, without user info, for the status
}

// parseEndpoint accepts wss://, ws://, tls:// or ircs://, tcp:// or irc://
// URLs. A missing port is the scheme's usual one.
// CheckURL reports whether s is a chat server URL that New accepts
// (Options.URL), so that a configuration can be checked before anything
// starts.
func CheckURL(s string) error {
	_, err := parseEndpoint(s)
	return err
}

func parseEndpoint(s string) (endpoint, error) {
	u, err := url.Parse(s)
	if err != nil {
		return endpoint{}, fmt.Errorf("twitch: url: %w", err)
	}
	var ep endpoint
	port := ""
	switch strings.ToLower(u.Scheme) {
	case "wss":
		ep.kind, ep.tls, port = "ws", true, "443"
	case "ws":
		ep.kind, port = "ws", "80"
	case "tls", "ircs":
		ep.kind, ep.tls, port = "tcp", true, "6697"
	case "tcp", "irc":
		ep.kind, port = "tcp", "6667"
	default:
		return endpoint{}, fmt.Errorf("twitch: url scheme %q: want wss, ws, tls, ircs, tcp or irc", u.Scheme)
	}
	ep.host = u.Hostname()
	if ep.host == "" {
		return endpoint{}, errors.New("twitch: url has no host")
	}
	if p := u.Port(); p != "" {
		port = p
	}
	ep.addr = net.JoinHostPort(ep.host, port)
	ep.public = strings.ToLower(u.Scheme) + "://" + ep.addr
	if ep.kind == "ws" {
		w := *u
		w.User = nil
		w.Host = ep.addr
		ep.wsURL = w.String()
		ep.public = ep.wsURL
	}
	return ep, nil
}

// dialTransport connects to ep. ctx bounds the dial and handshakes only.
func dialTransport(ctx context.Context, ep endpoint, o *Options) (transport, error) {
	dial := o.Dial
	if dial == nil {
		var d net.Dialer
		dial = d.DialContext
	}
	// The WebSocket dialer dials from a goroutine of its HTTP transport,
	// which may still run when a failed dial returns: hence the atomic.
	var paced atomic.Pointer[pacedConn]
	if o.ReadCoalesce > 0 {
		inner := dial
		dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := inner(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			pc := &pacedConn{Conn: c, window: o.ReadCoalesce}
			paced.Store(pc)
			return pc, nil
		}
		defer func() {
			if pc := paced.Load(); pc != nil {
				pc.on.Store(true) // handshakes done: their round trips are not held back
			}
		}()
	}
	tlsConf := func() *tls.Config {
		c := o.TLSConfig.Clone()
		if c == nil {
			c = &tls.Config{}
		}
		if c.ServerName == "" {
			c.ServerName = ep.host
		}
		return c
	}
	if ep.kind == "ws" {
		return dialWS(ctx, ep, o, dial, tlsConf)
	}
	c, err := dial(ctx, "tcp", ep.addr)
	if err != nil {
		return nil, err
	}
	if ep.tls {
		tc := tls.Client(c, tlsConf())
		if err := tc.HandshakeContext(ctx); err != nil {
			c.Close()
			return nil, err
		}
		c = tc
	}
	return &tcpTransport{c: c, r: ircv3.NewReader(c, o.MaxLine), wt: o.WriteTimeout}, nil
}

// pacedConn holds back a read that follows a short one (the socket had no
// more than it returned) until the next multiple of window on the wall
// clock, so that at moderate rates a connection is read once per window
// rather than once per packet: the lines that arrived meanwhile are read
// together, and the connections of a process, whose waits end at the same
// instants, are served by one wake-up of one thread. A read that filled
// its buffer is followed at once by the next (the kernel holds more), so
// a busy connection is never held back. Below TLS and WebSocket framing,
// it sees the raw stream.
type pacedConn struct {
	net.Conn
	window time.Duration
	on     atomic.Bool
	short  bool // the last read returned less than it asked for
}

func (c *pacedConn) Read(p []byte) (int, error) {
	if c.short && c.on.Load() {
		now := time.Now()
		time.Sleep(now.Truncate(c.window).Add(c.window).Sub(now))
	}
	n, err := c.Conn.Read(p)
	c.short = err == nil && n < len(p)
	return n, err
}

// tcpTransport frames a byte stream (TCP or TLS) with ircv3.Reader.
type tcpTransport struct {
	c  net.Conn
	r  *ircv3.Reader
	wt time.Duration
}

func (t *tcpTransport) ReadLine() ([]byte, error) {
	line, err := t.r.ReadLine()
	if err == ircv3.ErrTruncated {
		// The stream ended in mid-line: the partial line is not a line.
		return nil, io.ErrUnexpectedEOF
	}
	return line, err
}

func (t *tcpTransport) WriteLines(b []byte) error {
	if t.wt > 0 {
		t.c.SetWriteDeadline(time.Now().Add(t.wt))
	}
	_, err := t.c.Write(b)
	return err
}

func (t *tcpTransport) Close() error { return t.c.Close() }

// wsTransport reads WebSocket text messages, each holding one or more
// lines, into one reused buffer, and sends one line per message. The
// buffer starts at wsBufMin and grows (doubling) to what the largest
// message needs, up to the read limit; after wsShrinkAfter messages in a
// row that fit in wsBufMin it goes back to that size, so that a burst does
// not keep an idle connection's memory.
type wsTransport struct {
	c     *websocket.Conn
	buf   []byte // one message
	rest  []byte // unread lines of the current message
	limit int    // the read limit: the largest message
	small int    // messages in a row that fit in wsBufMin
	max   int
	wt    time.Duration
	once  sync.Once
}

const (
	wsBufMin      = 4 << 10
	wsShrinkAfter = 256
)

func dialWS(ctx context.Context, ep endpoint, o *Options, dial func(context.Context, string, string) (net.Conn, error), tlsConf func() *tls.Config) (transport, error) {
	origin := o.Origin
	if origin == "" {
		origin = "http://" + ep.host
		if ep.tls {
			origin = "https://" + ep.host
		}
	}
	ht := &http.Transport{
		DialContext:       func(ctx context.Context, network, addr string) (net.Conn, error) { return dial(ctx, network, ep.addr) },
		TLSClientConfig:   tlsConf(),
		DisableKeepAlives: true,
		ForceAttemptHTTP2: false,
	}
	defer ht.CloseIdleConnections()
	c, _, err := websocket.Dial(ctx, ep.wsURL, &websocket.DialOptions{
		HTTPClient:      &http.Client{Transport: ht},
		HTTPHeader:      http.Header{"Origin": []string{origin}},
		CompressionMode: websocket.CompressionDisabled,
	})
	if err != nil {
		return nil, err
	}
	limit := o.MaxMessage
	c.SetReadLimit(int64(limit))
	return &wsTransport{c: c, buf: make([]byte, min(wsBufMin, limit+1)), limit: limit, max: o.MaxLine, wt: o.WriteTimeout}, nil
}

// errBinaryMessage: Twitch sends text messages only.
var errBinaryMessage = errors.New("twitch: binary websocket message")

func (t *wsTransport) ReadLine() ([]byte, error) {
	for {
		for len(t.rest) > 0 {
			var line []byte
			line, t.rest = ircv3.NextLine(t.rest)
			if len(line) == 0 {
				continue
			}
			if len(line) > t.max {
				return nil, ircv3.ErrLineTooLong
			}
			return line, nil
		}
		if t.small >= wsShrinkAfter && len(t.buf) > wsBufMin {
			t.buf = make([]byte, wsBufMin) // the burst is over
		}
		// A context without Done: coder/websocket would otherwise register
		// a context.AfterFunc per message. Close unblocks the read.
		typ, r, err := t.c.Reader(context.Background())
		if err != nil {
			return nil, err
		}
		n := 0
		for {
			var m int
			m, err = r.Read(t.buf[n:])
			n += m
			if err != nil {
				break
			}
			if n == len(t.buf) {
				if len(t.buf) > t.limit {
					break // one byte over the limit: too big
				}
				b := make([]byte, min(2*len(t.buf), t.limit+1))
				copy(b, t.buf[:n])
				t.buf = b
			}
		}
		if n <= wsBufMin {
			t.small++
		} else {
			t.small = 0
		}
		if err != io.EOF {
			if err == nil {
				err = websocket.ErrMessageTooBig
			}
			return nil, err
		}
		if typ != websocket.MessageText {
			return nil, errBinaryMessage
		}
		t.rest = t.buf[:n]
	}
}

// WriteLines sends each line of b in its own text message, without its
// line ending: servers such as InspIRCd take exactly one line per message.
func (t *wsTransport) WriteLines(b []byte) error {
	ctx := context.Background()
	if t.wt > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, t.wt)
		defer cancel()
	}
	for len(b) > 0 {
		var line []byte
		line, b = ircv3.NextLine(b)
		if len(line) == 0 {
			continue
		}
		if err := t.c.Write(ctx, websocket.MessageText, line); err != nil {
			return err
		}
	}
	return nil
}

func (t *wsTransport) Close() error {
	t.once.Do(func() { t.c.CloseNow() })
	return nil
}
