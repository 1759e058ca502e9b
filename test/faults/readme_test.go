package faults

import (
	"os"
	"strings"
	"testing"
)

// suiteIDs are the scenarios of this package, by their figure's ID.
var suiteIDs = []string{"01", "02", "03", "04", "05", "06a", "06b", "07", "08", "09", "10",
	"11a", "11b", "12a", "12b", "13a", "13b", "14", "15", "16", "17", "18", "19", "20"}

// TestREADMETable: the README's fault-suite table has a row for every
// scenario (bench/cmd/faults rewrites it from a run).
func TestREADMETable(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	i, j := strings.Index(s, BeginMarker), strings.Index(s, EndMarker)
	if i < 0 || j < i {
		t.Fatalf("README.md has no fault-suite table between %q and %q", BeginMarker, EndMarker)
	}
	table := s[i:j]
	for _, id := range suiteIDs {
		if !strings.Contains(table, "\n| "+id+" | ") {
			t.Errorf("README's fault-suite table has no row for scenario %s: run bench/cmd/faults", id)
		}
	}
}
