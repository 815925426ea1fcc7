package ledger

import (
	"context"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Errors of the settings API.
var (
	// ErrKeyExists: CreateKey was given an id or a secret's hash that a stored key has
	// (revoked keys included: an id is never reused).
	ErrKeyExists = errors.New("virtual key exists")
	// ErrKeyNotFound: no stored key has the id.
	ErrKeyNotFound = errors.New("virtual key not found")
)

// KeyRecord is a virtual key created at run time (through the admin API), as stored: the
// SHA-256 of its secret, never the secret.
type KeyRecord struct {
	ID     string
	Tenant string
	// Hash is the SHA-256 of the secret.
	Hash [32]byte
	// Hint is the secret's first characters, shown to tell keys apart.
	Hint string
	// AllowedModels lists the models and routes the key may call; empty means all.
	AllowedModels []string
	MaxPriority   int
	// RequireSession refuses the key's requests that carry no session id.
	RequireSession bool
	// BudgetMicroUSD is the key's own budget; 0 means none. BudgetWindow is its window:
	// "day", "month" or "lifetime".
	BudgetMicroUSD int64
	BudgetWindow   string
	Note           string
	// Created is when the key was made; Revoked when it was revoked (zero while valid);
	// Updated when the record last changed. Stored in nanoseconds, returned in UTC.
	Created, Revoked, Updated time.Time
}

// BudgetOverride replaces a budget rule's limit for one instance of its scope.
type BudgetOverride struct {
	// QuotaKey is the quota's key (quota.Rule.For's Quota.Key): what the override is
	// looked up by. Unique.
	QuotaKey string
	// Rule is the rule's name and Scope its labels ("tenant=alpha"), for listings.
	Rule, Scope string
	// Limit is the new limit, in the rule's unit (micro-USD for usd).
	Limit   int64
	Note    string
	Updated time.Time
}

// Settings is what an operator changed at run time: the virtual keys (revoked ones
// included) and the budget overrides, read in one snapshot, with the revision they are at.
type Settings struct {
	// Revision rises with every change; SettingsRevision returns it alone.
	Revision  int64
	Keys      []KeyRecord      // by creation, oldest first
	Overrides []BudgetOverride // by quota key
}

// SettingsRevision returns the revision of the settings: a replica polls it and calls
// Settings only when it changed.
func (l *Ledger) SettingsRevision(ctx context.Context) (int64, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return 0, ErrClosed
	}
	var rev int64
	if err := l.be.queryDB().QueryRowContext(ctx, "SELECT rev FROM settings_revision WHERE id = 1").Scan(&rev); err != nil {
		return 0, fmt.Errorf("ledger: settings revision: %w", err)
	}
	return rev, nil
}

