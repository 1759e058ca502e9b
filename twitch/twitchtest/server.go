// Package twitchtest is a fake Twitch chat server for tests, benchmarks and
// local runs. It speaks Twitch's dialect of IRC over TCP, TLS, WebSocket and
// secure WebSocket on loopback (or over in-memory pipes, for tests that run
// in a testing/synctest bubble), and it is driven through its Go API: it
// checks tokens, answers JOINs with the echo and ROOMSTATE, enforces the JOIN
// rate limit, pings and drops silent clients, and on demand sends
// RECONNECT, closes connections abruptly, turns into a black hole, splits
// lines at arbitrary points, packs several lines into one WebSocket message,
// and generates PRIVMSGs with unique ids.
package twitchtest

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/ingress-egress/ingress-egress/internal/testcert"
	"github.com/ingress-egress/ingress-egress/ircv3"
)

// Config configures a Server. The zero value is a server that accepts
// anonymous logins and any token for any login.
type Config struct {
	// Tokens maps a login to the token it must send (without "oauth:").
	// Nil accepts any non-empty token; a login missing from a non-nil map
	// is refused.
	Tokens map[string]string
	// NoAnonymous refuses justinfan<digits> logins.
	NoAnonymous bool
	// JoinLimit is the number of JOINs (channels) per JoinWindow a login may
	// send; one more and its connection is closed. Default 20 per 10 s;
	// negative: no limit.
	JoinLimit  int
	JoinWindow time.Duration
	// JoinDelay is how long the server takes to answer each channel of a
	// JOIN (it reads nothing else meanwhile). Default 0.
	JoinDelay time.Duration
	// PingInterval is how often the server PINGs each client (0: never);
	// a client that does not answer within PongTimeout (default 10 s) is
	// dropped.
	PingInterval time.Duration
	PongTimeout  time.Duration
	// LinesPerFrame packs up to this many queued lines into one WebSocket
	// message (default 1).
	LinesPerFrame int
	// SplitWrites cuts TCP and TLS writes into pieces of 1 to SplitWrites
	// bytes at random points (0: whole writes; 1: byte by byte).
	SplitWrites int
	// MaxQueue is the most lines queued for one client; Send waits while
	// the queue is full (backpressure on Generate). Default 8192.
	MaxQueue int
	// DropQueue, when positive, is the most lines queued for one client
	// before the server drops it, as Twitch drops a reader that falls
	// behind: a Send to a client whose queue holds DropQueue lines closes
	// the connection instead of waiting. It takes effect below MaxQueue.
	DropQueue int
	// SendBuffer, when positive, sets the kernel send buffer of each
	// accepted connection (SO_SNDBUF) in bytes, so that a client that
	// stops reading fills the server's queue sooner.
	SendBuffer int
	// Record keeps a record of every PRIVMSG written to a client (Records)
	// and of every connection (Conns). Writes go out in pieces of at most
	// 64 lines, so that each record's time is the time of its own write.
	Record bool
}

// Stats counts what the server saw.
type Stats struct {
	Connections   int // accepted
	Logins        int // successful registrations
	LoginFailures int
	Joins         int // channels in JOIN commands
	JoinKicks     int // clients dropped for exceeding the JOIN limit
	PingTimeouts  int // clients dropped for not answering PING
	SlowDrops     int // clients dropped for a queue over Config.DropQueue
	Pongs         int // PONGs received
	Pings         int // PINGs received from clients
	Privmsgs      int // PRIVMSGs sent by Generate and Broadcast (per client)
	// MaxWindowJoins is the most JOINs (channels) one login sent within
	// one JoinWindow, the JOIN just counted included (with a JOIN limit
	// only): a client that stays within Twitch's per-identity limit keeps
	// it at or below JoinLimit.
	MaxWindowJoins int
}

