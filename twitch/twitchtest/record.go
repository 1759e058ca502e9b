package twitchtest

import (
	"bytes"
	"errors"
	"net"
	"strconv"
	"sync"
	"time"
)

// Who ended a connection, in ConnRecord.EndedBy.
const (
	EndServer = "server" // Close, CloseAll, a drop (slow reader, ping timeout, JOIN limit, cut)
	EndClient = "client" // the client closed it, quit, or its socket failed
)

// Record is one PRIVMSG the server wrote to a client's connection
// (Config.Record).
type Record struct {
	ID      string    // the line's id tag
	Channel string    // without '#'
	Client  uint64    // Client.ID
	Seq     int       // the line's place among the PRIVMSGs written to Client, from 0
	At      time.Time // when the write that carried it returned
	// Failed reports that the write carrying the line failed: part of it
	// may have reached the client.
	Failed bool
}

// ConnRecord is the life of one connection (Config.Record).
type ConnRecord struct {
	Client  uint64
	Opened  time.Time
	Ended   time.Time // zero while open
	EndedBy string    // EndServer, EndClient, or "" while open
	Reason  string
	// Unsent is how many queued lines were never written because the
	// connection ended.
	Unsent int
}

// recorder keeps the records of Config.Record. Its methods are safe for
// concurrent use.
type recorder struct {
	mu    sync.Mutex
	lines []Record
	conns []ConnRecord
	index map[uint64]int // Client.ID → conns
	seq   map[uint64]int // Client.ID → PRIVMSGs written
}

func (r *recorder) opened(id uint64, at time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.index == nil {
		r.index, r.seq = map[uint64]int{}, map[uint64]int{}
	}
	r.index[id] = len(r.conns)
	r.conns = append(r.conns, ConnRecord{Client: id, Opened: at})
}

func (r *recorder) ended(id uint64, at time.Time, by, reason string, unsent int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	i, ok := r.index[id]
	if !ok || !r.conns[i].Ended.IsZero() {
		return
	}
	cr := &r.conns[i]
	cr.Ended, cr.EndedBy, cr.Reason, cr.Unsent = at, by, reason, unsent
}

// wrote records the PRIVMSGs among lines, written to client id at at.
func (r *recorder) wrote(id uint64, lines [][]byte, at time.Time, failed bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.seq == nil {
		r.index, r.seq = map[uint64]int{}, map[uint64]int{}
	}
	for _, l := range lines {
		msgID, ch, ok := privmsgID(l)
		if !ok {
			continue
		}
		n := r.seq[id]
		r.seq[id] = n + 1
		r.lines = append(r.lines, Record{ID: msgID, Channel: ch, Client: id, Seq: n, At: at, Failed: failed})
	}
}

// privmsgID returns the id tag and the channel of a PRIVMSG line with tags.
func privmsgID(line []byte) (id, channel string, ok bool) {
	if len(line) == 0 || line[0] != '@' {
		return "", "", false
	}
	sp := bytes.IndexByte(line, ' ')
	if sp < 0 {
		return "", "", false
	}
	tags, rest := line[1:sp], line[sp:]
	i := bytes.Index(rest, []byte(" PRIVMSG #"))
	if i < 0 {
		return "", "", false
	}
	chans := rest[i+len(" PRIVMSG #"):]
	if j := bytes.IndexByte(chans, ' '); j >= 0 {
		chans = chans[:j]
	}
	for len(tags) > 0 {
		var tag []byte
		if j := bytes.IndexByte(tags, ';'); j >= 0 {
			tag, tags = tags[:j], tags[j+1:]
		} else {
			tag, tags = tags, nil
		}
		if v, found := bytes.CutPrefix(tag, []byte("id=")); found && len(v) > 0 {
			return string(v), string(chans), true
		}
	}
	return "", "", false
}

// Records returns the PRIVMSGs written to clients from the nth record on,
// in the order they were written (Config.Record).
func (s *Server) Records(from int) []Record {
	s.rec.mu.Lock()
	defer s.rec.mu.Unlock()
	if from >= len(s.rec.lines) {
		return nil
	}
	return append([]Record(nil), s.rec.lines[max(from, 0):]...)
}

// Conns returns a record of every connection so far, oldest first
// (Config.Record).
func (s *Server) Conns() []ConnRecord {
	s.rec.mu.Lock()
	defer s.rec.mu.Unlock()
	return append([]ConnRecord(nil), s.rec.conns...)
}

// MutePings makes the server leave the clients' PINGs unanswered while it
// goes on sending (on), or answer them again.
func (s *Server) MutePings(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mutePings = on
}

// recordChunk is how many lines one write carries when writes are recorded.
const recordChunk = 64

// writeBatch writes batch to the connection, and records it with
// Config.Record.
func (c *Client) writeBatch(batch [][]byte) error {
	if !c.s.cfg.Record {
		c.wmu.Lock()
		defer c.wmu.Unlock()
		return c.c.write(batch)
	}
	for len(batch) > 0 {
		n := min(len(batch), recordChunk)
		c.wmu.Lock()
		err := c.c.write(batch[:n])
		c.wmu.Unlock()
		c.s.rec.wrote(c.id, batch[:n], time.Now(), err != nil)
		if err != nil {
			return err
		}
		batch = batch[n:]
	}
	return nil
}

// dropSlow closes a client whose queue reached Config.DropQueue.
func (c *Client) dropSlow(bound int) {
	c.s.mu.Lock()
	c.s.stats.SlowDrops++
	c.s.mu.Unlock()
	c.closeBy(EndServer, "slow reader: send queue at "+strconv.Itoa(bound)+" lines")
}

// errNotStream is CutMidLine's error on a TLS or WebSocket connection.
var errNotStream = errors.New("twitchtest: not a TCP or TLS connection")

// CutMidLine waits for the write in progress, writes partial (the start
// of a line, without its end), then ends the connection: with rst, by a
// TCP reset (SO_LINGER 0: what the kernel has not sent yet is thrown
// away); otherwise by an orderly close (FIN). Lines still queued are never
// written (ConnRecord.Unsent). It works on plain TCP connections only.
func (c *Client) CutMidLine(partial []byte, rst bool) error {
	sc, ok := c.c.(*streamConn)
	if !ok {
		return errNotStream
	}
	tc, ok := sc.c.(*net.TCPConn)
	if !ok {
		return errNotStream
	}
	c.mu.Lock()
	c.cut = true
	c.mu.Unlock()
	for range 5000 { // the write in progress, at most 5 s
		c.mu.Lock()
		writing := c.writing
		c.mu.Unlock()
		if !writing {
			break
		}
		time.Sleep(time.Millisecond)
	}
	c.wmu.Lock()
	_, err := tc.Write(partial)
	if rst {
		tc.SetLinger(0)
	}
	c.wmu.Unlock()
	reason := "cut mid-line (FIN)"
	if rst {
		reason = "cut mid-line (RST)"
	}
	c.closeBy(EndServer, reason)
	return err
}

// sendBufferListener sets SO_SNDBUF on every connection it accepts
// (Config.SendBuffer).
type sendBufferListener struct {
	net.Listener
	size int
}

func (l sendBufferListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetWriteBuffer(l.size)
	}
	return c, nil
}
