package twitch

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/ingress-egress/ingress-egress/ircv3"
)

// Errors of the connection manager.
var (
	// ErrClosed is returned by methods of a Manager that was closed.
	ErrClosed = errors.New("twitch: manager closed")
	// ErrRunning is returned by Run when the Manager is already running.
	ErrRunning = errors.New("twitch: manager already running")
	// ErrLoginFailed means the server rejected the credentials ("Login
	// authentication failed", "Improperly formatted auth", "Invalid NICK").
	// The manager invalidates them and reconnects with backoff.
	ErrLoginFailed = errors.New("twitch: login failed")
	// ErrPongTimeout means nothing arrived within PongTimeout of our PING:
	// the connection is dead or half-open.
	ErrPongTimeout = errors.New("twitch: no answer to ping")
	// ErrRegisterTimeout means registration did not finish in time.
	ErrRegisterTimeout = errors.New("twitch: registration timed out")
	// ErrWriteStalled means the write queue stayed full: writes no longer
	// reach the server.
	ErrWriteStalled = errors.New("twitch: write queue full")
	// ErrInvalidChannel is returned for a channel name that cannot be sent.
	ErrInvalidChannel = errors.New("twitch: invalid channel name")
	// ErrServerReconnect is the reason recorded when the server asked us to
	// reconnect (RECONNECT).
	ErrServerReconnect = errors.New("twitch: server sent RECONNECT")
)

// Line is one line received from the server, handed to a Handler. Msg and
// Raw are views into the connection's read buffer: they are valid only
// during the HandleLine call, and a Handler that keeps anything must copy it.
type Line struct {
	Msg      ircv3.Message // the parsed line
	Raw      []byte        // the line without its line ending
	Conn     uint64        // the connection it came on, unique in the Manager
	Received time.Time     // when it was read
}

// Handler consumes the lines of every connection.
//
// HandleLine is called for every line that parses, in order for each
// connection, from one goroutine per connection (so concurrently for
// different connections). While it runs, its connection reads nothing more:
// a Handler that blocks (a full bus) holds the connection back, nothing is
// dropped, and the time spent is counted in the status. A non-nil error is
// fatal: the manager stops and Run returns it.
type Handler interface {
	HandleLine(ctx context.Context, l *Line) error
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, l *Line) error

// HandleLine calls f.
func (f HandlerFunc) HandleLine(ctx context.Context, l *Line) error { return f(ctx, l) }

