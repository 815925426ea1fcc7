// Package fleettest holds the distributed-mode integration tests of tollgate: real
// `tollgate serve` processes, built once per test run, sharing one real redis-server (and,
// where a fleet needs one ledger, one real PostgreSQL), with the emulator as their upstream.
// It exports nothing; its tests check what only a fleet of processes can show: that a
// budget shared by replicas is never overspent, that a rate shared by replicas holds, what
// happens when Redis hangs, goes away, or comes back without its data (the budget rebuilt
// from the ledger, the fail_open_local overspend within its documented bound, leases back
// after a blip), and what a kill -9 loses.
package fleettest
