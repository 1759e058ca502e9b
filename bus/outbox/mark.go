package outbox

import (
	"encoding/json"
	"os"
	"path/filepath"
	"time"
)

// mark is what the outbox last knew of its store, kept in Dir/mark.json:
// rewritten at most every markEvery while it changes, and at Close with an
// fsync. JetStream's recovery truncates a torn last record without saying
// so (its index is simply treated as stale); a store that comes back with a
// last sequence below the mark lost the messages in between, which Open
// reports. After a machine crash the mark itself may be behind (it is
// written without fsync in between), so the report can fall short; it
// never counts a message that is still stored or was forwarded.
type mark struct {
	// LastSeq is the highest sequence the store acknowledged.
	LastSeq uint64 `json:"lastSeq"`
	// ForwardedBelow: every sequence below it was settled and purged.
	ForwardedBelow uint64 `json:"forwardedBelow"`
}

const (
	markFile  = "mark.json"
	markEvery = time.Second
)

func readMark(dir string) (mark, bool) {
	b, err := os.ReadFile(filepath.Join(dir, markFile))
	if err != nil {
		return mark{}, false
	}
	var m mark
	if json.Unmarshal(b, &m) != nil {
		return mark{}, false
	}
	return m, true
}

// writeMark replaces the mark file (write to a temporary file, rename), with
// an fsync of the file when sync.
func writeMark(dir string, m mark, sync bool) error {
	b, _ := json.Marshal(m)
	tmp := filepath.Join(dir, markFile+".tmp")
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if err == nil && sync {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, markFile))
}

// lostSince returns the sequences the store lost according to the mark m,
// given the store's last sequence now: those above it that the mark says
// were stored and not forwarded.
func lostSince(m mark, last uint64) (from, to uint64, n uint64) {
	from = max(last+1, m.ForwardedBelow)
	if m.LastSeq < from {
		return 0, 0, 0
	}
	return from, m.LastSeq, m.LastSeq - from + 1
}

// Leftover reports how many records the outbox in dir held unforwarded when
// it last wrote its mark (at close, or within a second of a crash): for a
// warning when the outbox is now off. 0 when there is no mark.
func Leftover(dir string) uint64 {
	m, ok := readMark(dir)
	if !ok || m.LastSeq < m.ForwardedBelow {
		return 0
	}
	return m.LastSeq - m.ForwardedBelow + 1
}
