// Package sdkcheck holds the test that points the official Go SDKs at the emulator. It is a
// package of its own so that the emulator's fuzz builds need not instrument both SDKs.
package sdkcheck
