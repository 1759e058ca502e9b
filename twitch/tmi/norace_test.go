//go:build !race

package tmi

const modelRace = false