// Options configure a Manager. Every zero field takes its default.
type Options struct {
	// URL of the chat server (TWITCH_IRC_URL). Default DefaultURL
	// (wss://irc-ws.chat.twitch.tv:443). Schemes: wss://, tls:// or
	// ircs:// (irc.chat.twitch.tv:6697), and for local servers ws://,
	// tcp:// or irc://.
	URL string
	// Login is the account to log in as (TWITCH_BOT_USERNAME); it is passed
	// to Auth.ChatAuth.
	Login string
	// Auth provides the credentials. Nil logs in anonymously as
	// justinfan<digits> (read-only), as does an Auth that returns
	// Anonymous.
	Auth AuthSource
	// Channels to join (TWITCH_CHANNELS), normalised: lowercase, without
	// '#'. More can be added and removed while running.
	Channels []string
	// Handler receives every line. Required.
	Handler Handler

	// Caps are requested one per CAP REQ, so that a server that does not
	// know one (InspIRCd NAKs twitch.tv/*) still grants the others; a NAK
	// is not an error. Default twitch.tv/tags and twitch.tv/commands, and
	// twitch.tv/membership when Membership is set.
	Caps []string
	// Membership requests twitch.tv/membership (JOIN/PART of other users)
	// (TWITCH_MEMBERSHIP). Default false.
	Membership bool

	// ReconnectInitial is the first reconnect delay's ceiling
	// (IRC_RECONNECT_INITIAL_MS). Default 1 s.
	ReconnectInitial time.Duration
	// ReconnectMax caps the reconnect delay (IRC_RECONNECT_MAX_MS). Default
	// 30 s.
	ReconnectMax time.Duration
	// HealthyAfter is how long a connection must stay up for the backoff
	// to start over, if it did not join every channel. A connection that
	// registered and joined every channel has succeeded: the backoff starts
	// over when it ends, whenever that is. Default 60 s.
	HealthyAfter time.Duration
	// PingInterval is how long the connection may be silent before we send
	// our own PING (IRC_PING_INTERVAL). Default 15 s.
	PingInterval time.Duration
	// PongTimeout is how long after our PING the connection is declared
	// dead if nothing arrives (IRC_PONG_TIMEOUT). Default 5 s.
	PongTimeout time.Duration
	// StallAfter is how long a HandleLine call may wait (backpressure from
	// the bus) before its connection counts as stalled: reported in the
	// status and the log, and if the connection then ends before it caught
	// up, the gap of its channels starts when reading stopped. A stalled
	// reader is not a silent connection: the keepalive leaves it alone.
	// Default 2 s.
	StallAfter time.Duration
	// RegisterTimeout bounds dial, handshakes and registration (up to
	// 001). Default 15 s.
	RegisterTimeout time.Duration
	// WriteTimeout bounds one write. Default 10 s.
	WriteTimeout time.Duration

	// JoinRate JOINs per JoinWindow per Twitch identity
	// (TWITCH_JOIN_RATE): one budget for all the connections of an account,
	// and one for each anonymous connection, which is its own justinfan
	// identity. Default 20 per 10 s (Twitch's published limit for normal
	// accounts; verified bots may use more).
	JoinRate   int
	JoinWindow time.Duration
	// JoinGate, when set, grants every JOIN of a connection logged in as
	// an account (the first JOINs, the JOINs again after a reconnect or a
	// RECONNECT, the retries of unconfirmed ones) from a budget kept
	// outside the manager, in place of its own JoinRate for the account:
	// the budget that several processes logging in as one account share
	// (the cluster's). Anonymous connections keep JoinRate, each its own
	// identity. Nil: the manager's own limit only.
	JoinGate JoinGate
	// ConnectRate is the most new anonymous connections per second, all
	// together (TWITCH_CONNECT_RATE), so that a cold start of a thousand
	// connections does not look like an attack. Twitch publishes no limit
	// for anonymous logins: this is our own caution. Logins as an account
	// keep Twitch's published 20 authentication attempts per 10 s per
	// account. Default 5.
	ConnectRate int
	// JoinTimeout is how long a JOIN may stay unconfirmed (no JOIN echo, no
	// ROOMSTATE) before it is sent again. Default 15 s.
	JoinTimeout time.Duration
	// ChannelsPerConn is the most channels on one connection
	// (TWITCH_CHANNELS_PER_CONN). Default 90.
	ChannelsPerConn int

	// MaxLine is the longest line accepted, without its ending
	// (IRC_MAX_LINE); a longer one is counted and skipped. Default
	// ircv3.DefaultMaxLine (16 KiB).
	MaxLine int
	// MaxMessage is the WebSocket read limit: the largest message (which
	// may carry several lines). A larger one closes the connection, which
	// then reconnects. Default max(256 KiB, 4·MaxLine).
	MaxMessage int
	// ReadCoalesce, when positive, paces the reads of a connection at
	// moderate rates (TWITCH_READ_COALESCE): a read that follows one that
	// drained the socket waits until the next multiple of ReadCoalesce on
	// the clock, so that the lines of that interval are read, handled and
	// published together, and every connection of the process wakes at the
	// same instants. A line then waits up to ReadCoalesce longer in the
	// kernel; a connection with more queued than one read takes is read at
	// once. Zero: every read as soon as data arrives.
	ReadCoalesce time.Duration
	// WriteQueue is the number of pending writes per connection. Default
	// 64.
	WriteQueue int

	// OverlapMax bounds how long the old connection is kept after a
	// RECONNECT while the new one joins. Default 60 s.
	OverlapMax time.Duration
	// DedupWindow and DedupMax bound the set of recent message ids used to
	// drop duplicates during a RECONNECT overlap. Defaults 2 min and 65536.
	DedupWindow time.Duration
	DedupMax    int

	// TLSConfig for wss:// and tls:// (nil: system roots).
	TLSConfig *tls.Config
	// Origin header of the WebSocket handshake. Default http(s)://host.
	Origin string
	// Dial opens the network connection (a test seam). Default a
	// net.Dialer.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// Logger for state changes (connects, reconnects, failed channels).
	// Nil discards.
	Logger *slog.Logger
}

