package ledger

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// Dim is a dimension to group usage by.
type Dim string

// The dimensions. ByNone groups everything under the key "". ByDay groups by calendar day in
// a time zone, keyed "2006-01-02".
const (
	ByNone     Dim = ""
	ByTenant   Dim = "tenant"
	ByKey      Dim = "key"
	ByAgent    Dim = "agent"
	BySession  Dim = "session"
	ByRoute    Dim = "route"
	ByProvider Dim = "provider"
	ByModel    Dim = "model"
	ByDay      Dim = "day"
)

// ParseDim returns the Dim named s ("tenant", "session", "day", ...; "" or "none" for
// ByNone), for command-line flags.
func ParseDim(s string) (Dim, error) {
	d := Dim(strings.ToLower(strings.TrimSpace(s)))
	if d == "none" {
		return ByNone, nil
	}
	if _, ok := d.column(); !ok {
		return "", fmt.Errorf("ledger: unknown dimension %q (want tenant, key, agent, session, route, provider, model, day or none)", s)
	}
	return d, nil
}

// column returns the SQL expression that d groups by; ByDay's grouping is computed per
// zone period, so its column is only the timestamp.
func (d Dim) column() (string, bool) {
	switch d {
	case ByNone:
		return "''", true
	case ByTenant:
		return "tenant", true
	case ByKey:
		return "key_id", true
	case ByAgent:
		return "agent", true
	case BySession:
		return "session", true
	case ByRoute:
		return "route", true
	case ByProvider:
		return "provider", true
	case ByModel:
		return "model", true
	case ByDay:
		return "ts", true
	}
	return "", false
}

// Sum is the usage of a group of records. The zero value is no usage.
//
// The token sums count as Record does: InputTokens includes CachedInputTokens and
// CacheWriteTokens, which includes CacheWrite1hTokens; OutputTokens includes
// ReasoningTokens.
type Sum struct {
	Requests           int64 `json:"requests"` // records, that is attempts
	InputTokens        int64 `json:"input_tokens"`
	CachedInputTokens  int64 `json:"cached_input_tokens"`
	CacheWriteTokens   int64 `json:"cache_write_tokens"`
	CacheWrite1hTokens int64 `json:"cache_write_1h_tokens"`
	OutputTokens       int64 `json:"output_tokens"`
	ReasoningTokens    int64 `json:"reasoning_tokens"`
	MicroUSD           int64 `json:"micro_usd"`
}

func (s *Sum) add(t Sum) {
	s.Requests += t.Requests
	s.InputTokens += t.InputTokens
	s.CachedInputTokens += t.CachedInputTokens
	s.CacheWriteTokens += t.CacheWriteTokens
	s.CacheWrite1hTokens += t.CacheWrite1hTokens
	s.OutputTokens += t.OutputTokens
	s.ReasoningTokens += t.ReasoningTokens
	s.MicroUSD += t.MicroUSD
}

// Row is one group of a Query result.
type Row struct {
	By    Dim    `json:"-"`     // the dimension of the query, for headers
	Group string `json:"group"` // the value of By: a session id, a model, a day "2006-01-02"
	Sum
	Errors    int64 `json:"errors"`    // records with Outcome "error"
	Fallbacks int64 `json:"fallbacks"` // records with a FallbackReason
}

func (r *Row) add(s Row) {
	r.Sum.add(s.Sum)
	r.Errors += s.Errors
	r.Fallbacks += s.Fallbacks
}

// Query selects and groups records for `tollgate usage`. The zero value is every record,
// summed into one row.
type Query struct {
	By Dim

	// Since and Until bound the record times to [Since, Until); zero means unbounded.
	Since, Until time.Time

	// Filters: a non-empty field keeps only records with exactly that value. Outcome is
	// one of the Outcome constants (OutcomeOrphaned: the holds charged at their worst case).
	Tenant, Key, Agent, Session, Route, Model, Outcome string

	// Location decides where days start for ByDay; nil means Config.Location.
	Location *time.Location

	// Limit keeps the first Limit rows after ordering; 0 keeps all.
	Limit int
}

