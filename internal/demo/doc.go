// Package demo is `tollgate demo`: a swarm of simulated agents calling tollgate's gateway
// over HTTP with the official OpenAI Go SDK, exactly as agents in production do (one
// virtual key per session, SDK retries off since tollgate is the one retry layer). The
// gateway runs each request through the engine, which calls the provider emulator through
// the real OpenAI and Anthropic adapters. Live progress and a final report (text and
// self-contained HTML) show what the agents saw (answers, HTTP statuses, latency), what
// the gateway counted, and what the engine and the emulator did, with the invariants that
// say whether tollgate kept its promises: no overspend, no leaked reservation, no lost
// request, and upstream 429s absorbed rather than passed on.
//
// Config.Direct has the agents call the engine in-process instead, without HTTP.
//
// Run is the whole program; cmd/tollgate adds the flags. Nothing leaves the machine: the
// emulator and the gateway listen on loopback ports and no API key is needed.
package demo
