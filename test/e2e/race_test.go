//go:build race

package e2e

// raceEnabled: the service binary is built with the race detector too.
const raceEnabled = true