// Server is a fake Twitch chat server. Its methods are safe for concurrent
// use.
type Server struct {
	cfg  Config
	cert *testcert.Cert

	mu          sync.Mutex
	clients     map[*Client]struct{}
	listeners   []net.Listener
	https       []*http.Server
	tokens      map[string]string
	suspended   map[string]string // channel → NOTICE msg-id
	ignoreJoins int
	blackhole   bool
	joinTimes   map[string][]time.Time // login → recent JOIN times
	stats       Stats
	nextID      uint64 // clients
	nextMsg     uint64 // generated messages
	closed      bool
	wg          sync.WaitGroup
	rec         recorder // Config.Record
	mutePings   bool     // PINGs of clients go unanswered
	idx         chanIndex
}

// NewServer returns a server; it listens once Listen or ListenPipe is
// called.
func NewServer(cfg Config) *Server {
	if cfg.JoinLimit == 0 {
		cfg.JoinLimit = 20
	}
	if cfg.JoinWindow <= 0 {
		cfg.JoinWindow = 10 * time.Second
	}
	if cfg.PongTimeout <= 0 {
		cfg.PongTimeout = 10 * time.Second
	}
	if cfg.LinesPerFrame <= 0 {
		cfg.LinesPerFrame = 1
	}
	if cfg.MaxQueue <= 0 {
		cfg.MaxQueue = 8192
	}
	s := &Server{
		cfg:       cfg,
		clients:   make(map[*Client]struct{}),
		suspended: make(map[string]string),
		joinTimes: make(map[string][]time.Time),
	}
	if cfg.Tokens != nil {
		s.tokens = make(map[string]string)
		for k, v := range cfg.Tokens {
			s.tokens[k] = v
		}
	}
	return s
}

func (s *Server) certificate() (*testcert.Cert, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cert == nil {
		c, err := testcert.New()
		if err != nil {
			return nil, err
		}
		s.cert = c
	}
	return s.cert, nil
}

// ClientTLS returns a TLS configuration that trusts the server's
// certificate (for tls:// and wss://).
func (s *Server) ClientTLS() *tls.Config {
	c, err := s.certificate()
	if err != nil {
		return nil
	}
	return c.ClientConfig()
}

// Listen serves proto ("tcp", "tls", "ws" or "wss") on a free port of
// 127.0.0.1 and returns the URL to connect to.
func (s *Server) Listen(proto string) (string, error) {
	return s.ListenAddr(proto, "127.0.0.1:0")
}

// ListenAddr is Listen on a given address.
func (s *Server) ListenAddr(proto, addr string) (string, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return "", err
	}
	if err := s.Serve(l, proto); err != nil {
		l.Close()
		return "", err
	}
	return proto + "://" + l.Addr().String(), nil
}

// ListenPipe serves proto over in-memory connections (net.Pipe), which work
// inside a testing/synctest bubble. It returns the URL and the dial
// function to put in twitch.Options.Dial.
func (s *Server) ListenPipe(proto string) (url string, dial func(ctx context.Context, network, addr string) (net.Conn, error), err error) {
	l := NewPipeListener()
	if err := s.Serve(l, proto); err != nil {
		return "", nil, err
	}
	return proto + "://localhost:1", l.Dial, nil
}

// Serve accepts connections of proto on l until the server is closed.
func (s *Server) Serve(l net.Listener, proto string) error {
	var tlsConf *tls.Config
	if proto == "tls" || proto == "wss" {
		c, err := s.certificate()
		if err != nil {
			return err
		}
		tlsConf = c.ServerConfig()
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return errors.New("twitchtest: server closed")
	}
	s.listeners = append(s.listeners, l)
	s.mu.Unlock()
	if s.cfg.SendBuffer > 0 {
		l = sendBufferListener{l, s.cfg.SendBuffer}
	}
	switch proto {
	case "tcp", "tls":
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				if tlsConf != nil {
					c = tls.Server(c, tlsConf)
				}
				s.serveConn(&streamConn{c: c, split: s.cfg.SplitWrites, r: ircv3.NewReader(c, 1<<20)})
			}
		}()
	case "ws", "wss":
		if tlsConf != nil {
			l = tls.NewListener(l, tlsConf)
		}
		hs := &http.Server{Handler: http.HandlerFunc(s.serveWS)}
		s.mu.Lock()
		s.https = append(s.https, hs)
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			hs.Serve(l)
		}()
	default:
		return fmt.Errorf("twitchtest: protocol %q: want tcp, tls, ws or wss", proto)
	}
	return nil
}

