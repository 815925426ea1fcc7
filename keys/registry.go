package keys

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tollgate/tollgate/ledger"
)

// Store keeps the settings that change at run time; *ledger.Ledger is one (SQLite for
// one gateway, PostgreSQL shared by a fleet). Implementations are safe for concurrent use
// and durable when a write returns nil.
type Store interface {
	SettingsRevision(ctx context.Context) (int64, error)
	Settings(ctx context.Context) (ledger.Settings, error)
	CreateKey(ctx context.Context, k ledger.KeyRecord) error
	RevokeKey(ctx context.Context, id string, at time.Time) (ledger.KeyRecord, error)
	SetKeyBudget(ctx context.Context, id string, microUSD int64, window string, at time.Time) (ledger.KeyRecord, error)
	SetBudgetOverride(ctx context.Context, o ledger.BudgetOverride) error
	DeleteBudgetOverride(ctx context.Context, quotaKey string) (bool, error)
}

var _ Store = (*ledger.Ledger)(nil)

// DefaultRefresh is how often a Registry polls its Store when Config.Refresh is zero.
const DefaultRefresh = 5 * time.Second

// Config configures a Registry. The zero value is a Registry of no keys at all; every
// field documents its default.
type Config struct {
	// Static are the keys of the configuration file: always valid, never stored, and
	// read-only through the Registry (ErrReadOnly). Their Source is set to FromConfig.
	Static []Key
	// Store keeps the keys and budget overrides made at run time. Nil means none: only
	// Static keys, and every change fails with ErrNoStore.
	Store Store
	// Refresh is how often the Registry polls Store's revision and, when it moved, reloads
	// its keys and overrides: a key created or revoked on another replica is seen here
	// within Refresh (plus one Store round trip). A change made through this Registry is
	// seen here at once. 0 means DefaultRefresh (5s); negative means only on Refresh calls.
	Refresh time.Duration
	// Timeout bounds each poll of the Store. 0 means 5s.
	Timeout time.Duration
	// Location is the zone of day and month budgets of keys. Nil means UTC.
	Location *time.Location
	// ValidModel, when set, says whether a name may be listed in a key's AllowedModels (a
	// route or a priced model). Nil accepts any name.
	ValidModel func(name string) bool
	// Now is the clock of creation and revocation times. Nil means time.Now.
	Now func() time.Time
	// Logger receives refresh failures and stored keys that conflict with Static ones.
	// Nil means slog.Default().
	Logger *slog.Logger
}

// Validate reports the first invalid field.
func (c *Config) Validate() error {
	if c.Timeout < 0 {
		return fmt.Errorf("keys: Config.Timeout %v is negative", c.Timeout)
	}
	_, err := staticKeys(c.Static)
	return err
}

