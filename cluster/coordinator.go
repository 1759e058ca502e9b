package cluster

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Errors of the coordinator.
var (
	// ErrNotReady is returned by AddChannels and RemoveChannels before the
	// coordinator has reached its buckets.
	ErrNotReady = errors.New("cluster: not connected to the cluster buckets yet")
	// ErrInvalidChannel is returned for a channel login that is not a
	// Twitch login (letters, digits and '_').
	ErrInvalidChannel = errors.New("cluster: invalid channel login")
	// ErrMarkersUnsupported means the NATS server predates per-key expiry
	// markers (nats-server 2.11), which membership needs.
	ErrMarkersUnsupported = errors.New("cluster: the NATS server does not support key expiry markers (nats-server 2.11 or later is needed)")
)

// Reader is what a Coordinator drives: the Twitch connection manager of
// this instance.
type Reader interface {
	// AddChannels starts reading the channels; it returns at once.
	AddChannels(ctx context.Context, logins ...string) error
	// RemoveChannels stops reading the channels (parts them).
	RemoveChannels(ctx context.Context, logins ...string) error
	// Channels reports the channels joined now on a live connection, as
	// confirmed by the server (JOIN echo or ROOMSTATE), and those the
	// server refused for good (banned, suspended).
	Channels() (joined, failed []string)
}

// Options configure a Coordinator. Every zero field takes its default.
type Options struct {
	// Name prefixes the buckets: <Name>_members, <Name>_channels,
	// <Name>_confirmed and <Name>_joins. Instances with the same Name on
	// one NATS account form one cluster. Default "ingress".
	Name string
	// Instance is this instance's id, unique in the cluster
	// (CLUSTER_INSTANCE_ID). Characters other than letters, digits, '_'
	// and '-' become '-'. Default DefaultInstance().
	Instance string
	// Replicas is how many instances read each channel (CLUSTER_REPLICAS).
	// Default 2.
	Replicas int
	// LeaseTTL is how long a member's key outlives its last heartbeat
	// (CLUSTER_LEASE_TTL); heartbeats come every third of it. It is the
	// members bucket's TTL; when the bucket exists with another TTL, the
	// bucket's applies. Default 10 s; at least 1 s.
	LeaseTTL time.Duration
	// KVReplicas is the number of NATS nodes that store each bucket when it
	// is created. Default 3 when the server is part of a NATS cluster,
	// else 1.
	KVReplicas int
	// Seed lists channels to add to the wanted set (TWITCH_CHANNELS): each
	// that the bucket has never seen is added; one removed through
	// RemoveChannels stays removed.
	Seed []string
	// Account is the Twitch login the instances share, for the cluster-wide
	// JOIN budget; empty (anonymous logins, each its own identity) keeps
	// the reader's own limit only.
	Account string
	// GatedReader says that the reader takes every JOIN it sends as Account
	// from TakeJoins (twitch.Options.JoinGate): the first JOINs, and those
	// the coordinator never sees — JOINs again after a reconnect, retries.
	// The coordinator then hands owned channels over at once and leaves the
	// pacing to the reader. False: the coordinator takes one JOIN from the
	// budget for each channel it hands over, which bounds those JOINs only.
	GatedReader bool
	// JoinRate JOINs per JoinWindow for Account, across the cluster.
	// Defaults 20 per 10 s.
	JoinRate   int
	JoinWindow time.Duration
	// JoinMargin lengthens the budget's window to absorb clock offsets
	// between instances and the delay from taking a JOIN to sending it.
	// Default JoinWindow/20.
	JoinMargin time.Duration
	// Poll is how often the reader's joined channels are read. Default
	// 500 ms.
	Poll time.Duration
	// Logger for state changes. Nil discards.
	Logger *slog.Logger
}