// Settings returns every stored key and override and their revision, from one snapshot
// of the database.
func (l *Ledger) Settings(ctx context.Context) (Settings, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return Settings{}, ErrClosed
	}
	tx, err := l.be.queryDB().BeginTx(ctx, l.dialect.readTx)
	if err != nil {
		return Settings{}, fmt.Errorf("ledger: settings: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	var s Settings
	if err := tx.QueryRowContext(ctx, "SELECT rev FROM settings_revision WHERE id = 1").Scan(&s.Revision); err != nil {
		return Settings{}, fmt.Errorf("ledger: settings: %w", err)
	}
	rows, err := tx.QueryContext(ctx, `SELECT `+keyColumns+` FROM virtual_keys ORDER BY created_ns, id`)
	if err != nil {
		return Settings{}, fmt.Errorf("ledger: settings: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		k, err := scanKey(rows)
		if err != nil {
			return Settings{}, err
		}
		s.Keys = append(s.Keys, k)
	}
	if err := rows.Err(); err != nil {
		return Settings{}, fmt.Errorf("ledger: settings: %w", err)
	}
	orows, err := tx.QueryContext(ctx, `SELECT quota_key, rule, scope, limit_value, note, updated_ns
		FROM budget_overrides ORDER BY quota_key`)
	if err != nil {
		return Settings{}, fmt.Errorf("ledger: settings: %w", err)
	}
	defer orows.Close()
	for orows.Next() {
		var o BudgetOverride
		var updated int64
		if err := orows.Scan(&o.QuotaKey, &o.Rule, &o.Scope, &o.Limit, &o.Note, &updated); err != nil {
			return Settings{}, fmt.Errorf("ledger: settings: %w", err)
		}
		o.Updated = time.Unix(0, updated).UTC()
		s.Overrides = append(s.Overrides, o)
	}
	if err := orows.Err(); err != nil {
		return Settings{}, fmt.Errorf("ledger: settings: %w", err)
	}
	return s, nil
}

// keyColumns are virtual_keys' columns in the order scanKey reads them.
const keyColumns = `id, tenant, hash, hint, allowed_models, max_priority, require_session,
	budget_micro_usd, budget_window, note, created_ns, revoked_ns, updated_ns`

type scanner interface{ Scan(dest ...any) error }

func scanKey(sc scanner) (KeyRecord, error) {
	var k KeyRecord
	var hash, models string
	var requireSession int
	var created, revoked, updated int64
	if err := sc.Scan(&k.ID, &k.Tenant, &hash, &k.Hint, &models, &k.MaxPriority, &requireSession,
		&k.BudgetMicroUSD, &k.BudgetWindow, &k.Note, &created, &revoked, &updated); err != nil {
		return KeyRecord{}, fmt.Errorf("ledger: read key: %w", err)
	}
	if n, err := hex.Decode(k.Hash[:], []byte(hash)); err != nil || n != len(k.Hash) {
		return KeyRecord{}, fmt.Errorf("ledger: key %s: stored hash %q is not 64 hex digits", k.ID, hash)
	}
	if err := json.Unmarshal([]byte(models), &k.AllowedModels); err != nil {
		return KeyRecord{}, fmt.Errorf("ledger: key %s: allowed models: %w", k.ID, err)
	}
	if len(k.AllowedModels) == 0 {
		k.AllowedModels = nil
	}
	k.RequireSession = requireSession != 0
	k.Created = time.Unix(0, created).UTC()
	if revoked != 0 {
		k.Revoked = time.Unix(0, revoked).UTC()
	}
	k.Updated = time.Unix(0, updated).UTC()
	return k, nil
}

// change runs f in a write transaction that also raises the settings' revision, so that
// replicas polling SettingsRevision see it. Settings are written directly, not through
// the group-commit queue: they are rare, and the caller needs to know they are durable.
func (l *Ledger) change(ctx context.Context, what string, f func(tx *sql.Tx) error) (err error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	switch {
	case l.closed:
		return ErrClosed
	case l.cfg.ReadOnly:
		return ErrReadOnly
	}
	tx, err := l.be.queryDB().BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("ledger: %s: %w", what, err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	// Raised first: on PostgreSQL the row lock then orders concurrent changes, so that
	// the revision a reader sees never lacks a change committed before it.
	if _, err := tx.ExecContext(ctx, "UPDATE settings_revision SET rev = rev + 1 WHERE id = 1"); err != nil {
		return fmt.Errorf("ledger: %s: %w", what, err)
	}
	if err := f(tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("ledger: %s: commit: %w", what, err)
	}
	return nil
}

// CreateKey stores k, durably when it returns nil. k.ID, k.Tenant and a non-zero k.Hash
// are required; a zero k.Created is the current time, and k.Revoked must be zero. It
// fails with ErrKeyExists when a stored key (revoked or not) has k's id or hash.
func (l *Ledger) CreateKey(ctx context.Context, k KeyRecord) error {
	switch {
	case k.ID == "" || k.Tenant == "":
		return fmt.Errorf("ledger: create key: id and tenant are required")
	case k.Hash == [32]byte{}:
		return fmt.Errorf("ledger: create key %s: no hash", k.ID)
	case !k.Revoked.IsZero():
		return fmt.Errorf("ledger: create key %s: a new key cannot be revoked", k.ID)
	}
	if k.Created.IsZero() {
		k.Created = time.Now()
	}
	models := k.AllowedModels
	if models == nil {
		models = []string{}
	}
	mj, err := json.Marshal(models)
	if err != nil {
		return fmt.Errorf("ledger: create key %s: %w", k.ID, err)
	}
	return l.change(ctx, "create key "+k.ID, func(tx *sql.Tx) error {
		// ON CONFLICT DO NOTHING covers both unique columns, and decides under
		// concurrency where a look-before-insert would not.
		res, err := tx.ExecContext(ctx, l.dialect.rebind(`INSERT INTO virtual_keys (`+keyColumns+`)
			VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT DO NOTHING`),
			k.ID, k.Tenant, hex.EncodeToString(k.Hash[:]), k.Hint, string(mj), k.MaxPriority, boolInt(k.RequireSession),
			k.BudgetMicroUSD, k.BudgetWindow, k.Note, k.Created.UnixNano(), 0, k.Created.UnixNano())
		if err != nil {
			return fmt.Errorf("ledger: create key %s: %w", k.ID, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("ledger: create key %s: %w", k.ID, err)
		} else if n == 0 {
			return fmt.Errorf("ledger: create key %s: %w", k.ID, ErrKeyExists)
		}
		return nil
	})
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// RevokeKey marks key id revoked at at (zero: now) and returns it as stored. Revoking a
// revoked key changes nothing and returns it with its first revocation time. It fails
// with ErrKeyNotFound for an unknown id.
func (l *Ledger) RevokeKey(ctx context.Context, id string, at time.Time) (KeyRecord, error) {
	if at.IsZero() {
		at = time.Now()
	}
	return l.updateKey(ctx, "revoke key "+id, id,
		"UPDATE virtual_keys SET revoked_ns = ?, updated_ns = ? WHERE id = ? AND revoked_ns = 0",
		at.UnixNano(), at.UnixNano(), id)
}

// SetKeyBudget sets key id's own budget (microUSD 0 removes it; window "day", "month" or
// "lifetime") at at (zero: now), and returns the key as stored. It fails with
// ErrKeyNotFound for an unknown id. A revoked key's budget can still be changed: it only
// matters if the record is read back.
func (l *Ledger) SetKeyBudget(ctx context.Context, id string, microUSD int64, window string, at time.Time) (KeyRecord, error) {
	if microUSD < 0 {
		return KeyRecord{}, fmt.Errorf("ledger: set key %s budget: negative %d", id, microUSD)
	}
	if at.IsZero() {
		at = time.Now()
	}
	return l.updateKey(ctx, "set key budget "+id, id,
		"UPDATE virtual_keys SET budget_micro_usd = ?, budget_window = ?, updated_ns = ? WHERE id = ?",
		microUSD, window, at.UnixNano(), id)
}

// updateKey runs one UPDATE of key id and reads the key back in the same transaction.
func (l *Ledger) updateKey(ctx context.Context, what, id, update string, args ...any) (KeyRecord, error) {
	var k KeyRecord
	err := l.change(ctx, what, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, l.dialect.rebind(update), args...); err != nil {
			return fmt.Errorf("ledger: %s: %w", what, err)
		}
		row := tx.QueryRowContext(ctx, l.dialect.rebind(`SELECT `+keyColumns+` FROM virtual_keys WHERE id = ?`), id)
		var err error
		if k, err = scanKey(row); errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("ledger: %s: %w", what, ErrKeyNotFound)
		}
		return err
	})
	if err != nil {
		return KeyRecord{}, err
	}
	return k, nil
}

// SetBudgetOverride stores o, replacing the override of the same QuotaKey; a zero
// o.Updated is the current time. QuotaKey and Rule are required and Limit must be
// positive.
func (l *Ledger) SetBudgetOverride(ctx context.Context, o BudgetOverride) error {
	switch {
	case o.QuotaKey == "" || o.Rule == "":
		return fmt.Errorf("ledger: set budget override: quota key and rule are required")
	case o.Limit <= 0:
		return fmt.Errorf("ledger: set budget override %s: limit %d is not positive", o.QuotaKey, o.Limit)
	}
	if o.Updated.IsZero() {
		o.Updated = time.Now()
	}
	return l.change(ctx, "set budget override "+o.QuotaKey, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, l.dialect.rebind(`INSERT INTO budget_overrides
			(quota_key, rule, scope, limit_value, note, updated_ns) VALUES (?,?,?,?,?,?)
			ON CONFLICT (quota_key) DO UPDATE SET rule = excluded.rule, scope = excluded.scope,
			limit_value = excluded.limit_value, note = excluded.note, updated_ns = excluded.updated_ns`),
			o.QuotaKey, o.Rule, o.Scope, o.Limit, o.Note, o.Updated.UnixNano())
		if err != nil {
			return fmt.Errorf("ledger: set budget override %s: %w", o.QuotaKey, err)
		}
		return nil
	})
}

// DeleteBudgetOverride removes the override of quotaKey, so that its rule's own limit
// applies again, and reports whether there was one.
func (l *Ledger) DeleteBudgetOverride(ctx context.Context, quotaKey string) (bool, error) {
	var found bool
	err := l.change(ctx, "delete budget override "+quotaKey, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, l.dialect.rebind("DELETE FROM budget_overrides WHERE quota_key = ?"), quotaKey)
		if err != nil {
			return fmt.Errorf("ledger: delete budget override %s: %w", quotaKey, err)
		}
		n, err := res.RowsAffected()
		found = n > 0
		return err
	})
	return found, err
}
