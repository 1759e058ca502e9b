//go:build race

package ircv3

// raceEnabled: allocation guards are skipped under -race, which allocates.
const raceEnabled = true
