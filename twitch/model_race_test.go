//go:build race

package twitch

// modelRace: allocation guards are skipped under -race, which allocates.
const modelRace = true