func (o *Options) setDefaults() {
	if o.Name == "" {
		o.Name = "ingress"
	}
	if o.Instance == "" {
		o.Instance = DefaultInstance()
	}
	o.Instance = sanitizeKey(o.Instance)
	if o.Replicas <= 0 {
		o.Replicas = 2
	}
	if o.LeaseTTL <= 0 {
		o.LeaseTTL = 10 * time.Second
	}
	o.LeaseTTL = max(o.LeaseTTL, time.Second)
	if o.JoinRate <= 0 {
		o.JoinRate = 20
	}
	if o.JoinWindow <= 0 {
		o.JoinWindow = 10 * time.Second
	}
	if o.JoinMargin <= 0 {
		o.JoinMargin = o.JoinWindow / 20
	}
	if o.Poll <= 0 {
		o.Poll = 500 * time.Millisecond
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// DefaultInstance returns the host name and a random suffix, so that a
// restarted process with the same host name (a container) is a new member.
func DefaultInstance() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		h = "ingress"
	}
	var b [3]byte
	rand.Read(b[:])
	return sanitizeKey(fmt.Sprintf("%s-%x", h, b))
}

// NormalizeChannel returns a channel's login: trimmed, lowercase, without
// '#'. Twitch logins are letters, digits and '_', and start with a letter
// or digit; '-' is accepted too (test servers use it). Anything else
// cannot be a key of the buckets.
func NormalizeChannel(s string) (string, error) {
	s = strings.TrimPrefix(strings.ToLower(strings.TrimSpace(s)), "#")
	if s == "" || len(s) > 64 {
		return "", ErrInvalidChannel
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || i > 0 && (c == '_' || c == '-')) {
			return "", ErrInvalidChannel
		}
	}
	return s, nil
}

// member is a live key of the members bucket.
type member struct {
	// Epoch changes each time the instance holds a lease again after
	// losing it; only confirmations made under the current epoch count,
	// so that those an instance could not remove while it was cut off
	// (of channels it has parted since) are void once it is back.
	Epoch   string    `json:"epoch"`
	Leaving bool      `json:"leaving,omitempty"`
	Started time.Time `json:"started"`
}

// confirmation is the value of a key of the confirmations bucket.
type confirmation struct {
	Epoch string    `json:"epoch"`
	At    time.Time `json:"at"`
}

// newEpoch returns a random lease epoch.
func newEpoch() string {
	var b [6]byte
	rand.Read(b[:])
	return fmt.Sprintf("%x", b)
}

// Coordinator shares the reading of the wanted channels with the other
// instances of the cluster and drives the local Reader accordingly.
//
// Three buckets of a NATS JetStream key-value store hold the shared state:
// the wanted channels (a key per channel), the members (a key per instance,
// refreshed by heartbeats and removed by the server a lease TTL after the
// last one), and the confirmations (a key per channel and instance, present
// while that instance has the channel joined). Each instance watches all
// three and computes, with rendezvous hashing, the Replicas owners of every
// wanted channel among the members that are not leaving; there is no
// leader and nothing is negotiated.
//
// An instance reads the channels it owns and records a confirmation once
// its reader has joined one. A channel it no longer owns is parted only
// when every new owner has confirmed it (make-before-break), or at once if
// it was not joined here. An instance whose own lease has expired (cut off
// from NATS) joins nothing new and keeps reading what it reads: it cannot
// tell whether the others have taken over, and if all of NATS is down
// nobody has. When it holds a lease again it parts what it no longer owns
// the usual way. Leave withdraws the instance (its key says it is leaving,
// so it owns nothing) and waits until its channels are confirmed by their
// new owners.
//
// Its methods are safe for concurrent use.
type Coordinator struct {
	o   Options
	js  jetstream.JetStream
	r   Reader
	log *slog.Logger
	me  string

	// Set by setup before setupDone is closed, read-only afterwards.
	members, channels, confirmed, joins jetstream.KeyValue
	budget                              *Budget
	setupDone                           chan struct{}
	// TakeJoins: one caller at a time takes from the budget (the others of
	// this instance wait here, not in compare-and-set races on the key);
	// budgets of logins other than Account, made at first use.
	takeSem   chan struct{}
	budgetsMu sync.Mutex
	budgets   map[string]*Budget

	poke      chan struct{} // reconcile now
	joinWake  chan struct{} // the join queue has work
	confWake  chan struct{} // confirmations may need writing
	beatNow   chan struct{} // heartbeat now (leaving)
	leaveOnce sync.Once
	readerMu  sync.Mutex    // orders the joiner's AddChannels with reconcile's RemoveChannels
	leaveCh   chan struct{} // closed by Leave
	leftCh    chan struct{} // closed when Run has withdrawn for good

	mu sync.Mutex
	// The buckets as watched.
	live     map[string]member            // member keys present
	wanted   map[string]struct{}          // wanted channels
	removed  map[string]struct{}          // channels whose key was deleted
	confs    map[string]map[string]string // channel → instance → the lease epoch of its confirmation
	loaded   bool                         // the three watches have delivered their contents
	loadedAt time.Time
	watchRev [3]uint64 // latest revision each watch delivered (members, channels, confirmations)
	// The assignment.
	eligible []string            // members that own channels, sorted
	owners   map[string][]string // wanted channel → its owners
	dirty    bool                // eligible or wanted changed: recompute owners
	// This instance.
	added      map[string]struct{} // channels handed (or queued) to the reader
	addFailed  map[string]struct{} // channels the reader refused
	queue      []string            // waiting for the JOIN budget, in order
	joined     map[string]struct{} // the reader's joined channels at the last poll
	failed     map[string]struct{} // the reader's failed channels
	confSent   map[string]time.Time
	lastSeen   map[string]time.Time // instance → when last seen live (janitor)
	lastBeat   map[string]time.Time // instance → when the watch last delivered its heartbeat
	epoch      string               // my lease epoch
	leaseUntil time.Time            // my key exists at least until then
	probeRev   [3]uint64            // revision of my last heartbeat in each bucket
	probeSince [3]time.Time         // since when that write is not yet seen by the watch
	leaving    bool
	leaveCtx   context.Context // bounds the handover; set by Leave
	ready      bool
	ownedN     int // channels I own
	okN        int // of those, joined here
	// Counters and gaps.
	handovers, takeovers, resets uint64
	uncoveredSince               map[string]time.Time // open gaps, after the channel was covered once
	covered                      map[string]struct{}  // channels with a live confirmation now
	everCovered                  map[string]struct{}
	uncoveredN                   int
	gaps                         uint64
	gapSeconds, maxGap           float64
}

