package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/tollgate/tollgate/ledger"
)

// runUsage prints what the ledger recorded, grouped: `tollgate usage --by session --since 24h`.
func runUsage(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("usage", stderr)
	db := fs.String("db", "tollgate.db", "the ledger file (the config's ledger.path)")
	by := fs.String("by", "model", "group by: session, agent, model, day, tenant, key, route, provider or none")
	since := fs.String("since", "", "only records at or after this: a duration back from now (24h, 7d) or a date (2026-11-01, RFC 3339)")
	until := fs.String("until", "", "only records before this, in the same forms as --since")
	tz := fs.String("tz", "UTC", "IANA time zone whose midnight starts a day for --by day")
	tenant := fs.String("tenant", "", "only this tenant")
	session := fs.String("session", "", "only this session")
	agent := fs.String("agent", "", "only this agent")
	model := fs.String("model", "", "only this model")
	limit := fs.Int("limit", 0, "at most this many rows (0: all)")
	asJSON := fs.Bool("json", false, "print JSON instead of a table")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	dim, err := ledger.ParseDim(*by)
	if err != nil {
		return fmt.Errorf("%w: --by: %v", errUsage, err)
	}
	loc, err := time.LoadLocation(*tz)
	if err != nil {
		return fmt.Errorf("%w: --tz: %v", errUsage, err)
	}
	now := time.Now()
	q := ledger.Query{By: dim, Tenant: *tenant, Session: *session, Agent: *agent, Model: *model, Location: loc, Limit: *limit}
	if q.Since, err = parseWhen(*since, now, loc); err != nil {
		return fmt.Errorf("%w: --since: %v", errUsage, err)
	}
	if q.Until, err = parseWhen(*until, now, loc); err != nil {
		return fmt.Errorf("%w: --until: %v", errUsage, err)
	}
	if _, err := os.Stat(*db); err != nil {
		return fmt.Errorf("ledger %s: %w", *db, err)
	}
	l, err := ledger.Open(ctx, ledger.Config{Path: *db, Location: loc})
	if err != nil {
		return err
	}
	defer l.Close(context.WithoutCancel(ctx))
	rows, err := l.Query(ctx, q)
	if err != nil {
		return err
	}
	if *asJSON {
		return ledger.WriteJSON(stdout, rows)
	}
	return ledger.WriteTable(stdout, rows)
}

// parseWhen reads "" (unbounded), a duration back from now ("36h", "7d"), a date in loc
// ("2026-11-01") or an RFC 3339 instant.
func parseWhen(s string, now time.Time, loc *time.Location) (time.Time, error) {
	switch {
	case s == "":
		return time.Time{}, nil
	case strings.HasSuffix(s, "d"):
		var n int
		if _, err := fmt.Sscanf(s, "%dd", &n); err == nil && fmt.Sprintf("%dd", n) == s {
			return now.AddDate(0, 0, -n), nil
		}
	}
	if d, err := time.ParseDuration(s); err == nil {
		return now.Add(-d), nil
	}
	if t, err := time.ParseInLocation(time.DateOnly, s, loc); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("%q is not a duration (24h, 7d), a date (2026-11-01) or an RFC 3339 time", s)
}
