package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/tollgate/tollgate/internal/config"
	"github.com/tollgate/tollgate/ledger"
)

// runUsage prints what the ledger recorded, grouped: `tollgate usage --by session --since 24h`,
// or one request's attempts: `tollgate usage --request <id>`. It reads a SQLite file
// (--db) or the ledger a configuration names (--config: SQLite or the fleet's
// PostgreSQL), read-only, beside the gateways that write it.
func runUsage(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("usage", stderr)
	db := fs.String("db", "", "the SQLite ledger file (default tollgate.db), or a postgres:// URL (prefer --config, or PGPASSWORD, to keep a password off the command line)")
	cfgPath := fs.String("config", "", "read the ledger the configuration file names (its ledger section: sqlite or postgres, with the URL from url_env)")
	by := fs.String("by", "model", "group by: session, agent, model, day, tenant, key, route, provider or none")
	since := fs.String("since", "", "only records at or after this: a duration back from now (24h, 7d) or a date (2026-11-01, RFC 3339)")
	until := fs.String("until", "", "only records before this, in the same forms as --since")
	tz := fs.String("tz", "UTC", "IANA time zone whose midnight starts a day for --by day, and of the times --request prints")
	tenant := fs.String("tenant", "", "only this tenant")
	session := fs.String("session", "", "only this session")
	agent := fs.String("agent", "", "only this agent")
	model := fs.String("model", "", "only this model")
	limit := fs.Int("limit", 0, "at most this many rows (0: all)")
	request := fs.String("request", "", "print every attempt of one request instead: tollgate's request id, or the provider's (x-request-id, request-id)")
	holds := fs.Bool("holds", false, "print the holds still open instead: calls under way, and those of dead processes not yet charged")
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
	if *request != "" && *holds {
		return fmt.Errorf("%w: --request and --holds are exclusive", errUsage)
	}
	lcfg, err := usageLedger(*db, *cfgPath)
	if err != nil {
		return err
	}
	lcfg.Location, lcfg.ReadOnly = loc, true
	l, err := ledger.Open(ctx, lcfg)
	if err != nil {
		return err
	}
	defer l.Close(context.WithoutCancel(ctx))
	switch {
	case *request != "":
		recs, err := l.Request(ctx, *request)
		if err != nil {
			return err
		}
		if *asJSON {
			return ledger.WriteRecordsJSON(stdout, recs)
		}
		return ledger.WriteRecords(stdout, recs, loc)
	case *holds:
		hs, err := l.OpenHolds(ctx)
		if err != nil {
			return err
		}
		if *asJSON {
			return ledger.WriteHoldsJSON(stdout, hs)
		}
		return ledger.WriteHolds(stdout, hs, loc)
	}
	rows, err := l.Query(ctx, q)
	if err != nil {
		return err
	}
	if *asJSON {
		return ledger.WriteJSON(stdout, rows)
	}
	return ledger.WriteTable(stdout, rows)
}

// usageLedger returns the ledger to read: the --config file's ledger section, a
// postgres:// URL given to --db, or a SQLite file, which must exist (a read must not
// create one).
func usageLedger(db, cfgPath string) (ledger.Config, error) {
	if cfgPath != "" {
		if db != "" {
			return ledger.Config{}, fmt.Errorf("%w: --db and --config are exclusive", errUsage)
		}
		c, err := config.Load(cfgPath)
		if err != nil {
			return ledger.Config{}, err
		}
		lcfg, err := c.LedgerConfig()
		if err != nil {
			return ledger.Config{}, err
		}
		if lcfg.Backend == ledger.Postgres {
			return lcfg, nil
		}
		db = lcfg.Path
	}
	if strings.HasPrefix(db, "postgres://") || strings.HasPrefix(db, "postgresql://") {
		return ledger.Config{Backend: ledger.Postgres, URL: db}, nil
	}
	db = cmp.Or(db, config.DefaultLedgerPath)
	if _, err := os.Stat(db); err != nil {
		return ledger.Config{}, fmt.Errorf("ledger %s: %w", db, err)
	}
	return ledger.Config{Path: db}, nil
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