// SumSince sums the records at or after since, grouped by by (ByDay in Config.Location). It
// is what a restart uses to rebuild budget counters: for example the day's spend per
// tenant is SumSince(ctx, startOfToday, ByTenant). Groups without records are absent, so a
// missing key reads as a zero Sum.
func (l *Ledger) SumSince(ctx context.Context, since time.Time, by Dim) (map[string]Sum, error) {
	rows, err := l.aggregate(ctx, Query{By: by, Since: since})
	if err != nil {
		return nil, err
	}
	out := make(map[string]Sum, len(rows))
	for _, r := range rows {
		out[r.Group] = r.Sum
	}
	return out, nil
}

// Query returns q's groups, by cost (highest first, then by name), or for ByDay by day
// (earliest first).
func (l *Ledger) Query(ctx context.Context, q Query) ([]Row, error) {
	if q.Limit < 0 {
		return nil, fmt.Errorf("ledger: Query.Limit %d is negative", q.Limit)
	}
	rows, err := l.aggregate(ctx, q)
	if err != nil {
		return nil, err
	}
	out := make([]Row, 0, len(rows))
	for _, r := range rows {
		out = append(out, r)
	}
	if q.By == ByDay {
		slices.SortFunc(out, func(a, b Row) int { return strings.Compare(a.Group, b.Group) })
	} else {
		slices.SortFunc(out, func(a, b Row) int {
			return cmp.Or(cmp.Compare(b.MicroUSD, a.MicroUSD), strings.Compare(a.Group, b.Group))
		})
	}
	if q.Limit > 0 && len(out) > q.Limit {
		out = out[:q.Limit]
	}
	return out, nil
}

// aggregate runs q in one read transaction, so that the zone periods of ByDay see one
// snapshot of the file.
func (l *Ledger) aggregate(ctx context.Context, q Query) (map[string]Row, error) {
	col, ok := q.By.column()
	if !ok {
		return nil, fmt.Errorf("ledger: unknown dimension %q", q.By)
	}
	// Held for the whole query so that Close waits for it instead of closing the file under it.
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return nil, ErrClosed
	}

	lo, hi := int64(math.MinInt64), int64(math.MaxInt64)
	if !q.Since.IsZero() {
		lo = q.Since.UnixNano()
	}
	if !q.Until.IsZero() {
		hi = q.Until.UnixNano()
	}
	var where strings.Builder
	where.WriteString("ts >= ? AND ts < ?")
	args := []any{lo, hi}
	for _, f := range [...]struct{ col, val string }{
		{"tenant", q.Tenant}, {"key_id", q.Key}, {"agent", q.Agent},
		{"session", q.Session}, {"route", q.Route}, {"model", q.Model}, {"outcome", q.Outcome},
	} {
		if f.val != "" {
			fmt.Fprintf(&where, " AND %s = ?", f.col)
			args = append(args, f.val)
		}
	}

	tx, err := l.be.queryDB().BeginTx(ctx, l.dialect.readTx)
	if err != nil {
		return nil, fmt.Errorf("ledger: query: %w", err)
	}
	defer func() { _ = tx.Rollback() }()

	out := make(map[string]Row)
	if q.By != ByDay {
		err := scanGroups(ctx, tx, l.dialect, col, where.String(), args, func(key any, r Row) {
			r.By, r.Group = q.By, fmt.Sprint(key)
			out[r.Group] = r
		})
		return out, err
	}
	loc := cmp.Or(q.Location, l.cfg.Location)
	err = l.aggregateDays(ctx, tx, loc, where.String(), args, func(day string, r Row) {
		r.By, r.Group = ByDay, day
		cur := out[day]
		cur.add(r)
		cur.By, cur.Group = ByDay, day
		out[day] = cur
	})
	return out, err
}

const nsPerDay = int64(24 * time.Hour)

