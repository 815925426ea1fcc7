package ledger

import (
	"context"
	"fmt"
	"time"
)

// SettledHolds returns the ids of the holds that records at or after since settled or
// charged (Record.HoldID), in no particular order: the reservations whose spend the records
// already count. A rebuild of the Redis quota state reads them so that a settle of one of
// those reservations arriving late (replayed after an outage) is not counted a second time.
func (l *Ledger) SettledHolds(ctx context.Context, since time.Time) ([]string, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return nil, ErrClosed
	}
	rows, err := l.be.queryDB().QueryContext(ctx, l.dialect.rebind(`SELECT hold_id FROM usage
		WHERE ts >= ? AND hold_id <> ''`), since.UnixNano())
	if err != nil {
		return nil, fmt.Errorf("ledger: settled holds: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("ledger: settled holds: %w", err)
		}
		out = append(out, id)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("ledger: settled holds: %w", err)
	}
	return out, nil
}