func (s *Server) serveWS(w http.ResponseWriter, r *http.Request) {
	c, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true, CompressionMode: websocket.CompressionDisabled})
	if err != nil {
		return
	}
	c.SetReadLimit(1 << 20)
	s.serveConn(&wsConn{c: c, per: s.cfg.LinesPerFrame})
}

// Close closes the listeners and every client, and waits for the server's
// goroutines.
func (s *Server) Close() {
	s.mu.Lock()
	s.closed = true
	ls, hs := s.listeners, s.https
	s.listeners, s.https = nil, nil
	clients := s.clientList()
	s.mu.Unlock()
	for _, l := range ls {
		l.Close()
	}
	for _, h := range hs {
		h.Close()
	}
	for _, c := range clients {
		c.Close()
	}
	s.wg.Wait()
}

func (s *Server) clientList() []*Client {
	out := make([]*Client, 0, len(s.clients))
	for c := range s.clients {
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b *Client) int { return int(a.id) - int(b.id) })
	return out
}

// Clients returns the connected clients, oldest first.
func (s *Server) Clients() []*Client {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.clientList()
}

// Stats returns the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// SetToken sets the token login must send (a refresh on Twitch's side).
func (s *Server) SetToken(login, token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tokens == nil {
		s.tokens = make(map[string]string)
	}
	s.tokens[login] = token
}

// Suspend makes JOINs of channel fail with a NOTICE of msgID
// (msg_channel_suspended, msg_banned); an empty msgID lifts it.
func (s *Server) Suspend(channel, msgID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if msgID == "" {
		delete(s.suspended, channel)
	} else {
		s.suspended[channel] = msgID
	}
}

// IgnoreJoins makes the server leave the next n channel JOINs unanswered
// (and not joined).
func (s *Server) IgnoreJoins(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ignoreJoins = n
}

// Reconnect sends RECONNECT to every registered client. The connections
// stay open until the clients close them (or CloseAll).
func (s *Server) Reconnect() int {
	n := 0
	for _, c := range s.Clients() {
		if c.Registered() {
			c.Send(":tmi.twitch.tv RECONNECT")
			n++
		}
	}
	return n
}

// CloseAll closes every client connection at once, without a message.
func (s *Server) CloseAll() {
	for _, c := range s.Clients() {
		c.Close()
	}
}

// Blackhole makes every current and future connection stop reading and
// writing without closing (a half-open connection), or ends that.
func (s *Server) Blackhole(on bool) {
	s.mu.Lock()
	s.blackhole = on
	clients := s.clientList()
	s.mu.Unlock()
	for _, c := range clients {
		c.setBlackhole(on)
	}
}

// Broadcast sends line to every registered client joined to channel and
// returns how many got it.
func (s *Server) Broadcast(channel, line string) int {
	n := 0
	for _, c := range s.Clients() {
		if c.InChannel(channel) {
			c.Send(line)
			n++
		}
	}
	return n
}

// Wait polls cond every 5 ms until it is true or ctx is done.
func Wait(ctx context.Context, cond func() bool) error {
	for !cond() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
	return nil
}

// conn is a client connection's line I/O.
type conn interface {
	readLine() ([]byte, error)
	write(lines [][]byte) error
	close()
}

// Client is one connection to the server.
type Client struct {
	s  *Server
	id uint64
	c  conn

	mu         sync.Mutex
	cond       *sync.Cond
	queue      [][]byte
	login      string
	pass       string
	registered bool
	joined     map[string]bool
	blackhole  bool
	closed     bool
	writing    bool
	lastPong   time.Time
	done       chan struct{}
	black      chan struct{} // closed when blackhole ends or the client closes
	cut        bool          // CutMidLine took the connection over

	wmu sync.Mutex // serialises writes to c.c
}

