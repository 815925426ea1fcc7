package keys

import (
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/tollgate/tollgate/quota"
)

// Errors; callers branch with errors.Is.
var (
	// ErrExists: a key with the id (or, for a generated secret, the hash) exists already,
	// in the configuration or in the store, revoked keys included: an id is never reused.
	ErrExists = errors.New("key exists")
	// ErrNotFound: no key has the id.
	ErrNotFound = errors.New("key not found")
	// ErrReadOnly: the key comes from the configuration file, which the API does not
	// change; edit the file and reload.
	ErrReadOnly = errors.New("key is from the configuration file")
	// ErrNoStore: the Registry has no Store, so nothing can be created or changed at run
	// time.
	ErrNoStore = errors.New("no settings store")
	// ErrInvalid: a Spec, a Budget or an override is not valid; the error says which
	// field.
	ErrInvalid = errors.New("invalid")
)

// SecretPrefix starts every secret the Registry makes, so that one found in a log, a
// repository or a paste is recognisable (and secret scanners can be told the pattern
// tg-[A-Z2-7]{52}).
const SecretPrefix = "tg-"

// hintLen is how much of a secret is kept as its Hint: the prefix and 6 of its 52
// base-32 characters (30 of its 260 random bits).
const hintLen = len(SecretPrefix) + 6

// BudgetRule is the Quota.Name of a key's own budget (Key.BudgetQuota): what a refusal
// and the admin API call it.
const BudgetRule = "key_budget"

// Source says where a key is defined.
type Source uint8

// The sources.
const (
	FromConfig Source = iota + 1 // the configuration file: read-only through the API
	FromAPI                      // created at run time and kept in the Store
)

func (s Source) String() string {
	switch s {
	case FromConfig:
		return "config"
	case FromAPI:
		return "api"
	}
	return "unknown"
}

// Budget is a key's own spending limit, on top of the rules of the configuration. The
// zero value is no budget.
type Budget struct {
	// MicroUSD is the limit; 0 means no budget.
	MicroUSD int64
	// Window is quota.Day, quota.Month or quota.Lifetime; required with a limit. Day and
	// month windows are in Config.Location.
	Window quota.Kind
}

// IsZero reports whether b is no budget.
func (b Budget) IsZero() bool { return b.MicroUSD == 0 }

// Validate reports what is wrong with b.
func (b Budget) Validate() error {
	switch {
	case b.MicroUSD < 0:
		return fmt.Errorf("keys: budget %d micro-USD is negative: %w", b.MicroUSD, ErrInvalid)
	case b.MicroUSD == 0 && b.Window != 0:
		return fmt.Errorf("keys: budget window %s without a limit: %w", b.Window, ErrInvalid)
	case b.MicroUSD > 0 && !b.Window.IsBudget():
		return fmt.Errorf("keys: budget window %s: want day, month or lifetime: %w", b.Window, ErrInvalid)
	}
	return nil
}

// ParseWindow returns the budget window named s: "day", "month" or "lifetime".
func ParseWindow(s string) (quota.Kind, error) {
	for _, k := range []quota.Kind{quota.Day, quota.Month, quota.Lifetime} {
		if s == k.String() {
			return k, nil
		}
	}
	return 0, fmt.Errorf("keys: budget window %q: want day, month or lifetime: %w", s, ErrInvalid)
}

// Key is a virtual key: what an agent sends instead of a provider's key. Keys are
// values; those a Registry returns are shared and must not be modified.
type Key struct {
	// ID names the key in logs, metrics, the ledger and quota scopes ("key" label).
	ID string
	// Tenant is who pays for the key's requests ("tenant" label).
	Tenant string
	// Hash is the SHA-256 of the secret (HashSecret).
	Hash [32]byte
	// Hint is the secret's first characters ("tg-ABC123"), to tell keys apart; empty for
	// keys from the configuration, whose secrets tollgate never sees in full.
	Hint string
	// AllowedModels lists the models and routes the key may call; empty means all.
	AllowedModels []string
	// MaxPriority caps the X-Priority the key may ask for (-1..3).
	MaxPriority int
	// RequireSession refuses the key's requests that carry no session id, so that every
	// call of an agent run is counted against its session's budget.
	RequireSession bool
	// Budget is the key's own budget; zero means none.
	Budget Budget
	// Note is free text from whoever created the key.
	Note   string
	Source Source
	// Created is when the key was created (zero for configuration keys); Revoked when it
	// was revoked, zero while it is valid.
	Created, Revoked time.Time
}