// aggregateDays groups by local calendar day, exactly, in any zone: it splits the time
// range of the matching records into the zone's periods of constant UTC offset (from one
// DST change to the next, found with time.Time.ZoneBounds) and, inside each, groups by
// floor((ts + offset) / day), which is the local date. A day cut by a DST change comes out
// of two periods and is merged by emit's caller.
func (l *Ledger) aggregateDays(ctx context.Context, tx *sql.Tx, loc *time.Location, where string, args []any, emit func(day string, r Row)) error {
	var first, last sql.NullInt64
	err := tx.QueryRowContext(ctx, l.dialect.rebind("SELECT min(ts), max(ts) FROM usage WHERE "+where), args...).Scan(&first, &last)
	if err != nil {
		return fmt.Errorf("ledger: query: %w", err)
	}
	if !first.Valid {
		return nil
	}
	lo, hi := args[0].(int64), args[1].(int64)
	for at := first.Int64; at <= last.Int64; {
		t := time.Unix(0, at).In(loc)
		_, offset := t.Zone()
		end := int64(math.MaxInt64)
		if _, e := t.ZoneBounds(); !e.IsZero() {
			end = e.UnixNano()
		}
		// Floor division: SQL's / truncates toward zero.
		shifted := fmt.Sprintf("(ts + %d)", int64(offset)*int64(time.Second))
		col := fmt.Sprintf("(%[1]s / %[2]d - CASE WHEN %[1]s %% %[2]d < 0 THEN 1 ELSE 0 END)", shifted, nsPerDay)
		pargs := slices.Clone(args)
		pargs[0], pargs[1] = max(lo, at), min(hi, end)
		err := scanGroups(ctx, tx, l.dialect, col, where, pargs, func(key any, r Row) {
			day, _ := key.(int64)
			emit(time.Unix(day*(nsPerDay/int64(time.Second)), 0).UTC().Format(time.DateOnly), r)
		})
		if err != nil {
			return err
		}
		if end == math.MaxInt64 {
			break
		}
		at = end
	}
	return nil
}

// scanGroups runs one grouped aggregate and calls emit for each group with records.
func scanGroups(ctx context.Context, tx *sql.Tx, d *dialect, col, where string, args []any, emit func(key any, r Row)) error {
	// Sums are cast back to BIGINT: PostgreSQL sums BIGINT into NUMERIC.
	query := `SELECT ` + col + ` AS g, count(*),
		CAST(coalesce(sum(input_tokens), 0) AS BIGINT), CAST(coalesce(sum(cached_input_tokens), 0) AS BIGINT),
		CAST(coalesce(sum(cache_write_tokens), 0) AS BIGINT), CAST(coalesce(sum(cache_write_1h_tokens), 0) AS BIGINT),
		CAST(coalesce(sum(output_tokens), 0) AS BIGINT), CAST(coalesce(sum(reasoning_tokens), 0) AS BIGINT),
		CAST(coalesce(sum(micro_usd), 0) AS BIGINT),
		count(CASE WHEN outcome = 'error' THEN 1 END), count(CASE WHEN fallback_reason <> '' THEN 1 END)
		FROM usage WHERE ` + where
	if col != "''" {
		// PostgreSQL refuses to group by a constant, and one group needs no GROUP BY.
		query += ` GROUP BY g`
	}
	rows, err := tx.QueryContext(ctx, d.rebind(query), args...)
	if err != nil {
		return fmt.Errorf("ledger: query: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var key any
		var r Row
		if err := rows.Scan(&key, &r.Requests, &r.InputTokens, &r.CachedInputTokens, &r.CacheWriteTokens,
			&r.CacheWrite1hTokens, &r.OutputTokens, &r.ReasoningTokens, &r.MicroUSD, &r.Errors, &r.Fallbacks); err != nil {
			return fmt.Errorf("ledger: query: %w", err)
		}
		if r.Requests > 0 {
			emit(key, r)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("ledger: query: %w", err)
	}
	return nil
}
