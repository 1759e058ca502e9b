//go:build race

package envelope

// raceEnabled: allocation guards are skipped under -race, which allocates.
const raceEnabled = true