func (s *Server) serveConn(c conn) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		c.close()
		return
	}
	s.nextID++
	cl := &Client{s: s, id: s.nextID, c: c, joined: make(map[string]bool), done: make(chan struct{})}
	cl.cond = sync.NewCond(&cl.mu)
	cl.blackhole = s.blackhole
	cl.black = make(chan struct{})
	s.clients[cl] = struct{}{}
	s.stats.Connections++
	if s.cfg.Record {
		s.rec.opened(cl.id, time.Now())
	}
	s.wg.Add(2)
	s.mu.Unlock()
	go cl.readLoop()
	go cl.writeLoop()
	if s.cfg.PingInterval > 0 {
		s.wg.Add(1)
		go cl.pingLoop()
	}
}

// ID returns the client's number, from 1 in order of connection.
func (c *Client) ID() uint64 { return c.id }

// Login returns the login the client registered with.
func (c *Client) Login() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.login
}

// Registered reports whether the client has logged in.
func (c *Client) Registered() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.registered
}

// InChannel reports whether the client has joined channel (without '#').
func (c *Client) InChannel(channel string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.joined[channel] && !c.closed
}

// Channels returns the channels the client has joined, sorted.
func (c *Client) Channels() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for ch, ok := range c.joined {
		if ok {
			out = append(out, ch)
		}
	}
	slices.Sort(out)
	return out
}

// Closed reports whether the connection has been closed.
func (c *Client) Closed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// Send queues one line (without line ending) for the client.
func (c *Client) Send(line string) { c.SendRaw([]byte(line)) }

// SendRaw queues one line (without line ending) for the client, waiting
// while its queue is full. A line sent to a closed client or a black hole
// is lost.
func (c *Client) SendRaw(line []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if d := c.s.cfg.DropQueue; d > 0 && len(c.queue) >= d && !c.closed && !c.blackhole {
		c.mu.Unlock()
		c.dropSlow(d)
		c.mu.Lock()
		return
	}
	for len(c.queue) >= c.s.cfg.MaxQueue && !c.closed && !c.blackhole {
		c.cond.Wait()
	}
	if c.closed || c.blackhole {
		return
	}
	c.queue = append(c.queue, line)
	c.cond.Broadcast()
}

// Part removes the client from channel as Twitch does when a channel is
// suspended under it: it sends the PART of the client's own nick.
func (c *Client) Part(channel string) {
	c.mu.Lock()
	c.leave(channel)
	login := c.login
	c.mu.Unlock()
	c.Send(fmt.Sprintf(":%s!%s@%s.tmi.twitch.tv PART #%s", login, login, login, channel))
}

// leave removes channel from the client's joined set and the server's
// index; c.mu is held.
func (c *Client) leave(channel string) {
	if c.joined[channel] && !c.closed {
		c.s.idx.remove(channel, c)
	}
	delete(c.joined, channel)
}

// Close closes the connection at once.
func (c *Client) Close() { c.closeBy(EndServer, "closed by the server") }

// closeBy closes the connection at once; by and reason go into its
// ConnRecord.
func (c *Client) closeBy(by, reason string) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	unsent := len(c.queue)
	for ch, ok := range c.joined {
		if ok {
			c.s.idx.remove(ch, c)
		}
	}
	c.cond.Broadcast()
	close(c.black)
	c.mu.Unlock()
	if c.s.cfg.Record {
		c.s.rec.ended(c.id, time.Now(), by, reason, unsent)
	}
	c.c.close()
	c.s.mu.Lock()
	delete(c.s.clients, c)
	c.s.mu.Unlock()
}

func (c *Client) setBlackhole(on bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || c.blackhole == on {
		return
	}
	c.blackhole = on
	if on {
		c.queue = nil
	} else {
		close(c.black)
		c.black = make(chan struct{})
	}
	c.cond.Broadcast()
}