// New returns a Coordinator that drives r. It does not connect: Run sets
// the buckets up (waiting for NATS) and runs.
func New(js jetstream.JetStream, r Reader, opts Options) (*Coordinator, error) {
	opts.setDefaults()
	for i, s := range opts.Seed {
		n, err := NormalizeChannel(s)
		if err != nil {
			return nil, fmt.Errorf("%w: %q", ErrInvalidChannel, s)
		}
		opts.Seed[i] = n
	}
	c := &Coordinator{
		o: opts, js: js, r: r, me: opts.Instance,
		log:            opts.Logger.With("component", "cluster", "instance", opts.Instance),
		setupDone:      make(chan struct{}),
		takeSem:        make(chan struct{}, 1),
		budgets:        map[string]*Budget{},
		poke:           make(chan struct{}, 1),
		joinWake:       make(chan struct{}, 1),
		confWake:       make(chan struct{}, 1),
		beatNow:        make(chan struct{}, 1),
		leaveCh:        make(chan struct{}),
		leftCh:         make(chan struct{}),
		live:           map[string]member{},
		wanted:         map[string]struct{}{},
		removed:        map[string]struct{}{},
		confs:          map[string]map[string]string{},
		lastBeat:       map[string]time.Time{},
		owners:         map[string][]string{},
		added:          map[string]struct{}{},
		addFailed:      map[string]struct{}{},
		joined:         map[string]struct{}{},
		failed:         map[string]struct{}{},
		confSent:       map[string]time.Time{},
		lastSeen:       map[string]time.Time{},
		uncoveredSince: map[string]time.Time{},
		covered:        map[string]struct{}{},
		everCovered:    map[string]struct{}{},
	}
	return c, nil
}

// Instance returns this instance's id.
func (c *Coordinator) Instance() string { return c.me }