func (c Config) withDefaults() Config {
	if c.Refresh == 0 {
		c.Refresh = DefaultRefresh
	}
	if c.Timeout == 0 {
		c.Timeout = 5 * time.Second
	}
	if c.Location == nil {
		c.Location = time.UTC
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// staticKeys validates keys as configuration keys and returns them marked FromConfig.
func staticKeys(keys []Key) ([]Key, error) {
	out := make([]Key, len(keys))
	ids := make(map[string]bool, len(keys))
	hashes := make(map[[32]byte]string, len(keys))
	for i, k := range keys {
		if err := k.Validate(); err != nil {
			return nil, fmt.Errorf("keys: Config.Static[%d]: %w", i, err)
		}
		if ids[k.ID] {
			return nil, fmt.Errorf("keys: Config.Static[%d]: id %s twice: %w", i, k.ID, ErrExists)
		}
		if other, dup := hashes[k.Hash]; dup {
			return nil, fmt.Errorf("keys: Config.Static[%d]: key %s has the secret of key %s: %w", i, k.ID, other, ErrExists)
		}
		ids[k.ID], hashes[k.Hash] = true, k.ID
		k.Source, k.Revoked = FromConfig, time.Time{}
		k.AllowedModels = append([]string(nil), k.AllowedModels...)
		out[i] = k
	}
	return out, nil
}

// Registry is the set of virtual keys a gateway accepts, and the budget overrides its
// quotas read: the configuration's keys merged with those created at run time, which it
// keeps in a Store so that they survive restarts and every replica sharing the Store sees
// them.
//
// Reads (Find, Get, Keys, Apply, For, Overrides) use an immutable in-memory snapshot
// swapped atomically: they take no lock, do no I/O and never see a half-applied change.
// Writes go to the Store first and then reload the snapshot. All methods are safe for
// concurrent use. Create it with Open and stop its polling with Close.
type Registry struct {
	cfg  Config
	snap atomic.Pointer[snapshot]

	// mu orders loads and snapshot swaps, so that a slow load cannot put back an older
	// revision after a newer one.
	mu       sync.Mutex
	static   []Key
	settings ledger.Settings // as last loaded
	loaded   bool
	lastErr  error
	failures int

	stop chan struct{}
	done chan struct{}
	once sync.Once
}

// Open returns a Registry of cfg.Static and, when cfg.Store is set, of the keys and
// overrides stored there, which it loads before returning (a Store that cannot be read
// fails Open) and then polls every cfg.Refresh.
func Open(ctx context.Context, cfg Config) (*Registry, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	static, _ := staticKeys(cfg.Static)
	r := &Registry{cfg: cfg, static: static, stop: make(chan struct{}), done: make(chan struct{})}
	r.mu.Lock()
	r.swap(1)
	r.mu.Unlock()
	if cfg.Store == nil {
		close(r.done)
		return r, nil
	}
	if err := r.load(ctx, true); err != nil {
		return nil, err
	}
	if cfg.Refresh < 0 {
		close(r.done)
		return r, nil
	}
	go r.poll()
	return r, nil
}

// Close stops the polling. The Registry still answers from its last snapshot, and
// changes still reach the Store. Close is idempotent.
func (r *Registry) Close() error {
	r.once.Do(func() { close(r.stop) })
	<-r.done
	return nil
}

// poll reloads the settings every Refresh until Close.
func (r *Registry) poll() {
	defer close(r.done)
	t := time.NewTicker(r.cfg.Refresh)
	defer t.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), r.cfg.Timeout)
			// load logs its own failures.
			_ = r.load(ctx, false)
			cancel()
		}
	}
}

// Refresh reads the Store now, whatever its revision, and returns once the snapshot
// holds what it read: a key revoked on another replica is refused here from then on.
// Without a Store it does nothing.
func (r *Registry) Refresh(ctx context.Context) error {
	if r.cfg.Store == nil {
		return nil
	}
	return r.load(ctx, true)
}

// load reads the Store's settings when their revision moved (or always, with force) and
// swaps in the snapshot they make. On failure the last snapshot stays.
func (r *Registry) load(ctx context.Context, force bool) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	err := r.loadLocked(ctx, force)
	if err != nil {
		r.failures++
		r.cfg.Logger.Warn("keys: reading the settings store failed; keys and budget overrides stay as last read",
			"err", err, "failures", r.failures, "revision", r.settings.Revision)
	} else {
		r.failures = 0
	}
	r.lastErr = err
	return err
}

func (r *Registry) loadLocked(ctx context.Context, force bool) error {
	if !force && r.loaded {
		rev, err := r.cfg.Store.SettingsRevision(ctx)
		if err != nil {
			return fmt.Errorf("keys: refresh: %w", err)
		}
		if rev == r.settings.Revision {
			return nil
		}
	}
	s, err := r.cfg.Store.Settings(ctx)
	if err != nil {
		return fmt.Errorf("keys: refresh: %w", err)
	}
	r.settings, r.loaded = s, true
	r.swap(r.snap.Load().gen + 1)
	return nil
}

// swap builds the snapshot of the static keys and the last settings read, numbered gen.
// The caller holds mu.
func (r *Registry) swap(gen uint64) {
	s, problems := build(r.static, r.settings, r.cfg.Location)
	s.gen = gen
	for _, p := range problems {
		r.cfg.Logger.Error("keys: a stored setting is ignored", "err", p)
	}
	r.snap.Store(s)
}

// SetStatic replaces the configuration's keys (a reload of the file) and swaps in the new
// snapshot at once. Keys stored at run time are kept. Invalid keys change nothing.
func (r *Registry) SetStatic(keys []Key) error {
	static, err := staticKeys(keys)
	if err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.static = static
	r.swap(r.snap.Load().gen + 1)
	return nil
}

