// Package chaostest holds the accounting chaos test: a few hundred requests of every shape
// through the real gateway and engine to the emulator over HTTP, ending in every way a
// request ends, under budgets that bind; then the ledger is held to the emulator's bill
// and every budget to its limit. It has no API: go test ./internal/chaostest runs it.
package chaostest
