package cluster

import "slices"

// FNV-1a, 64 bits.
const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

// weight is the rendezvous weight of member for channel: a hash of both,
// through the murmur3 finaliser so that ids that differ in one byte give
// unrelated weights. A zero byte separates them: neither a channel login
// nor an instance id contains one.
func weight(member, channel string) uint64 {
	h := uint64(fnvOffset)
	for i := 0; i < len(member); i++ {
		h ^= uint64(member[i])
		h *= fnvPrime
	}
	h *= fnvPrime // the separator, a zero byte
	for i := 0; i < len(channel); i++ {
		h ^= uint64(channel[i])
		h *= fnvPrime
	}
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}

// Owners returns the members that read channel: the replicas members of
// highest rendezvous (highest-random-weight) weight, highest first; all of
// them when there are fewer. Ties, which need a 64-bit collision, go to
// the smaller id.
//
// The assignment depends on nothing but the channel and the member set, so
// every instance computes the same owners without talking to the others,
// and a change of membership moves only what it must: a member that joins
// takes over the channels for which it outweighs a current owner (about
// replicas/N of them, one owner each), and a member that leaves hands each
// of its channels to the next member in that channel's order, leaving the
// other owners in place.
func Owners(channel string, members []string, replicas int) []string {
	return appendOwners(nil, channel, members, replicas)
}

// appendOwners appends Owners(channel, members, replicas) to dst.
func appendOwners(dst []string, channel string, members []string, replicas int) []string {
	if replicas <= 0 || len(members) == 0 {
		return dst
	}
	type ranked struct {
		w  uint64
		id string
	}
	// Keep the best replicas in a small sorted array: replicas is a handful.
	var buf [8]ranked
	top := buf[:0]
	if replicas > len(buf) {
		top = make([]ranked, 0, replicas)
	}
	better := func(a, b ranked) bool { return a.w > b.w || a.w == b.w && a.id < b.id }
	for _, m := range members {
		r := ranked{weight(m, channel), m}
		if len(top) == replicas && !better(r, top[len(top)-1]) {
			continue
		}
		if len(top) < replicas {
			top = append(top, r)
		} else {
			top[len(top)-1] = r
		}
		for i := len(top) - 1; i > 0 && better(top[i], top[i-1]); i-- {
			top[i], top[i-1] = top[i-1], top[i]
		}
	}
	for _, r := range top {
		dst = append(dst, r.id)
	}
	return dst
}

// owns reports whether member is among channel's owners.
func owns(owners []string, member string) bool { return slices.Contains(owners, member) }
