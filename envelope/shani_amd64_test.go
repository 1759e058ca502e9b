//go:build amd64 && !purego

package envelope

import (
	"os"
	"strings"
	"testing"
)

// hasSHANI agrees with the kernel's view of the CPU: the flags sha_ni,
// ssse3, sse4_1 and avx of /proc/cpuinfo.
func TestHasSHANIMatchesCPUInfo(t *testing.T) {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		t.Skipf("no /proc/cpuinfo: %v", err) // not Linux; CI runs on Linux
	}
	var flags map[string]bool
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if ok && strings.TrimSpace(k) == "flags" {
			flags = map[string]bool{}
			for _, f := range strings.Fields(v) {
				flags[f] = true
			}
			break
		}
	}
	if flags == nil {
		t.Fatal("/proc/cpuinfo has no flags line")
	}
	want := flags["sha_ni"] && flags["ssse3"] && flags["sse4_1"] && flags["avx"]
	if got := hasSHANI(); got != want {
		t.Fatalf("hasSHANI() = %v; /proc/cpuinfo says sha_ni %v, ssse3 %v, sse4_1 %v, avx %v",
			got, flags["sha_ni"], flags["ssse3"], flags["sse4_1"], flags["avx"])
	}
}

// Both ways of hashing a short id give the same UUID.
func TestNewSHA1BothWays(t *testing.T) {
	names := []string{"", "a", "885196de-cb67-427a-baa8-82f9b0fcd05f", strings.Repeat("x", maxOneBlock)}
	for _, n := range names {
		one := sha1OneBlock(&Namespace, []byte(n))
		u := NewSHA1(Namespace, []byte(n))
		if [16]byte(u) != setVersion(one) { // NewSHA1 sets the version and variant bits
			t.Errorf("%q: NewSHA1 %x, sha1OneBlock %x", n, u, one)
		}
	}
}

// setVersion sets the version 5 and RFC 9562 variant bits, as NewSHA1.
func setVersion(s [16]byte) [16]byte {
	s[6] = s[6]&0x0f | 0x50
	s[8] = s[8]&0x3f | 0x80
	return s
}
