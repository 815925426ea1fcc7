package config

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/tollgate/tollgate/ledger"
)

// Summary describes a configuration for people, without secrets: what `config check`
// prints for a valid file and `serve` logs at start.
type Summary struct {
	Upstreams, Routes, Quotas, Keys int
	// Store is "memory" or "redis (single|sentinel|cluster)".
	Store string
	// Ledger is the ledger file, or "postgres ($VAR)" naming the variable of its URL.
	Ledger string
	// Timezone is the zone of day and month windows.
	Timezone string
	// Admin is the admin listener's address, or "none".
	Admin string
	// Metrics says where GET /metrics is served: "admin", "gateway", "admin and gateway",
	// or "" when nowhere (metrics.listener admin without an admin section).
	Metrics string
	// Secrets are the secrets' variables, with whether each is set.
	Secrets []Secret
	// UpstreamList describes each upstream as "name (provider) base_url", in file order.
	// Base URLs hold no credentials (Validate refuses them).
	UpstreamList []string
}

// Summary summarizes the configuration.
func (c *Config) Summary() Summary {
	s := Summary{Upstreams: len(c.Upstreams), Routes: len(c.Routes), Quotas: len(c.Quotas), Keys: len(c.Keys),
		Store: "memory", Ledger: c.LedgerPath(), Timezone: cmp.Or(c.Timezone, "UTC"), Secrets: c.Secrets(),
		Admin: cmp.Or(c.AdminListen(), "none"), Metrics: c.MetricsListener()}
	switch {
	case s.Metrics == MetricsOnBoth:
		s.Metrics = "admin and gateway"
	case s.Metrics == MetricsOnAdmin && c.Admin == nil:
		s.Metrics = ""
	}
	if c.Redis != nil {
		s.Store = "redis (" + cmp.Or(c.Redis.Mode, "single") + ")"
	}
	if b, err := ledger.ParseBackend(c.Ledger.Backend); err == nil && b == ledger.Postgres {
		s.Ledger = "postgres ($" + c.Ledger.URLEnv + ")"
	}
	for _, name := range c.inFileOrder("upstreams", sortedKeys(c.Upstreams)) {
		u := c.Upstreams[name]
		prov := cmp.Or(u.Provider, name)
		s.UpstreamList = append(s.UpstreamList, fmt.Sprintf("%s (%s) %s", name, prov, cmp.Or(u.BaseURL, "default URL")))
	}
	return s
}

// String renders the counts: "2 upstreams, 1 route, 6 quotas, 2 keys; store memory; ledger
// tollgate.db; timezone UTC; admin 127.0.0.1:9091; metrics on admin".
func (s Summary) String() string {
	metrics := "metrics not served"
	if s.Metrics != "" {
		metrics = "metrics on " + s.Metrics
	}
	return fmt.Sprintf("%s, %s, %s, %s; store %s; ledger %s; timezone %s; admin %s; %s",
		plural(s.Upstreams, "upstream"), plural(s.Routes, "route"), plural(s.Quotas, "quota"), plural(s.Keys, "key"),
		s.Store, s.Ledger, s.Timezone, s.Admin, metrics)
}

// SecretsString renders the secrets as "OPENAI_API_KEY set, ANTHROPIC_API_KEY missing".
func (s Summary) SecretsString() string {
	if len(s.Secrets) == 0 {
		return "none"
	}
	parts := make([]string, len(s.Secrets))
	for i, sec := range s.Secrets {
		state := "missing"
		if sec.Set {
			state = "set"
		}
		parts[i] = sec.Env + " " + state
	}
	return strings.Join(parts, ", ")
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

// Check loads the configuration at path and writes to w either every problem, one per line
// as "FILE:LINE:COL: path: message", or, when there is none, a two-line summary (counts,
// then whether each secret's variable is set). It returns the number of problems; err is
// for a file that cannot be read at all. lookupEnv, when not nil, replaces the process
// environment for the secrets. No secret value is ever written.
func Check(w io.Writer, path string, lookupEnv func(string) (string, bool)) (problems int, err error) {
	c, err := Load(path)
	var ps Problems
	if errors.As(err, &ps) {
		for _, p := range ps {
			fmt.Fprintln(w, p.String())
		}
		return len(ps), nil
	}
	if err != nil {
		return 0, err
	}
	c.LookupEnv = lookupEnv
	if ps := c.Validate(); len(ps) > 0 {
		for _, p := range ps {
			fmt.Fprintln(w, p.String())
		}
		return len(ps), nil
	}
	s := c.Summary()
	fmt.Fprintf(w, "%s: ok: %s\n", path, s)
	fmt.Fprintf(w, "secrets: %s\n", s.SecretsString())
	return 0, nil
}
