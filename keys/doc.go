// Package keys holds what an operator changes about access at run time, without editing
// the configuration file or restarting: virtual keys created, listed and revoked through
// the admin API, each with its tenant, allowed models, priority cap, whether it must name
// a session, and an optional budget of its own; and budget overrides, which raise (or
// lower) a budget rule's limit for one tenant, key or session.
//
// A Registry merges the configuration file's keys (read-only here) with those kept in a
// Store: the ledger's database, so that they survive restarts, and, with PostgreSQL,
// every replica of a fleet reads the same ones.
//
// # Secrets
//
// A secret is shown once, when Create returns it: "tg-" and 52 base-32 characters (260
// random bits). Only its SHA-256 is stored, with its first 9 characters as a hint for
// listings. Find looks a secret up by its hash in a map: one SHA-256 and one lookup
// whatever the number of keys, in a time that tells nothing about the stored secrets.
//
// # Consistency across replicas
//
// Readers use an immutable snapshot swapped atomically. A change made through a Registry
// (Create, Revoke, SetBudget, SetOverride, DeleteOverride) is durable in the Store and in
// this Registry's snapshot when the call returns. Every other Registry on the same Store
// polls its revision every Config.Refresh (5s by default) and reloads when it moved, or at
// once on Refresh. So a revoked key is refused by every replica within Refresh plus one
// Store round trip; a budget override reaches them within the same bound, and until then
// they keep the limit they had. While the Store cannot be read, each Registry keeps its
// last snapshot (and logs): keys keep working, and changes made elsewhere wait.
package keys