// HashSecret returns the SHA-256 of a secret, the form Key.Hash and the configuration's
// key_sha256 hold.
func HashSecret(secret string) [32]byte { return sha256.Sum256([]byte(secret)) }

// Allows reports whether the key may call model (a model id or a route name).
func (k *Key) Allows(model string) bool {
	return len(k.AllowedModels) == 0 || slices.Contains(k.AllowedModels, model)
}

// Active reports whether the key is valid (not revoked).
func (k *Key) Active() bool { return k.Revoked.IsZero() }

// BudgetQuota returns the quota of the key's own budget, with day and month windows in
// loc (nil: UTC), and false when the key has none. It counts micro-USD against the key
// alone; its Quota.Key never collides with a rule's, whose names cannot contain '|'.
func (k *Key) BudgetQuota(loc *time.Location) (quota.Quota, bool) {
	if k.Budget.IsZero() {
		return quota.Quota{}, false
	}
	if loc == nil {
		loc = time.UTC
	}
	return quota.Quota{Name: BudgetRule, Key: BudgetRule + "|key=" + k.ID, Scope: quota.Labels{Key: k.ID},
		Unit: quota.MicroUSD, Limit: k.Budget.MicroUSD, Window: quota.Window{Kind: k.Budget.Window, Location: loc}}, true
}

// Validate reports the first field of k that is not valid.
func (k *Key) Validate() error {
	if err := checkID(k.ID); err != nil {
		return err
	}
	if err := checkText("tenant", k.Tenant, 128, true); err != nil {
		return fmt.Errorf("keys: key %s: %w", k.ID, err)
	}
	if k.MaxPriority < -1 || k.MaxPriority > 3 {
		return fmt.Errorf("keys: key %s: max priority %d: want -1..3: %w", k.ID, k.MaxPriority, ErrInvalid)
	}
	for _, m := range k.AllowedModels {
		if err := checkText("allowed model", m, 256, true); err != nil {
			return fmt.Errorf("keys: key %s: %w", k.ID, err)
		}
	}
	if err := checkText("note", k.Note, 1024, false); err != nil {
		return fmt.Errorf("keys: key %s: %w", k.ID, err)
	}
	if k.Hash == [32]byte{} {
		return fmt.Errorf("keys: key %s: no hash: %w", k.ID, ErrInvalid)
	}
	if err := k.Budget.Validate(); err != nil {
		return fmt.Errorf("keys: key %s: %w", k.ID, err)
	}
	return nil
}

// checkID accepts what the configuration accepts for names: 1 to 64 letters, digits, '.',
// '_' and '-'.
func checkID(id string) error {
	if id == "" || len(id) > 64 {
		return fmt.Errorf("keys: id %q: want 1 to 64 characters: %w", id, ErrInvalid)
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("keys: id %q: only letters, digits, '.', '_' and '-': %w", id, ErrInvalid)
		}
	}
	return nil
}

// checkText refuses control characters (which would forge log lines and break metrics'
// labels) and lengths past limit.
func checkText(field, s string, limit int, required bool) error {
	switch {
	case required && strings.TrimSpace(s) == "":
		return fmt.Errorf("%s is empty: %w", field, ErrInvalid)
	case len(s) > limit:
		return fmt.Errorf("%s is longer than %d bytes: %w", field, limit, ErrInvalid)
	case strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return fmt.Errorf("%s %q has control characters: %w", field, s, ErrInvalid)
	}
	return nil
}

// Spec is what Registry.Create makes a key from.
type Spec struct {
	// ID is the key's id; "" means a generated one ("key-" and 10 random characters).
	ID             string
	Tenant         string
	AllowedModels  []string
	MaxPriority    int
	RequireSession bool
	Budget         Budget
	Note           string
}

// newSecret returns a new secret: SecretPrefix and 52 base-32 characters, 260 random bits.
func newSecret() string { return SecretPrefix + rand.Text() + rand.Text() }

// newID returns a generated key id.
func newID() string { return "key-" + strings.ToLower(rand.Text()[:10]) }
