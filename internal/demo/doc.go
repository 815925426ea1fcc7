// Package demo is `tollgate demo`: a swarm of simulated agents calling the engine, which
// calls the provider emulator through the real OpenAI and Anthropic adapters, with live
// progress and a final report (text and self-contained HTML) whose invariants say whether
// tollgate kept its promises: no overspend, no leaked reservation, no lost request, and
// upstream 429s absorbed rather than passed on.
//
// Run is the whole program; cmd/tollgate adds the flags. Nothing leaves the machine: the
// emulator listens on a loopback port and no API key is needed.
package demo