func wake(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// errLeft ends the setup when Leave comes first.
var errLeft = errors.New("cluster: left before the buckets were set up")

// setupRetry is the pause between attempts to create the buckets.
const setupRetry = time.Second

// setup creates (or opens) the buckets, waiting for NATS until ctx ends.
func (c *Coordinator) setup(ctx context.Context) error {
	logged := false
	for {
		err := c.trySetup(ctx)
		if err == nil {
			close(c.setupDone)
			c.log.Info("cluster buckets ready", "name", c.o.Name, "replicas", c.o.Replicas,
				"leaseTtl", c.o.LeaseTTL.String(), "sharedJoinBudget", c.budget != nil)
			return nil
		}
		if errors.Is(err, ErrMarkersUnsupported) {
			return err
		}
		if !logged {
			c.log.Warn("cannot set up the cluster buckets yet; retrying", "error", err.Error())
			logged = true
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-c.leaveCh:
			return errLeft
		case <-time.After(setupRetry):
		}
	}
}

func (c *Coordinator) trySetup(parent context.Context) error {
	replicas := c.o.KVReplicas
	if replicas <= 0 {
		replicas = 1
		if c.js.Conn().ConnectedClusterName() != "" {
			replicas = 3
		}
	}
	// Each request has its own bound: when several instances create the
	// same bucket at once, a request can go unanswered, and a retry soon
	// finds the bucket made.
	var ctx context.Context
	var cancel context.CancelFunc = func() {}
	defer func() { cancel() }()
	step := func() {
		cancel()
		ctx, cancel = context.WithTimeout(parent, 3*time.Second)
	}
	open := func(cfg jetstream.KeyValueConfig) (jetstream.KeyValue, error) {
		step()
		cfg.Replicas = replicas
		kv, err := c.js.KeyValue(ctx, cfg.Bucket)
		if errors.Is(err, jetstream.ErrBucketNotFound) {
			kv, err = c.js.CreateKeyValue(ctx, cfg)
			if errors.Is(err, jetstream.ErrBucketExists) {
				kv, err = c.js.KeyValue(ctx, cfg.Bucket)
			}
		}
		if errors.Is(err, jetstream.ErrLimitMarkerTTLNotSupported) {
			return nil, ErrMarkersUnsupported
		}
		if err != nil {
			return nil, fmt.Errorf("cluster: bucket %s: %w", cfg.Bucket, err)
		}
		return kv, nil
	}
	var err error
	if c.members, err = open(jetstream.KeyValueConfig{
		Bucket:         c.o.Name + "_members",
		Description:    "ingress-egress cluster members: a key per instance, removed a lease TTL after its last heartbeat",
		TTL:            c.o.LeaseTTL,
		LimitMarkerTTL: c.o.LeaseTTL,
	}); err != nil {
		return err
	}
	step()
	st, err := c.members.Status(ctx)
	if err != nil {
		return fmt.Errorf("cluster: bucket %s: %w", c.o.Name+"_members", err)
	}
	if err := checkMarkers(st); err != nil {
		return err
	}
	if ttl := st.TTL(); ttl != c.o.LeaseTTL && ttl > 0 {
		// Every member must agree with the server on when a lease ends.
		c.log.Warn("the members bucket has another TTL than CLUSTER_LEASE_TTL: the bucket's applies",
			"bucketTtl", ttl.String(), "leaseTtl", c.o.LeaseTTL.String())
		c.o.LeaseTTL = ttl
	}
	if c.channels, err = open(jetstream.KeyValueConfig{
		Bucket:      c.o.Name + "_channels",
		Description: "ingress-egress wanted channels: a key per channel login",
	}); err != nil {
		return err
	}
	if c.confirmed, err = open(jetstream.KeyValueConfig{
		Bucket:      c.o.Name + "_confirmed",
		Description: "ingress-egress joined channels: key channel.instance while that instance has the channel joined",
		// Markers of removed keys expire (PurgeTTL), so that the keys of
		// instances long gone do not pile up.
		LimitMarkerTTL: c.o.LeaseTTL,
	}); err != nil {
		return err
	}
	step()
	if st, err := c.confirmed.Status(ctx); err != nil {
		return fmt.Errorf("cluster: bucket %s: %w", c.o.Name+"_confirmed", err)
	} else if err := checkMarkers(st); err != nil {
		return err
	}
	if c.o.Account != "" {
		if c.joins, err = open(jetstream.KeyValueConfig{
			Bucket:      c.o.Name + "_joins",
			Description: "ingress-egress JOIN budget per Twitch account: the times of the latest JOINs",
		}); err != nil {
			return err
		}
		c.budget = newBudget(c.joins, c.o.Account, c.o.JoinRate, c.o.JoinWindow, c.o.JoinMargin)
	}
	return nil
}

// checkMarkers fails for a bucket made without key expiry markers (by
// hand, or on a server that predates them).
func checkMarkers(st jetstream.KeyValueStatus) error {
	if st.LimitMarkerTTL() == 0 {
		return fmt.Errorf("cluster: bucket %s exists without key expiry markers (delete it to have it made again): %w", st.Bucket(), ErrMarkersUnsupported)
	}
	return nil
}

// Run sets the buckets up and coordinates until ctx ends (it returns
// ctx's error) or Leave has finished (it returns nil).
func (c *Coordinator) Run(ctx context.Context) error {
	if err := c.setup(ctx); err != nil {
		c.leaveOnce.Do(func() { close(c.leaveCh) })
		c.closeLeft()
		if errors.Is(err, errLeft) {
			return nil
		}
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	beatCtx, stopBeat := context.WithCancel(ctx)
	defer stopBeat()
	var beatWG sync.WaitGroup
	beatWG.Go(func() { c.heartbeat(beatCtx) })
	workCtx, stopWork := context.WithCancel(ctx)
	defer stopWork()
	wg.Go(func() { c.watch(workCtx) })
	wg.Go(func() { c.joiner(workCtx) })
	wg.Go(func() { c.confirmer(workCtx) })
	defer wg.Wait()

	tick := time.NewTicker(c.o.Poll)
	defer tick.Stop()
	leaveCh := c.leaveCh
	seeded := false
	for {
		select {
		case <-ctx.Done():
			c.closeLeft()
			return ctx.Err()
		case <-leaveCh:
			leaveCh = nil
			c.mu.Lock()
			c.leaving = true
			c.dirty = true
			c.queue = nil
			reading, joined := len(c.added), 0
			for ch := range c.added {
				if _, ok := c.joined[ch]; ok {
					joined++
				}
			}
			c.mu.Unlock()
			wake(c.beatNow)
			c.log.Info("leaving the cluster: waiting for the owners of my channels to confirm them",
				"reading", reading, "joined", joined)
		case <-c.poke:
		case <-tick.C:
		}
		if !seeded && c.isLoaded() {
			seeded = true
			c.seed(ctx)
		}
		done := c.reconcile(ctx)
		if done {
			stopWork()
			wg.Wait()
			stopBeat()
			beatWG.Wait()
			c.withdraw()
			c.closeLeft()
			return nil
		}
		// Pokes come with every watched write (a burst of confirmations
		// is hundreds): one reconcile per reconcileGap at most.
		select {
		case <-ctx.Done():
		case <-time.After(reconcileGap):
		}
	}
}

// reconcileGap is the least time between two reconciles.
const reconcileGap = 100 * time.Millisecond

func (c *Coordinator) closeLeft() {
	select {
	case <-c.leftCh:
	default:
		close(c.leftCh)
	}
}

func (c *Coordinator) isLoaded() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.loaded
}

// Leave withdraws this instance from the cluster: it stops owning channels
// at once and waits, until ctx ends, for the new owners of the channels it
// reads to confirm them; then it removes its member key and confirmations
// and Run returns. The reader keeps reading: stop it after Leave. Leave
// returns ctx's error when the handover did not finish in time (the
// member key is removed anyway).
func (c *Coordinator) Leave(ctx context.Context) error {
	c.mu.Lock()
	c.leaveCtx = ctx
	c.mu.Unlock()
	c.leaveOnce.Do(func() { close(c.leaveCh) })
	wake(c.poke)
	select {
	case <-c.leftCh:
		return nil
	case <-ctx.Done():
		// Run sees the deadline at its next reconcile and withdraws; wait
		// a moment for that, bounded.
		select {
		case <-c.leftCh:
		case <-time.After(2 * time.Second):
		}
		return ctx.Err()
	}
}

// withdraw removes the member key and this instance's confirmations, best
// effort, within a short bound: the key would expire anyway, and the
// confirmations of a non-member count for nothing.
func (c *Coordinator) withdraw() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := c.members.Purge(ctx, c.me, jetstream.PurgeTTL(c.o.LeaseTTL)); err != nil {
		c.log.Warn("cannot remove my member key; it expires by itself", "error", err.Error())
	}
	c.mu.Lock()
	var keys []string
	for ch, insts := range c.confs {
		if _, ok := insts[c.me]; ok {
			keys = append(keys, ch+"."+c.me)
		}
	}
	c.mu.Unlock()
	parallel(ctx, keys, c.unconfirm)
	c.log.Info("left the cluster", "confirmationsRemoved", len(keys))
}

