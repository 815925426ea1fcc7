package gateway

import "runtime"

// runtimeYield lets other goroutines run while a test polls a state that another goroutine
// changes; it waits for nothing in particular, unlike a sleep.
func runtimeYield() { runtime.Gosched() }
