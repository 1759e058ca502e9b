package corpus

// rng is SplitMix64 (Steele, Lea, Flood 2014). It is written out here rather
// than taken from math/rand/v2 so that the committed corpus can never change
// under a Go release: the sequence for a seed is fixed by these few lines.
type rng struct{ s uint64 }

func (r *rng) next() uint64 {
	r.s += 0x9e3779b97f4a7c15
	return mix64(r.s)
}

// mix64 is the SplitMix64 finaliser, a bijection on uint64.
func mix64(z uint64) uint64 {
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

// intn returns a number in [0, n) for 0 < n < 1<<31 (multiply-shift; the
// bias of at most n/2^32 does not matter for a corpus).
func (r *rng) intn(n int) int {
	return int((r.next() >> 32) * uint64(n) >> 32)
}

// between returns a number in [lo, hi].
func (r *rng) between(lo, hi int) int { return lo + r.intn(hi-lo+1) }

// pm reports true with a probability of perMille/1000.
func (r *rng) pm(perMille int) bool { return r.intn(1000) < perMille }

func pick[T any](r *rng, s []T) T { return s[r.intn(len(s))] }

// fnv32 is FNV-1a over s.
func fnv32(s string) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(s); i++ {
		h ^= uint32(s[i])
		h *= 16777619
	}
	return h
}