// unconfirm removes a confirmation key; its marker expires after a lease
// TTL.
func (c *Coordinator) unconfirm(ctx context.Context, key string) error {
	return c.confirmed.Purge(ctx, key, jetstream.PurgeTTL(c.o.LeaseTTL))
}

// parallel runs f for every key, 16 at a time, and returns the number of
// failures.
func parallel(ctx context.Context, keys []string, f func(context.Context, string) error) int {
	var wg sync.WaitGroup
	var mu sync.Mutex
	failed := 0
	sem := make(chan struct{}, 16)
	for _, k := range keys {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			octx, cancel := context.WithTimeout(ctx, opTimeout)
			defer cancel()
			if err := f(octx, k); err != nil {
				mu.Lock()
				failed++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return failed
}

// seed adds the Seed channels the bucket has never seen.
func (c *Coordinator) seed(ctx context.Context) {
	c.mu.Lock()
	var add, skipped []string
	for _, ch := range c.o.Seed {
		_, w := c.wanted[ch]
		_, r := c.removed[ch]
		switch {
		case r:
			skipped = append(skipped, ch)
		case !w:
			add = append(add, ch)
		}
	}
	c.mu.Unlock()
	val, _ := json.Marshal(map[string]string{"source": "seed", "instance": c.me})
	failed := parallel(ctx, add, func(ctx context.Context, ch string) error {
		_, err := c.channels.Create(ctx, ch, val)
		if errors.Is(err, jetstream.ErrKeyExists) {
			return nil
		}
		return err
	})
	if len(skipped) > 0 {
		c.log.Warn("channels of TWITCH_CHANNELS were removed through the admin API and stay removed; add them through the API to read them again",
			"channels", skipped)
	}
	if len(add) > 0 || failed > 0 {
		c.log.Info("seeded the wanted channels", "added", len(add)-failed, "failed", failed)
	}
}

// AddChannels adds channels to the cluster's wanted set (the admin API).
// The logins are checked first: on an error none is added.
func (c *Coordinator) AddChannels(ctx context.Context, logins ...string) error {
	chs, err := normalizeAll(logins)
	if err != nil {
		return err
	}
	select {
	case <-c.setupDone:
	default:
		return ErrNotReady
	}
	val, _ := json.Marshal(map[string]string{"source": "api", "instance": c.me})
	for _, ch := range chs {
		if _, err := withTimeout(ctx, func(ctx context.Context) (uint64, error) { return c.channels.Put(ctx, ch, val) }); err != nil {
			return fmt.Errorf("cluster: add %s: %w", ch, err)
		}
	}
	return nil
}

// RemoveChannels removes channels from the cluster's wanted set (the
// admin API); every instance parts them. A removed channel stays removed
// when an instance starts with it in its Seed.
func (c *Coordinator) RemoveChannels(ctx context.Context, logins ...string) error {
	chs, err := normalizeAll(logins)
	if err != nil {
		return err
	}
	select {
	case <-c.setupDone:
	default:
		return ErrNotReady
	}
	for _, ch := range chs {
		if _, err := withTimeout(ctx, func(ctx context.Context) (struct{}, error) { return struct{}{}, c.channels.Delete(ctx, ch) }); err != nil {
			return fmt.Errorf("cluster: remove %s: %w", ch, err)
		}
	}
	return nil
}

func normalizeAll(logins []string) ([]string, error) {
	out := make([]string, 0, len(logins))
	for _, l := range logins {
		n, err := NormalizeChannel(l)
		if err != nil {
			return nil, fmt.Errorf("%w: %q", ErrInvalidChannel, l)
		}
		out = append(out, n)
	}
	return out, nil
}

// heartbeat writes the member key every third of the lease TTL (at once
// after a failure or when leaving starts) until ctx ends.
func (c *Coordinator) heartbeat(ctx context.Context) {
	started := time.Now().UTC()
	failing := false
	for {
		c.mu.Lock()
		if c.epoch == "" || !c.leaseUntil.IsZero() && time.Now().After(c.leaseUntil) {
			// First lease, or the last one lapsed: a new epoch voids the
			// confirmations made under the old one.
			c.epoch = newEpoch()
		}
		val, _ := json.Marshal(member{Epoch: c.epoch, Leaving: c.leaving, Started: started})
		ttl := c.o.LeaseTTL
		c.mu.Unlock()
		sent := time.Now()
		pctx, cancel := context.WithTimeout(ctx, ttl/3)
		rev, err := c.members.Put(pctx, c.me, val)
		cancel()
		next := ttl / 3
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			if !failing {
				c.log.Warn("cannot renew my lease", "error", err.Error(), "leaseExpiresIn", time.Until(c.lease()).Round(time.Millisecond).String())
				failing = true
			}
			next = min(ttl/10, 500*time.Millisecond)
		} else {
			if failing {
				c.log.Info("lease renewed again")
				failing = false
			}
			c.mu.Lock()
			// The server started the TTL when it stored the key, after
			// sent: the key exists at least until sent+TTL.
			c.leaseUntil = sent.Add(ttl)
			c.probed(0, rev)
			c.mu.Unlock()
			wake(c.poke)
			// A probe in each of the other buckets: the watches must
			// deliver it, or they are stale.
			for b, kv := range [3]jetstream.KeyValue{1: c.channels, 2: c.confirmed} {
				if kv == nil {
					continue
				}
				pctx, cancel := context.WithTimeout(ctx, ttl/3)
				rev, err := kv.Put(pctx, probeKey, []byte(c.me))
				cancel()
				if err == nil {
					c.mu.Lock()
					c.probed(b, rev)
					c.mu.Unlock()
				}
			}
		}
		t := time.NewTimer(next)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-c.beatNow:
			t.Stop()
		case <-t.C:
		}
	}
}

