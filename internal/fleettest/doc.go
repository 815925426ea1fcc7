// Package fleettest holds the distributed-mode integration tests of tollgate: real
// `tollgate serve` processes, built once per test run, sharing one real redis-server, with
// the emulator as their upstream. It exports nothing; its tests check what only a fleet of
// processes can show: that a budget shared by replicas is never overspent, that a rate shared
// by replicas holds, what happens when Redis goes away and comes back, and what a kill -9
// loses.
package fleettest
