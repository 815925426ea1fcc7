// Package admin is the operator's side of tollgate: an HTTP handler, for a listener of its
// own (loopback by default), that serves
//
//   - a JSON API to create, list and revoke virtual keys, set a key's own budget, and
//     override a budget rule's limit for one tenant, key or session, all at run time and
//     kept in the ledger's database (package keys);
//   - the live state of each tenant, key and session (spent, held, limit, when it
//     resets), the sessions that spent most, the circuit breakers (with a reset), the
//     admission queue by priority, a summary of the Prometheus figures (429s by source,
//     retries, fallbacks and their share, cache hits) and the learned limits;
//   - a live dashboard of all that, plain HTML, CSS and JavaScript embedded in the binary,
//     which reads the API every second;
//   - GET /metrics, so that the metrics, which name tenants and their spend, leave the
//     gateway's listener;
//   - its OpenAPI 3 description at /admin/openapi.json (from openapi.yaml, kept in step
//     with the routes by the package's tests).
//
// Every endpoint but the dashboard's files and the description needs "Authorization:
// Bearer TOKEN", where the SHA-256 of TOKEN is Config.KeyHash; the comparison is
// constant-time. A second token (Config.MetricsKeyHash) may read /metrics and nothing
// else, for Prometheus.
//
// The handler reads the engine's parts through small interfaces (StatusReader,
// QueueStats, Breakers, Spend, LearnedLimits) and a prometheus.Gatherer; it owns no
// goroutine and keeps no state between requests. docs/admin.md documents the API and the
// dashboard.
package admin
