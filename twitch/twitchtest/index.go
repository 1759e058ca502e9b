package twitchtest

import "sync"

// chanIndex maps each channel to the open clients joined to it, so that a
// sender that writes to many channels over many connections (the load
// harness: 100,000 channels over 1,112 connections) finds a line's clients
// with one map lookup, and counts the joined channels without walking every
// client. It is updated under the client's mutex (Client.mu, then
// chanIndex.mu: never the other way round).
type chanIndex struct {
	mu sync.RWMutex
	m  map[string][]*Client
}

func (x *chanIndex) add(ch string, c *Client) {
	x.mu.Lock()
	if x.m == nil {
		x.m = make(map[string][]*Client)
	}
	x.m[ch] = append(x.m[ch], c)
	x.mu.Unlock()
}

func (x *chanIndex) remove(ch string, c *Client) {
	x.mu.Lock()
	cs := x.m[ch]
	for i, o := range cs {
		if o == c {
			cs = append(cs[:i], cs[i+1:]...)
			break
		}
	}
	if len(cs) == 0 {
		delete(x.m, ch)
	} else {
		x.m[ch] = cs
	}
	x.mu.Unlock()
}

// ChannelClients appends to dst the open clients joined to channel (without
// '#'), oldest JOIN first, and returns it. It costs one map lookup: the
// server keeps the index as clients join, part and close.
func (s *Server) ChannelClients(channel string, dst []*Client) []*Client {
	s.idx.mu.RLock()
	dst = append(dst, s.idx.m[channel]...)
	s.idx.mu.RUnlock()
	return dst
}

// JoinedChannels returns the number of distinct channels that at least one
// open client has joined.
func (s *Server) JoinedChannels() int {
	s.idx.mu.RLock()
	defer s.idx.mu.RUnlock()
	return len(s.idx.m)
}

// Queued returns the lines queued for the open clients and not yet written,
// in total and for the client with the most: where a reader that falls
// behind leaves its backlog.
func (s *Server) Queued() (total, most int) {
	for _, c := range s.Clients() {
		c.mu.Lock()
		n := len(c.queue)
		c.mu.Unlock()
		total += n
		most = max(most, n)
	}
	return total, most
}