// waitBlackhole blocks while the client is a black hole; it reports false
// when the client was closed.
func (c *Client) waitBlackhole() bool {
	for {
		c.mu.Lock()
		bh, closed, ch := c.blackhole, c.closed, c.black
		c.mu.Unlock()
		if closed {
			return false
		}
		if !bh {
			return true
		}
		<-ch
	}
}

func (c *Client) writeLoop() {
	defer c.s.wg.Done()
	for {
		c.mu.Lock()
		for (len(c.queue) == 0 || c.blackhole || c.cut) && !c.closed {
			c.cond.Wait()
		}
		if c.closed {
			c.mu.Unlock()
			return
		}
		batch := c.queue
		c.queue = nil
		c.writing = true
		c.cond.Broadcast()
		c.mu.Unlock()
		err := c.writeBatch(batch)
		c.mu.Lock()
		c.writing = false
		c.mu.Unlock()
		if err != nil {
			c.closeBy(EndClient, "write: "+err.Error())
			return
		}
	}
}

func (c *Client) pingLoop() {
	defer c.s.wg.Done()
	cfg := &c.s.cfg
	t := time.NewTicker(cfg.PingInterval)
	defer t.Stop()
	for {
		select {
		case <-c.done:
			return
		case <-t.C:
		}
		sent := time.Now()
		c.Send("PING :tmi.twitch.tv")
		select {
		case <-c.done:
			return
		case <-time.After(cfg.PongTimeout):
		}
		c.mu.Lock()
		late := c.lastPong.Before(sent)
		c.mu.Unlock()
		if late {
			c.s.mu.Lock()
			c.s.stats.PingTimeouts++
			c.s.mu.Unlock()
			c.closeBy(EndServer, "ping timeout")
			return
		}
	}
}

func (c *Client) readLoop() {
	defer c.s.wg.Done()
	defer close(c.done)
	defer c.Close()
	for {
		if !c.waitBlackhole() {
			return
		}
		line, err := c.c.readLine()
		if err == ircv3.ErrLineTooLong {
			continue
		}
		if err != nil {
			c.closeBy(EndClient, "read: "+err.Error())
			return
		}
		if !c.waitBlackhole() {
			return
		}
		msg, err := ircv3.Parse(line)
		if err != nil {
			continue
		}
		if !c.handle(&msg) {
			return
		}
	}
}

// handle answers one client line; false closes the connection.
func (c *Client) handle(m *ircv3.Message) bool {
	s := c.s
	switch string(m.Command) {
	case "CAP":
		if string(m.Param(0)) == "LS" {
			// Twitch answers CAP LS (with or without a version) with the
			// three capabilities it offers; clients that negotiate before
			// registering (Twurple) wait for it.
			c.Send(":tmi.twitch.tv CAP * LS :twitch.tv/membership twitch.tv/tags twitch.tv/commands")
			return true
		}
		if string(m.Param(0)) != "REQ" {
			return true
		}
		caps := string(m.Trailing())
		verb := "ACK"
		for _, cp := range strings.Fields(caps) {
			switch cp {
			case "twitch.tv/tags", "twitch.tv/commands", "twitch.tv/membership":
			default:
				verb = "NAK"
			}
		}
		c.Send(":tmi.twitch.tv CAP * " + verb + " :" + caps)
	case "PASS":
		c.mu.Lock()
		c.pass = strings.TrimPrefix(string(m.Param(0)), "oauth:")
		c.mu.Unlock()
	case "NICK":
		return c.register(string(m.Param(0)))
	case "PING":
		s.mu.Lock()
		s.stats.Pings++
		mute := s.mutePings
		s.mu.Unlock()
		if mute {
			return true
		}
		c.Send(":tmi.twitch.tv PONG tmi.twitch.tv :" + string(m.Trailing()))
	case "PONG":
		c.mu.Lock()
		c.lastPong = time.Now()
		c.mu.Unlock()
		s.mu.Lock()
		s.stats.Pongs++
		s.mu.Unlock()
	case "JOIN":
		if !c.Registered() {
			return true
		}
		for _, ch := range strings.Split(string(m.Param(0)), ",") {
			if s.cfg.JoinDelay > 0 {
				time.Sleep(s.cfg.JoinDelay)
			}
			if !c.join(strings.TrimPrefix(ch, "#")) {
				return false
			}
		}
	case "PART":
		if !c.Registered() {
			return true
		}
		login := c.Login()
		for _, ch := range strings.Split(string(m.Param(0)), ",") {
			ch = strings.TrimPrefix(ch, "#")
			c.mu.Lock()
			c.leave(ch)
			c.mu.Unlock()
			c.Send(fmt.Sprintf(":%s!%s@%s.tmi.twitch.tv PART #%s", login, login, login, ch))
		}
	case "QUIT":
		c.closeBy(EndClient, "QUIT")
		return false
	}
	return true
}

