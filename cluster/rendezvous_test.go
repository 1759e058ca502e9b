package cluster

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"testing"
)

func channelNames(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("channel_%05d", i)
	}
	return out
}

// referenceOwners sorts every member by weight: the definition Owners
// must match.
func referenceOwners(channel string, members []string, replicas int) []string {
	ms := slices.Clone(members)
	sort.Slice(ms, func(i, j int) bool {
		wi, wj := weight(ms[i], channel), weight(ms[j], channel)
		return wi > wj || wi == wj && ms[i] < ms[j]
	})
	return ms[:min(replicas, len(ms))]
}

func TestOwnersMatchesReference(t *testing.T) {
	members := []string{"ingress-a1", "ingress-b2", "ingress-c3", "ingress-d4", "ingress-e5", "x"}
	for _, replicas := range []int{0, 1, 2, 3, 6, 9} {
		for _, ch := range channelNames(500) {
			got := Owners(ch, members, replicas)
			want := referenceOwners(ch, members, replicas)
			if replicas == 0 {
				want = nil
			}
			if !slices.Equal(got, want) {
				t.Fatalf("Owners(%q, %v, %d) = %v, want %v", ch, members, replicas, got, want)
			}
			// The order of the member list does not matter.
			rev := slices.Clone(members)
			slices.Reverse(rev)
			if r := Owners(ch, rev, replicas); !slices.Equal(r, got) {
				t.Fatalf("Owners(%q) depends on the member order: %v and %v", ch, got, r)
			}
		}
	}
	if got := Owners("c", nil, 2); len(got) != 0 {
		t.Errorf("Owners with no members = %v, want none", got)
	}
}

// within reports whether n is within 6 standard deviations of the
// binomial mean of trials draws of probability p. The hash is
// deterministic, so this is a fixed check of its spread, not a flaky one.
func within(n, trials int, p float64) bool {
	mean := float64(trials) * p
	sd := math.Sqrt(float64(trials) * p * (1 - p))
	return math.Abs(float64(n)-mean) <= 6*sd
}

func TestOwnersBalance(t *testing.T) {
	chans := channelNames(10000)
	members := []string{"host-1-k3j2", "host-2-a9zq", "host-3-p0w1", "host-4-mm3e", "host-5-00aa"}
	for _, replicas := range []int{1, 2} {
		count := map[string]int{}
		for _, ch := range chans {
			for _, o := range Owners(ch, members, replicas) {
				count[o]++
			}
		}
		p := float64(replicas) / float64(len(members))
		for _, m := range members {
			if !within(count[m], len(chans), p) {
				t.Errorf("replicas %d: %s owns %d of %d channels, want about %.0f", replicas, m, count[m], len(chans), p*float64(len(chans)))
			}
		}
		t.Logf("replicas %d, 5 members, 10000 channels: %v", replicas, count)
	}
}

// TestOwnersMembershipChange counts, over 10,000 channels, what a member
// joining or leaving moves: only owner places that involve that member
// change, one per channel at most, and about replicas/N of the channels
// are touched.
func TestOwnersMembershipChange(t *testing.T) {
	chans := channelNames(10000)
	base := []string{"ingress-7f9c", "ingress-b21d", "ingress-3e0a"}
	for _, replicas := range []int{1, 2} {
		t.Run(fmt.Sprintf("join/replicas=%d", replicas), func(t *testing.T) {
			joined := append(slices.Clone(base), "ingress-new1")
			moved := 0
			for _, ch := range chans {
				before, after := Owners(ch, base, replicas), Owners(ch, joined, replicas)
				if slices.Equal(sorted(before), sorted(after)) {
					continue
				}
				moved++
				// The newcomer took exactly one place; the others kept theirs.
				if !slices.Contains(after, "ingress-new1") || len(diff(before, after)) != 1 || len(diff(after, before)) != 1 {
					t.Fatalf("%s: owners %v → %v: more than the newcomer's place changed", ch, before, after)
				}
			}
			p := float64(replicas) / float64(len(joined))
			if !within(moved, len(chans), p) {
				t.Errorf("a 4th member moved %d of %d channels, want about %.0f", moved, len(chans), p*float64(len(chans)))
			}
			t.Logf("3 → 4 members, replicas %d: %d of %d channels changed one owner (%.1f%%; expected %.1f%%)",
				replicas, moved, len(chans), 100*float64(moved)/float64(len(chans)), 100*p)
		})
		t.Run(fmt.Sprintf("leave/replicas=%d", replicas), func(t *testing.T) {
			gone := base[1]
			left := []string{base[0], base[2]}
			moved := 0
			for _, ch := range chans {
				before, after := Owners(ch, base, replicas), Owners(ch, left, replicas)
				if !slices.Contains(before, gone) {
					if !slices.Equal(before, after) {
						t.Fatalf("%s: owners %v → %v although %s did not own it", ch, before, after, gone)
					}
					continue
				}
				moved++
				if d := diff(before, after); len(d) != 1 || d[0] != gone {
					t.Fatalf("%s: owners %v → %v: more than %s's place changed", ch, before, after, gone)
				}
			}
			p := float64(replicas) / float64(len(base))
			if !within(moved, len(chans), p) {
				t.Errorf("a member leaving moved %d of %d channels, want about %.0f", moved, len(chans), p*float64(len(chans)))
			}
			t.Logf("3 → 2 members, replicas %d: %d of %d channels changed one owner (%.1f%%; expected %.1f%%)",
				replicas, moved, len(chans), 100*float64(moved)/float64(len(chans)), 100*p)
		})
	}
}

func sorted(s []string) []string { s = slices.Clone(s); slices.Sort(s); return s }

// diff returns what a has and b has not.
func diff(a, b []string) []string {
	var out []string
	for _, x := range a {
		if !slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}

func TestOwnersAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts differ under -race")
	}
	members := []string{"a", "b", "c", "d"}
	dst := make([]string, 0, 2)
	if n := testing.AllocsPerRun(100, func() { dst = appendOwners(dst[:0], "somechannel", members, 2) }); n != 0 {
		t.Errorf("appendOwners allocates %v times, want 0", n)
	}
}

func BenchmarkOwners(b *testing.B) {
	members := []string{"ingress-7f9c", "ingress-b21d", "ingress-3e0a", "ingress-new1", "ingress-x"}
	dst := make([]string, 0, 2)
	b.ReportAllocs()
	for b.Loop() {
		dst = appendOwners(dst[:0], "some_channel_name", members, 2)
	}
}
