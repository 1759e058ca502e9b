//go:build race

package tmi

// modelRace: allocation guards are skipped under -race, which allocates.
const modelRace = true