func isAnonymous(login string) bool {
	if !strings.HasPrefix(login, "justinfan") || len(login) == len("justinfan") {
		return false
	}
	_, err := strconv.ParseUint(login[len("justinfan"):], 10, 64)
	return err == nil
}

func (c *Client) register(login string) bool {
	s := c.s
	c.mu.Lock()
	pass := c.pass
	c.mu.Unlock()
	s.mu.Lock()
	ok := false
	switch {
	case isAnonymous(login):
		ok = !s.cfg.NoAnonymous
	case s.tokens == nil:
		ok = pass != ""
	default:
		want, known := s.tokens[login]
		ok = known && pass != "" && pass == want
	}
	if ok {
		s.stats.Logins++
	} else {
		s.stats.LoginFailures++
	}
	s.mu.Unlock()
	if !ok {
		c.Send(":tmi.twitch.tv NOTICE * :Login authentication failed")
		c.flushAndClose()
		return true
	}
	c.mu.Lock()
	c.login = login
	c.registered = true
	c.mu.Unlock()
	for _, l := range []string{
		":tmi.twitch.tv 001 " + login + " :Welcome, GLHF!",
		":tmi.twitch.tv 002 " + login + " :Your host is tmi.twitch.tv",
		":tmi.twitch.tv 003 " + login + " :This server is rather new",
		":tmi.twitch.tv 004 " + login + " :-",
		":tmi.twitch.tv 375 " + login + " :-",
		":tmi.twitch.tv 372 " + login + " :You are in a maze of twisty passages, all alike.",
		":tmi.twitch.tv 376 " + login + " :>",
	} {
		c.Send(l)
	}
	if !isAnonymous(login) {
		c.Send("@badge-info=;badges=;color=;display-name=" + login + ";emote-sets=0;user-id=1;user-type= :tmi.twitch.tv GLOBALUSERSTATE")
	}
	return true
}