// probeKey is a key of the channels and confirmations buckets that every
// heartbeat writes, so that a watch that stopped delivering is noticed. It
// is no channel login (those start with a letter or digit) and has no
// instance part.
const probeKey = "_probe"

// probed records the revision of a heartbeat write in bucket b; c.mu is
// held.
func (c *Coordinator) probed(b int, rev uint64) {
	c.probeRev[b] = rev
	if c.probeSince[b].IsZero() && c.watchRev[b] < rev {
		c.probeSince[b] = time.Now()
	}
}

// seen records the latest revision the watch of bucket b delivered; c.mu
// is held.
func (c *Coordinator) seen(b int, rev uint64) {
	c.watchRev[b] = max(c.watchRev[b], rev)
	if c.watchRev[b] >= c.probeRev[b] {
		c.probeSince[b] = time.Time{}
	}
}

func (c *Coordinator) lease() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.leaseUntil
}

// errStale means the watch stopped delivering: my own heartbeats did not
// come through it.
var errStale = errors.New("cluster: watch stale")

// watch keeps the three watches running, starting them over when they
// fail or go stale, until ctx ends.
func (c *Coordinator) watch(ctx context.Context) {
	for {
		err := c.watchOnce(ctx)
		if ctx.Err() != nil {
			return
		}
		c.mu.Lock()
		c.resets++
		c.mu.Unlock()
		c.log.Warn("cluster watch restarting", "error", err.Error())
		select {
		case <-ctx.Done():
			return
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// watchOnce watches the three buckets: it loads their contents into fresh
// maps, swaps them in once all three are complete, then applies every
// update, until an error, a stale watch or ctx's end.
func (c *Coordinator) watchOnce(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	wm, err := c.members.WatchAll(ctx)
	if err != nil {
		return err
	}
	defer wm.Stop()
	wc, err := c.channels.WatchAll(ctx)
	if err != nil {
		return err
	}
	defer wc.Stop()
	wf, err := c.confirmed.WatchAll(ctx)
	if err != nil {
		return err
	}
	defer wf.Stop()

	live := map[string]member{}
	wanted := map[string]struct{}{}
	removed := map[string]struct{}{}
	confs := map[string]map[string]string{}
	beats := map[string]time.Time{} // c.lastBeat once swapped in
	var revs [3]uint64
	pending := 3 // watches that have not delivered their contents yet
	swapped := false
	var swappedAt time.Time
	check := time.NewTicker(c.o.LeaseTTL / 4)
	defer check.Stop()
	started := time.Now()

	// apply applies e to the maps; c.mu is held once they are swapped in.
	apply := func(bucket int, e jetstream.KeyValueEntry) {
		revs[bucket] = max(revs[bucket], e.Revision())
		if e.Key() == probeKey {
			return
		}
		del := e.Operation() != jetstream.KeyValuePut
		switch bucket {
		case 0:
			if del {
				delete(live, e.Key())
				return
			}
			var m member
			json.Unmarshal(e.Value(), &m) // a value that does not parse is a member that is not leaving
			live[e.Key()] = m
			beats[e.Key()] = time.Now()
		case 1:
			if del {
				delete(wanted, e.Key())
				removed[e.Key()] = struct{}{}
				return
			}
			wanted[e.Key()] = struct{}{}
			delete(removed, e.Key())
		case 2:
			ch, inst, ok := strings.Cut(e.Key(), ".")
			if !ok {
				return
			}
			if del {
				if s := confs[ch]; s != nil {
					delete(s, inst)
					if len(s) == 0 {
						delete(confs, ch)
					}
				}
				return
			}
			var v confirmation
			json.Unmarshal(e.Value(), &v) // a value that does not parse has no epoch: it counts for nothing
			s := confs[ch]
			if s == nil {
				s = map[string]string{}
				confs[ch] = s
			}
			s[inst] = v.Epoch
		}
	}
	handle := func(bucket int, e jetstream.KeyValueEntry, ok bool) error {
		if !ok {
			return fmt.Errorf("cluster: watch of %s closed", [...]string{"members", "channels", "confirmations"}[bucket])
		}
		if e == nil {
			pending--
		}
		if swapped {
			if e != nil {
				c.mu.Lock()
				apply(bucket, e)
				if bucket == 0 || bucket == 1 {
					c.dirty = true
				}
				c.seen(bucket, revs[bucket])
				c.mu.Unlock()
				wake(c.poke)
				if bucket == 2 {
					wake(c.confWake)
				}
			}
			return nil
		}
		if e != nil {
			apply(bucket, e)
		}
		if pending == 0 {
			c.mu.Lock()
			c.live, c.wanted, c.removed, c.confs = live, wanted, removed, confs
			for id, t := range beats {
				c.lastBeat[id] = t
			}
			beats = c.lastBeat
			c.watchRev = [3]uint64{}
			for b, r := range revs {
				c.seen(b, r)
			}
			c.dirty = true
			if !c.loaded {
				c.loaded = true
				c.loadedAt = time.Now()
			}
			c.mu.Unlock()
			swapped = true
			swappedAt = time.Now()
			wake(c.poke)
			wake(c.confWake)
		}
		return nil
	}
	for {
		var err error
		select {
		case <-ctx.Done():
			return ctx.Err()
		case e, ok := <-wm.Updates():
			err = handle(0, e, ok)
		case e, ok := <-wc.Updates():
			err = handle(1, e, ok)
		case e, ok := <-wf.Updates():
			err = handle(2, e, ok)
		case <-check.C:
			c.mu.Lock()
			ttl := c.o.LeaseTTL
			stale := false
			for _, since := range c.probeSince {
				// A write of mine not delivered for a lease TTL, counted
				// from this watch's load at the earliest.
				if !since.IsZero() && time.Since(maxTime(since, swappedAt)) > ttl {
					stale = true
				}
			}
			c.mu.Unlock()
			if !swapped && time.Since(started) > 2*ttl {
				return errors.New("cluster: watch did not load in time")
			}
			if swapped && stale {
				return errStale
			}
		}
		if err != nil {
			return err
		}
	}
}