// Find returns the valid key whose secret is secret, and false when there is none (an
// unknown secret, a revoked key, or an empty secret).
//
// Its time does not depend on which keys exist nor on how close secret is to one: it
// hashes secret and looks the hash up in a map. What varies with the input is only the
// map's probe, a function of SHA-256(secret), which an attacker cannot steer toward a
// stored hash; and learning bits of a stored hash would not give its secret
// (SHA-256 is preimage-resistant). The cost is one SHA-256 and one map lookup, whatever
// the number of keys (see BenchmarkFind), where the gateway's keyring compared every
// key's hash in turn.
func (r *Registry) Find(secret string) (*Key, bool) {
	if secret == "" {
		return nil, false
	}
	h := HashSecret(secret)
	k := r.snap.Load().byHash[h]
	if k == nil {
		return nil, false
	}
	return k, true
}

// Get returns the key with id, revoked or not.
func (r *Registry) Get(id string) (Key, bool) {
	k := r.snap.Load().byID[id]
	if k == nil {
		return Key{}, false
	}
	return *k, true
}

// Keys returns every key: the configuration's in their order, then those created at run
// time by creation, revoked ones included.
func (r *Registry) Keys() []Key {
	s := r.snap.Load()
	out := make([]Key, len(s.list))
	for i, k := range s.list {
		out[i] = *k
	}
	return out
}

// Generation returns a number that changes whenever the snapshot does (keys, budgets or
// overrides): a caller that caches what For returned drops its cache when it moves.
func (r *Registry) Generation() uint64 { return r.snap.Load().gen }

// RefreshStatus says how current a Registry's snapshot is.
type RefreshStatus struct {
	// Revision is the Store's revision the snapshot holds.
	Revision int64
	// Err is the last load's error, nil when it succeeded; Failures counts the loads
	// that failed since the last success.
	Err      error
	Failures int
}

// Status returns how current the snapshot is.
func (r *Registry) Status() RefreshStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	return RefreshStatus{Revision: r.settings.Revision, Err: r.lastErr, Failures: r.failures}
}

// Create makes a key from spec, stores it, and returns it with its secret, which exists
// nowhere else: the Store keeps only its hash. The key is valid on this replica when
// Create returns, and on the others within Config.Refresh. It fails with ErrExists when
// spec.ID is taken (by a configuration key or a stored one, revoked ones included),
// ErrInvalid for a bad spec, and ErrNoStore without a Store.
func (r *Registry) Create(ctx context.Context, spec Spec) (Key, string, error) {
	if r.cfg.Store == nil {
		return Key{}, "", fmt.Errorf("keys: create: %w", ErrNoStore)
	}
	id := spec.ID
	if id == "" {
		id = newID()
	}
	secret := newSecret()
	k := Key{ID: id, Tenant: spec.Tenant, Hash: HashSecret(secret), Hint: secret[:hintLen],
		AllowedModels: append([]string(nil), spec.AllowedModels...), MaxPriority: spec.MaxPriority,
		RequireSession: spec.RequireSession, Budget: spec.Budget, Note: spec.Note, Source: FromAPI,
		Created: r.cfg.Now().UTC()}
	if len(k.AllowedModels) == 0 {
		k.AllowedModels = nil
	}
	if err := k.Validate(); err != nil {
		return Key{}, "", err
	}
	if err := r.checkModels(k.AllowedModels); err != nil {
		return Key{}, "", fmt.Errorf("keys: key %s: %w", k.ID, err)
	}
	if s := r.snap.Load().byID[k.ID]; s != nil && s.Source == FromConfig {
		return Key{}, "", fmt.Errorf("keys: create %s: %w in the configuration file", k.ID, ErrExists)
	}
	if err := r.cfg.Store.CreateKey(ctx, toRecord(k)); err != nil {
		if errors.Is(err, ledger.ErrKeyExists) {
			return Key{}, "", fmt.Errorf("keys: create %s: %w", k.ID, ErrExists)
		}
		return Key{}, "", fmt.Errorf("keys: create %s: %w", k.ID, err)
	}
	// The key is stored: a failed reload only delays it here until the next poll, so the
	// secret is still returned, as it exists nowhere else.
	_ = r.load(ctx, true)
	return k, secret, nil
}

