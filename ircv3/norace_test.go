//go:build !race

package ircv3

const raceEnabled = false
