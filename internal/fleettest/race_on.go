//go:build race

package fleettest

// raceEnabled reports whether this package was built with -race, so that the gateway binary
// under test is built the same way.
const raceEnabled = true