// flushAndClose closes the connection once its queue has been written (at
// most 1 s later).
func (c *Client) flushAndClose() {
	go func() {
		deadline := time.Now().Add(time.Second)
		for time.Now().Before(deadline) {
			c.mu.Lock()
			empty := len(c.queue) == 0 && !c.writing
			c.mu.Unlock()
			if empty {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		time.Sleep(10 * time.Millisecond)
		c.closeBy(EndServer, "login failed")
	}()
}

// join handles one channel of a JOIN; false: the client exceeded the rate
// limit and is dropped.
func (c *Client) join(ch string) bool {
	s := c.s
	login := c.Login()
	now := time.Now()
	s.mu.Lock()
	s.stats.Joins++
	if s.cfg.JoinLimit > 0 {
		ts := s.joinTimes[login]
		cut := 0
		for cut < len(ts) && now.Sub(ts[cut]) >= s.cfg.JoinWindow {
			cut++
		}
		ts = append(ts[cut:], now)
		s.joinTimes[login] = ts
		s.stats.MaxWindowJoins = max(s.stats.MaxWindowJoins, len(ts))
		if len(ts) > s.cfg.JoinLimit {
			s.stats.JoinKicks++
			s.mu.Unlock()
			c.closeBy(EndServer, "JOIN limit exceeded")
			return false
		}
	}
	if s.ignoreJoins > 0 {
		s.ignoreJoins--
		s.mu.Unlock()
		return true
	}
	msgID := s.suspended[ch]
	s.mu.Unlock()
	if msgID != "" {
		c.Send("@msg-id=" + msgID + " :tmi.twitch.tv NOTICE #" + ch + " :This channel does not exist or has been suspended.")
		return true
	}
	c.mu.Lock()
	if !c.joined[ch] && !c.closed {
		c.s.idx.add(ch, c)
	}
	c.joined[ch] = true
	c.mu.Unlock()
	c.Send(fmt.Sprintf(":%s!%s@%s.tmi.twitch.tv JOIN #%s", login, login, login, ch))
	c.Send(fmt.Sprintf(":%s.tmi.twitch.tv 353 %s = #%s :%s", login, login, ch, login))
	c.Send(fmt.Sprintf(":%s.tmi.twitch.tv 366 %s #%s :End of /NAMES list", login, login, ch))
	c.Send("@emote-only=0;followers-only=-1;r9k=0;room-id=" + roomID(ch) + ";slow=0;subs-only=0 :tmi.twitch.tv ROOMSTATE #" + ch)
	return true
}

func roomID(ch string) string {
	h := uint32(2166136261)
	for i := 0; i < len(ch); i++ {
		h = (h ^ uint32(ch[i])) * 16777619
	}
	return strconv.FormatUint(uint64(h%900000000+100000000), 10)
}

// streamConn is a TCP or TLS client.
type streamConn struct {
	c     net.Conn
	r     *ircv3.Reader
	split int
	buf   []byte
}

func (sc *streamConn) readLine() ([]byte, error) { return sc.r.ReadLine() }

func (sc *streamConn) write(lines [][]byte) error {
	sc.buf = sc.buf[:0]
	for _, l := range lines {
		sc.buf = append(sc.buf, l...)
		sc.buf = append(sc.buf, '\r', '\n')
	}
	b := sc.buf
	if sc.split <= 0 {
		_, err := sc.c.Write(b)
		return err
	}
	for len(b) > 0 {
		n := 1 + rand.IntN(sc.split)
		n = min(n, len(b))
		if _, err := sc.c.Write(b[:n]); err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}

func (sc *streamConn) close() { sc.c.Close() }

// wsConn is a WebSocket client: lines are sent with "\r\n", up to per in
// one message.
type wsConn struct {
	c    *websocket.Conn
	per  int
	rest []byte
	buf  []byte
}

func (wc *wsConn) readLine() ([]byte, error) {
	for {
		for len(wc.rest) > 0 {
			var line []byte
			line, wc.rest = ircv3.NextLine(wc.rest)
			if len(line) > 0 {
				return line, nil
			}
		}
		_, b, err := wc.c.Read(context.Background())
		if err != nil {
			return nil, err
		}
		wc.rest = b
	}
}

func (wc *wsConn) write(lines [][]byte) error {
	for len(lines) > 0 {
		n := min(wc.per, len(lines))
		wc.buf = wc.buf[:0]
		for _, l := range lines[:n] {
			wc.buf = append(wc.buf, l...)
			wc.buf = append(wc.buf, '\r', '\n')
		}
		lines = lines[n:]
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := wc.c.Write(ctx, websocket.MessageText, wc.buf)
		cancel()
		if err != nil {
			return err
		}
	}
	return nil
}

func (wc *wsConn) close() { wc.c.CloseNow() }

// WriteRaw writes b to the client's connection as it is, bypassing the
// queue and the framing (TCP and TLS: raw bytes; WebSocket: one message).
// It is for malformed input: a line without a newline, a huge line.
func (c *Client) WriteRaw(b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	switch cc := c.c.(type) {
	case *streamConn:
		_, err := cc.c.Write(b)
		return err
	case *wsConn:
		return cc.c.Write(context.Background(), websocket.MessageText, b)
	}
	return errors.New("twitchtest: unknown connection")
}
