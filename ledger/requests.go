package ledger

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Request returns the records of one request, oldest first (then by attempt): those whose
// RequestID is id, or whose UpstreamRequestID is id, so that a provider's request id from
// a complaint or an invoice finds the request and its other attempts too. An unknown id
// returns no records and no error.
func (l *Ledger) Request(ctx context.Context, id string) ([]Record, error) {
	if id == "" {
		return nil, nil
	}
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return nil, ErrClosed
	}
	tx, err := l.be.queryDB().BeginTx(ctx, l.dialect.readTx)
	if err != nil {
		return nil, fmt.Errorf("ledger: request %s: %w", id, err)
	}
	defer func() { _ = tx.Rollback() }()
	// The provider's id leads to tollgate's: the request's every attempt, whichever
	// provider served it. Each arm uses its own index.
	rows, err := tx.QueryContext(ctx, l.dialect.rebind(`SELECT `+usageColumns+` FROM usage
		WHERE request_id = ? OR request_id IN (
			SELECT request_id FROM usage WHERE upstream_request_id = ? AND upstream_request_id <> '')
		ORDER BY ts, attempt, id`), id, id)
	if err != nil {
		return nil, fmt.Errorf("ledger: request %s: %w", id, err)
	}
	defer rows.Close()
	var out []Record
	for rows.Next() {
		var r Record
		if err := scanRecord(rows, &r); err != nil {
			return nil, fmt.Errorf("ledger: request %s: %w", id, err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("ledger: request %s: %w", id, err)
	}
	return out, nil
}

// scanRecord reads a row of usageColumns into r.
func scanRecord(rows *sql.Rows, r *Record) error {
	var ts, latency int64
	if err := rows.Scan(&ts, &r.RequestID, &r.Tenant, &r.Key, &r.Agent, &r.Session, &r.Route,
		&r.Provider, &r.Model, &r.InputTokens, &r.CachedInputTokens, &r.OutputTokens, &r.MicroUSD,
		&r.Outcome, &r.FallbackReason, &latency, &r.Attempt, &r.UpstreamRequestID, &r.HoldID,
		&r.CacheWriteTokens, &r.CacheWrite1hTokens, &r.ReasoningTokens); err != nil {
		return err
	}
	r.Time, r.Latency = time.Unix(0, ts).UTC(), time.Duration(latency)
	return nil
}

// OpenHolds returns the holds not yet settled, released or charged, of every instance,
// oldest first: calls under way, and those of dead processes not yet recovered.
func (l *Ledger) OpenHolds(ctx context.Context) ([]Hold, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return nil, ErrClosed
	}
	rows, err := l.be.queryDB().QueryContext(ctx, `SELECT id, request_id, owner, tenant, key_id, agent,
		session, route, provider, model, attempt, input_tokens, output_tokens, micro_usd, opened_ns
		FROM holds ORDER BY opened_ns, id`)
	if err != nil {
		return nil, fmt.Errorf("ledger: open holds: %w", err)
	}
	defer rows.Close()
	var out []Hold
	for rows.Next() {
		var h Hold
		var opened int64
		if err := rows.Scan(&h.ID, &h.RequestID, &h.Owner, &h.Tenant, &h.Key, &h.Agent, &h.Session,
			&h.Route, &h.Provider, &h.Model, &h.Attempt, &h.InputTokens, &h.OutputTokens, &h.MicroUSD,
			&opened); err != nil {
			return nil, fmt.Errorf("ledger: open holds: %w", err)
		}
		h.Opened = time.Unix(0, opened).UTC()
		out = append(out, h)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("ledger: open holds: %w", err)
	}
	return out, nil
}
