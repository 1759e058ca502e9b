//go:build !race

package twitch

const raceEnabled = false