// JoinGate grants JOINs from a budget kept outside the manager (see
// Options.JoinGate).
type JoinGate interface {
	// TakeJoins waits until at least one JOIN of login is allowed and takes
	// up to n of them (n >= 1); it returns how many it took, at least one,
	// or an error: ctx ended (the connection that asked is gone or no
	// longer needs them), or the budget cannot be reached, in which case
	// the manager asks again a second later and sends nothing meanwhile.
	// The manager sends the JOINs it was granted at once, from the
	// goroutine that called TakeJoins, or not at all: a grant that is no
	// longer needed is dropped, never kept for later, so that a JOIN always
	// leaves when its budget says it may. TakeJoins is called from one
	// goroutine per connection at most, concurrently for different
	// connections.
	TakeJoins(ctx context.Context, login string, n int) (int, error)
}

// JoinGateFunc adapts a function to JoinGate.
type JoinGateFunc func(ctx context.Context, login string, n int) (int, error)

// TakeJoins calls f.
func (f JoinGateFunc) TakeJoins(ctx context.Context, login string, n int) (int, error) {
	return f(ctx, login, n)
}

// defaultCaps are Twitch's capabilities.
const (
	capTags       = "twitch.tv/tags"
	capCommands   = "twitch.tv/commands"
	capMembership = "twitch.tv/membership"
)

// authRate and authWindow are Twitch's limit on authentication attempts.
const (
	authRate   = 20
	authWindow = 10 * time.Second
)

func (o *Options) setDefaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	defInt := func(d *int, v int) {
		if *d <= 0 {
			*d = v
		}
	}
	if o.URL == "" {
		o.URL = DefaultURL
	}
	if o.Caps == nil {
		o.Caps = []string{capTags, capCommands}
		if o.Membership {
			o.Caps = append(o.Caps, capMembership)
		}
	}
	def(&o.ReconnectInitial, time.Second)
	def(&o.ReconnectMax, 30*time.Second)
	def(&o.HealthyAfter, 60*time.Second)
	def(&o.PingInterval, 15*time.Second)
	def(&o.PongTimeout, 5*time.Second)
	def(&o.StallAfter, 2*time.Second)
	def(&o.RegisterTimeout, 15*time.Second)
	def(&o.WriteTimeout, 10*time.Second)
	defInt(&o.JoinRate, 20)
	defInt(&o.ConnectRate, 5)
	def(&o.JoinWindow, 10*time.Second)
	def(&o.JoinTimeout, 15*time.Second)
	defInt(&o.ChannelsPerConn, 90)
	defInt(&o.MaxLine, ircv3.DefaultMaxLine)
	defInt(&o.MaxMessage, max(256<<10, 4*o.MaxLine))
	defInt(&o.WriteQueue, 64)
	def(&o.OverlapMax, 60*time.Second)
	def(&o.DedupWindow, 2*time.Minute)
	defInt(&o.DedupMax, 1<<16)
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// Manager keeps a pool of chat connections joined to a set of channels and
// hands every line they receive to a Handler. Create it with New, start it
// with Run. Its methods are safe for concurrent use.
type Manager struct {
	o   Options
	ep  endpoint
	log *slog.Logger
	// anonConnect limits new anonymous connections (ConnectRate).
	anonConnect *window

	mu         sync.Mutex
	channels   map[string]*channel // wanted channels, by normalised name
	slots      []*slot             // in order of creation
	nextSlot   int
	running    bool
	closed     bool
	ctx        context.Context
	cancel     context.CancelCauseFunc
	wg         sync.WaitGroup // slot goroutines
	stopped    chan struct{}  // closed when Run has returned
	gaps       []Gap          // the most recent gaps, oldest first
	gapTotal   uint64
	gapSeconds float64 // total length of closed gaps
	// At shutdown: the earliest time a connection ended by it last read,
	// and how many channels lost their reader then. What the server sent
	// after that time was never read; Run logs it as the gap the
	// shutdown leaves open.
	stopReadAt    time.Time
	stopReadChans int
	nextConn      uint64
	started       time.Time
	accounts      map[string]*account // budgets of the accounts logged in as
}

