//go:build race

package twitch

// raceEnabled: allocation guards are skipped under -race, which allocates.
const raceEnabled = true
