package main

import (
	"encoding/json"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// TestImportRules pins the package layering: packages import downward, the
// protocol core is a standard-library-only leaf, the message model builds
// on it and on its tag index alone, the encoder builds on
// those only, and the connection manager never reaches for the bus.
func TestImportRules(t *testing.T) {
	const mod = "github.com/ingress-egress/ingress-egress/"
	out, err := exec.Command("go", "list", "-deps", "-json=ImportPath,Deps,Standard", "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	deps := map[string][]string{} // our package -> its non-standard dependencies
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for dec.More() {
		var p struct {
			ImportPath string
			Deps       []string
			Standard   bool
		}
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(p.ImportPath, mod) {
			continue
		}
		for _, d := range p.Deps {
			if first, _, _ := strings.Cut(d, "/"); strings.Contains(first, ".") { // not the standard library
				deps[strings.TrimPrefix(p.ImportPath, mod)] = append(deps[strings.TrimPrefix(p.ImportPath, mod)], strings.TrimPrefix(d, mod))
			}
		}
	}
	only := map[string][]string{
		"ircv3":             nil,
		"internal/tagindex": {"ircv3"},
		"twitch/tmi":        {"ircv3", "internal/tagindex"},
		"envelope":          {"ircv3", "twitch/tmi", "internal/tagindex"},
		"bus":               nil,
		"server":            nil,
	}
	for pkg, allowed := range only {
		if _, ok := deps[pkg]; !ok && pkg != "ircv3" && pkg != "bus" && pkg != "server" {
			t.Errorf("%s: not listed by go list", pkg)
		}
		for _, d := range deps[pkg] {
			if !slices.Contains(allowed, d) {
				t.Errorf("%s depends on %s; allowed: %v and the standard library", pkg, d, allowed)
			}
		}
	}
	if _, ok := deps["test/harness"]; !ok {
		t.Errorf("test/harness: not listed by go list")
	}
	for pkg, ds := range deps {
		// The black-box test harness builds on everything; nothing but
		// tests builds on it.
		if !strings.HasPrefix(pkg, "test/") && slices.ContainsFunc(ds, func(d string) bool { return strings.HasPrefix(d, "test/") }) {
			t.Errorf("%s depends on the test harness (test/...)", pkg)
		}
	}
	// The cluster coordinator drives a reader through its own small
	// interface and talks to NATS itself: none of our packages.
	for _, d := range deps["cluster"] {
		if first, _, _ := strings.Cut(d, "/"); !strings.Contains(first, ".") {
			t.Errorf("cluster depends on %s: it imports no package of the service", d)
		}
	}
	if _, ok := deps["cluster"]; !ok {
		t.Error("cluster: not listed by go list")
	}
	for pkg, ds := range deps {
		if !strings.HasPrefix(pkg, "twitch") {
			continue
		}
		for _, d := range ds {
			if d == "bus" || strings.HasPrefix(d, "bus/") || d == "envelope" {
				t.Errorf("%s depends on %s: twitch never imports the bus or the encoder", pkg, d)
			}
		}
	}
}
