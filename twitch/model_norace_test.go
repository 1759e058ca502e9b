//go:build !race

package twitch

const modelRace = false