func (r *Registry) checkModels(models []string) error {
	if r.cfg.ValidModel == nil {
		return nil
	}
	for _, m := range models {
		if !r.cfg.ValidModel(m) {
			return fmt.Errorf("allowed model %q is neither a route nor a priced model: %w", m, ErrInvalid)
		}
	}
	return nil
}

// Revoke revokes key id and returns it: refused on this replica when Revoke returns, and
// on the others within Config.Refresh. Revoking a revoked key returns it unchanged. It
// fails with ErrReadOnly for a configuration key and ErrNotFound for an unknown id.
func (r *Registry) Revoke(ctx context.Context, id string) (Key, error) {
	return r.update(ctx, "revoke", id, func(ctx context.Context) (ledger.KeyRecord, error) {
		return r.cfg.Store.RevokeKey(ctx, id, r.cfg.Now())
	})
}

// SetBudget sets key id's own budget (the zero Budget removes it) and returns the key.
// Raising it takes effect on this replica when SetBudget returns, and on the others within
// Config.Refresh; until then they refuse at the old limit. Lowering it likewise: replicas
// that have not seen it yet may admit up to the old limit meanwhile. Errors as Revoke's,
// and ErrInvalid for a bad budget.
func (r *Registry) SetBudget(ctx context.Context, id string, b Budget) (Key, error) {
	if err := b.Validate(); err != nil {
		return Key{}, fmt.Errorf("keys: key %s: %w", id, err)
	}
	window := ""
	if !b.IsZero() {
		window = b.Window.String()
	}
	return r.update(ctx, "set budget of", id, func(ctx context.Context) (ledger.KeyRecord, error) {
		return r.cfg.Store.SetKeyBudget(ctx, id, b.MicroUSD, window, r.cfg.Now())
	})
}

// update runs one change of a stored key and reloads the snapshot.
func (r *Registry) update(ctx context.Context, what, id string, f func(context.Context) (ledger.KeyRecord, error)) (Key, error) {
	if k := r.snap.Load().byID[id]; k != nil && k.Source == FromConfig {
		return Key{}, fmt.Errorf("keys: %s %s: %w", what, id, ErrReadOnly)
	}
	if r.cfg.Store == nil {
		return Key{}, fmt.Errorf("keys: %s %s: %w", what, id, ErrNoStore)
	}
	rec, err := f(ctx)
	switch {
	case errors.Is(err, ledger.ErrKeyNotFound):
		return Key{}, fmt.Errorf("keys: %s %s: %w", what, id, ErrNotFound)
	case err != nil:
		return Key{}, fmt.Errorf("keys: %s %s: %w", what, id, err)
	}
	_ = r.load(ctx, true)
	k, err := fromRecord(rec)
	if err != nil {
		return Key{}, err
	}
	return k, nil
}

// toRecord is k as the Store keeps it.
func toRecord(k Key) ledger.KeyRecord {
	rec := ledger.KeyRecord{ID: k.ID, Tenant: k.Tenant, Hash: k.Hash, Hint: k.Hint, AllowedModels: k.AllowedModels,
		MaxPriority: k.MaxPriority, RequireSession: k.RequireSession, BudgetMicroUSD: k.Budget.MicroUSD,
		Note: k.Note, Created: k.Created, Revoked: k.Revoked}
	if !k.Budget.IsZero() {
		rec.BudgetWindow = k.Budget.Window.String()
	}
	return rec
}

// fromRecord is the key a stored record describes.
func fromRecord(rec ledger.KeyRecord) (Key, error) {
	k := Key{ID: rec.ID, Tenant: rec.Tenant, Hash: rec.Hash, Hint: rec.Hint, AllowedModels: rec.AllowedModels,
		MaxPriority: rec.MaxPriority, RequireSession: rec.RequireSession, Note: rec.Note, Source: FromAPI,
		Created: rec.Created, Revoked: rec.Revoked}
	if rec.BudgetMicroUSD != 0 {
		w, err := ParseWindow(rec.BudgetWindow)
		if err != nil {
			return Key{}, fmt.Errorf("keys: stored key %s: %w", rec.ID, err)
		}
		k.Budget = Budget{MicroUSD: rec.BudgetMicroUSD, Window: w}
	}
	if err := k.Validate(); err != nil {
		return Key{}, fmt.Errorf("keys: stored key %s: %w", rec.ID, err)
	}
	return k, nil
}