// account holds the budgets Twitch keeps per account: JOINs (JoinRate per
// JoinWindow) and authentication attempts (authRate per authWindow). Every
// connection that logs in as the account shares them.
type account struct {
	joins, logins *window
}

// account returns login's budgets, created at first use.
func (m *Manager) account(login string) *account {
	login = strings.ToLower(login)
	m.mu.Lock()
	defer m.mu.Unlock()
	a := m.accounts[login]
	if a == nil {
		a = &account{joins: newWindow(m.o.JoinRate, m.o.JoinWindow), logins: newWindow(authRate, authWindow)}
		m.accounts[login] = a
	}
	return a
}

// New returns a Manager for opts. It checks the URL and the channels; it
// does not connect.
func New(opts Options) (*Manager, error) {
	if opts.Handler == nil {
		return nil, errors.New("twitch: Options.Handler is nil")
	}
	opts.setDefaults()
	ep, err := parseEndpoint(opts.URL)
	if err != nil {
		return nil, err
	}
	m := &Manager{
		o:           opts,
		ep:          ep,
		log:         opts.Logger.With("component", "twitch"),
		anonConnect: newWindow(opts.ConnectRate, time.Second),
		channels:    make(map[string]*channel),
		stopped:     make(chan struct{}),
		accounts:    make(map[string]*account),
	}
	for _, c := range opts.Channels {
		if err := m.add(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// errStopped is the cancel cause of Close.
var errStopped = errors.New("twitch: stopped")

// Run connects and keeps the connections up until ctx is done or Close is
// called; then it closes every connection and returns. It returns nil after
// Close, ctx's error when ctx ended it, or the Handler's error.
func (m *Manager) Run(ctx context.Context) error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return ErrClosed
	}
	if m.running {
		m.mu.Unlock()
		return ErrRunning
	}
	m.running = true
	m.started = time.Now()
	m.ctx, m.cancel = context.WithCancelCause(ctx)
	for _, sl := range m.slots {
		m.startSlot(sl)
	}
	m.mu.Unlock()

	<-m.ctx.Done()
	m.wg.Wait()
	m.mu.Lock()
	m.closed = true
	m.running = false
	m.mu.Unlock()
	if !m.stopReadAt.IsZero() {
		m.log.Info("reading stopped at shutdown: the channels' gap starts here", "since", m.stopReadAt, "channels", m.stopReadChans)
	}
	close(m.stopped)
	m.log.Info("stopped")
	switch cause := context.Cause(m.ctx); {
	case errors.Is(cause, errStopped):
		return nil
	case ctx.Err() != nil:
		return ctx.Err()
	default:
		return cause
	}
}

// Close stops the Manager and waits until Run has returned. It is safe to
// call more than once.
func (m *Manager) Close() error {
	m.mu.Lock()
	if !m.running {
		m.closed = true
		m.mu.Unlock()
		return nil
	}
	m.cancel(errStopped)
	m.mu.Unlock()
	<-m.stopped
	return nil
}

// fatal stops the manager with err (a Handler's error).
func (m *Manager) fatal(err error) {
	m.mu.Lock()
	if m.cancel != nil {
		m.cancel(err)
	}
	m.mu.Unlock()
}

// AddChannels adds channels to join (normalised: lowercase, without '#').
// A channel already wanted is left as it is, except that a failed one is
// tried again. It returns at once; the joins go through the rate limit.
// The channels are checked first: on an error none is added.
func (m *Manager) AddChannels(ctx context.Context, logins ...string) error {
	for _, l := range logins {
		if _, err := normalizeChannel(l); err != nil {
			return err
		}
	}
	for _, l := range logins {
		if err := m.add(l); err != nil {
			return err
		}
	}
	return nil
}

// RemoveChannels stops wanting the channels and parts them. Unknown
// channels are ignored.
func (m *Manager) RemoveChannels(ctx context.Context, logins ...string) error {
	for _, l := range logins {
		name, err := normalizeChannel(l)
		if err != nil {
			return err
		}
		m.remove(name)
	}
	return nil
}
