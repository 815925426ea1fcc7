package keys_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tollgate/tollgate/internal/pgtest"
	"github.com/tollgate/tollgate/keys"
	"github.com/tollgate/tollgate/ledger"
	"github.com/tollgate/tollgate/quota"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// replicas returns two Stores that share one database, as two gateways of a fleet do.
type replicas func(t *testing.T) (a, b keys.Store)

// backends runs f against SQLite (one process: both "replicas" share one Ledger, as two
// Registries of one process would) and PostgreSQL (two Ledgers on one database, as two
// gateways would).
func backends(t *testing.T, f func(t *testing.T, newStores replicas)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		f(t, func(t *testing.T) (keys.Store, keys.Store) {
			l := openLedger(t, ledger.Config{Path: filepath.Join(t.TempDir(), "ledger.db")})
			return l, l
		})
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		f(t, func(t *testing.T) (keys.Store, keys.Store) {
			url := pgtest.Database(t)
			return openLedger(t, ledger.Config{Backend: ledger.Postgres, URL: url}),
				openLedger(t, ledger.Config{Backend: ledger.Postgres, URL: url})
		})
	})
}

func openLedger(t *testing.T, cfg ledger.Config) *ledger.Ledger {
	t.Helper()
	l, err := ledger.Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := l.Close(context.Background()); err != nil && !errors.Is(err, ledger.ErrClosed) {
			t.Error(err)
		}
	})
	return l
}

// t0 is the fixed instant the registries' clocks start at.
var t0 = time.Date(2026, 11, 27, 9, 30, 0, 0, time.UTC)

func open(t *testing.T, cfg keys.Config) *keys.Registry {
	t.Helper()
	if cfg.Refresh == 0 {
		cfg.Refresh = -1 // on demand only: the tests decide when a replica looks
	}
	if cfg.Now == nil {
		cfg.Now = func() time.Time { return t0 }
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	r, err := keys.Open(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Open() = %v", err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// configKey is a key of the configuration file whose secret is "cfg-"+id.
func configKey(id, tenant string) keys.Key {
	return keys.Key{ID: id, Tenant: tenant, Hash: keys.HashSecret("cfg-" + id), MaxPriority: 1}
}

var secretPattern = regexp.MustCompile(`^tg-[A-Z2-7]{52}$`)

// TestCreateFind: a created key is found by its secret at once, with every field; only its
// hash and a hint are stored; wrong, empty and near secrets find nothing.
func TestCreateFind(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, newStores replicas) {
		ctx := context.Background()
		store, _ := newStores(t)
		r := open(t, keys.Config{Store: store, Static: []keys.Key{configKey("ops", "acme")}})
		spec := keys.Spec{ID: "alpha-ci", Tenant: "alpha", AllowedModels: []string{"smart"}, MaxPriority: 2,
			RequireSession: true, Budget: keys.Budget{MicroUSD: 5_000_000, Window: quota.Day}, Note: "CI agents"}
		k, secret, err := r.Create(ctx, spec)
		if err != nil {
			t.Fatalf("Create() = %v", err)
		}
		if !secretPattern.MatchString(secret) {
			t.Errorf("secret %q does not match %s", secret, secretPattern)
		}
		want := keys.Key{ID: "alpha-ci", Tenant: "alpha", Hash: keys.HashSecret(secret), Hint: secret[:9],
			AllowedModels: []string{"smart"}, MaxPriority: 2, RequireSession: true,
			Budget: keys.Budget{MicroUSD: 5_000_000, Window: quota.Day}, Note: "CI agents", Source: keys.FromAPI, Created: t0}
		if diff := cmp.Diff(want, k); diff != "" {
			t.Errorf("Create() key (-want +got):\n%s", diff)
		}
		got, ok := r.Find(secret)
		if !ok {
			t.Fatal("Find(new secret) = false")
		}
		if diff := cmp.Diff(want, *got); diff != "" {
			t.Errorf("Find() (-want +got):\n%s", diff)
		}
		if got, ok := r.Find("cfg-ops"); !ok || got.ID != "ops" || got.Source != keys.FromConfig {
			t.Errorf("Find(config secret) = %+v, %v", got, ok)
		}
		for _, s := range []string{"", secret[:len(secret)-1], secret + "A", strings.ToLower(secret), "cfg-op"} {
			if got, ok := r.Find(s); ok {
				t.Errorf("Find(%q) = %s, want nothing", s, got.ID)
			}
		}
		stored, err := store.Settings(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(stored.Keys) != 1 || stored.Keys[0].Hash != keys.HashSecret(secret) || stored.Keys[0].Hint != secret[:9] {
			t.Fatalf("stored keys = %+v, want alpha-ci with the secret's hash and hint", stored.Keys)
		}
		if strings.Contains(stored.Keys[0].Note+stored.Keys[0].Hint, secret[9:]) {
			t.Error("the store holds more of the secret than its hint")
		}
		ids := []string{}
		for _, k := range r.Keys() {
			ids = append(ids, k.ID+"/"+k.Source.String())
		}
		if diff := cmp.Diff([]string{"ops/config", "alpha-ci/api"}, ids); diff != "" {
			t.Errorf("Keys() (-want +got):\n%s", diff)
		}
		if _, _, err := r.Create(ctx, keys.Spec{Tenant: "beta"}); err != nil {
			t.Fatalf("Create(no id) = %v", err)
		}
		if ks := r.Keys(); len(ks) != 3 || !regexp.MustCompile(`^key-[a-z2-7]{10}$`).MatchString(ks[2].ID) {
			t.Errorf("a generated id: %+v", ks)
		}
	})
}

// TestReplicas: what one replica creates, revokes or re-budgets, another sees at its next
// refresh and not before; a replica that starts later sees it at Open.
func TestReplicas(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, newStores replicas) {
		ctx := context.Background()
		sa, sb := newStores(t)
		a, b := open(t, keys.Config{Store: sa}), open(t, keys.Config{Store: sb})
		k, secret, err := a.Create(ctx, keys.Spec{ID: "k1", Tenant: "alpha"})
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := b.Find(secret); ok {
			t.Error("b found the key before refreshing")
		}
		if err := b.Refresh(ctx); err != nil {
			t.Fatal(err)
		}
		if _, ok := b.Find(secret); !ok {
			t.Fatal("b did not find the key after Refresh")
		}
		if _, err := a.SetBudget(ctx, k.ID, keys.Budget{MicroUSD: 2_000_000, Window: quota.Month}); err != nil {
			t.Fatal(err)
		}
		revoked, err := a.Revoke(ctx, k.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !revoked.Revoked.Equal(t0) || revoked.Budget.MicroUSD != 2_000_000 {
			t.Errorf("Revoke() = %+v, want revoked at %v with its budget", revoked, t0)
		}
		if _, ok := a.Find(secret); ok {
			t.Error("a still finds the key it revoked")
		}
		if _, ok := b.Find(secret); !ok {
			t.Error("b refused the key before refreshing: revocation should wait for its refresh")
		}
		genBefore := b.Generation()
		if err := b.Refresh(ctx); err != nil {
			t.Fatal(err)
		}
		if _, ok := b.Find(secret); ok {
			t.Error("b still finds the revoked key after Refresh")
		}
		if b.Generation() == genBefore {
			t.Error("b's Generation did not move with its snapshot")
		}
		got, ok := b.Get(k.ID)
		if !ok || got.Active() || got.Budget.MicroUSD != 2_000_000 || got.Budget.Window != quota.Month {
			t.Errorf("b.Get(revoked) = %+v, %v; want it listed, revoked, with its monthly budget", got, ok)
		}
		c := open(t, keys.Config{Store: sb})
		if got, ok := c.Get(k.ID); !ok || got.Active() {
			t.Errorf("a registry opened later: Get() = %+v, %v; want the revoked key", got, ok)
		}
		// Revoked ids stay taken.
		if _, _, err := c.Create(ctx, keys.Spec{ID: k.ID, Tenant: "alpha"}); !errors.Is(err, keys.ErrExists) {
			t.Errorf("Create(revoked id) = %v, want ErrExists", err)
		}
	})
}

// TestConfigKeysReadOnly: the configuration's keys cannot be changed or shadowed.
func TestConfigKeysReadOnly(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := openLedger(t, ledger.Config{Path: filepath.Join(t.TempDir(), "ledger.db")})
	r := open(t, keys.Config{Store: store, Static: []keys.Key{configKey("ops", "acme")}})
	if _, err := r.Revoke(ctx, "ops"); !errors.Is(err, keys.ErrReadOnly) {
		t.Errorf("Revoke(config key) = %v, want ErrReadOnly", err)
	}
	if _, err := r.SetBudget(ctx, "ops", keys.Budget{MicroUSD: 1, Window: quota.Day}); !errors.Is(err, keys.ErrReadOnly) {
		t.Errorf("SetBudget(config key) = %v, want ErrReadOnly", err)
	}
	if _, _, err := r.Create(ctx, keys.Spec{ID: "ops", Tenant: "acme"}); !errors.Is(err, keys.ErrExists) {
		t.Errorf("Create(config key's id) = %v, want ErrExists", err)
	}
	if _, err := r.Revoke(ctx, "nobody"); !errors.Is(err, keys.ErrNotFound) {
		t.Errorf("Revoke(unknown) = %v, want ErrNotFound", err)
	}
	if _, err := r.SetBudget(ctx, "nobody", keys.Budget{}); !errors.Is(err, keys.ErrNotFound) {
		t.Errorf("SetBudget(unknown) = %v, want ErrNotFound", err)
	}

	// A stored key that a later configuration gives the same id loses to the file's, and
	// is reported.
	if _, _, err := r.Create(ctx, keys.Spec{ID: "later", Tenant: "beta"}); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	r2 := open(t, keys.Config{Store: store, Logger: slog.New(slog.NewTextHandler(&logs, nil)),
		Static: []keys.Key{configKey("ops", "acme"), configKey("later", "acme")}})
	if got, ok := r2.Get("later"); !ok || got.Source != keys.FromConfig || got.Tenant != "acme" {
		t.Errorf("Get(later) = %+v, want the configuration's", got)
	}
	if !strings.Contains(logs.String(), "stored key later has the id of a configuration key") {
		t.Errorf("no log of the conflict; logs:\n%s", logs.String())
	}
}

// TestSetStatic: a reload of the configuration swaps its keys at once and keeps the stored
// ones; an invalid set changes nothing.
func TestSetStatic(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := openLedger(t, ledger.Config{Path: filepath.Join(t.TempDir(), "ledger.db")})
	r := open(t, keys.Config{Store: store, Static: []keys.Key{configKey("old", "acme")}})
	_, secret, err := r.Create(ctx, keys.Spec{ID: "api", Tenant: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.SetStatic([]keys.Key{configKey("new", "acme")}); err != nil {
		t.Fatal(err)
	}
	if _, ok := r.Find("cfg-old"); ok {
		t.Error("a key removed from the configuration is still found")
	}
	for _, s := range []string{"cfg-new", secret} {
		if _, ok := r.Find(s); !ok {
			t.Errorf("Find(%s) after SetStatic = false", s)
		}
	}
	dup := []keys.Key{configKey("x", "acme"), configKey("x", "beta")}
	if err := r.SetStatic(dup); !errors.Is(err, keys.ErrExists) {
		t.Errorf("SetStatic(duplicate ids) = %v, want ErrExists", err)
	}
	if _, ok := r.Find("cfg-new"); !ok {
		t.Error("a refused SetStatic changed the keys")
	}
}

// TestCreateInvalid: every field is checked before anything is stored.
func TestCreateInvalid(t *testing.T) {
	t.Parallel()
	store := openLedger(t, ledger.Config{Path: filepath.Join(t.TempDir(), "ledger.db")})
	r := open(t, keys.Config{Store: store, ValidModel: func(m string) bool { return m == "smart" || m == "gpt-4o" }})
	for _, tt := range []struct {
		name string
		spec keys.Spec
	}{
		{"no tenant", keys.Spec{ID: "a"}},
		{"blank tenant", keys.Spec{ID: "a", Tenant: "  "}},
		{"id with a slash", keys.Spec{ID: "a/b", Tenant: "t"}},
		{"id too long", keys.Spec{ID: strings.Repeat("a", 65), Tenant: "t"}},
		{"priority above critical", keys.Spec{ID: "a", Tenant: "t", MaxPriority: 4}},
		{"priority below low", keys.Spec{ID: "a", Tenant: "t", MaxPriority: -2}},
		{"unknown model", keys.Spec{ID: "a", Tenant: "t", AllowedModels: []string{"smart", "gpt-5-imaginary"}}},
		{"negative budget", keys.Spec{ID: "a", Tenant: "t", Budget: keys.Budget{MicroUSD: -1, Window: quota.Day}}},
		{"budget without window", keys.Spec{ID: "a", Tenant: "t", Budget: keys.Budget{MicroUSD: 5}}},
		{"budget over a rate window", keys.Spec{ID: "a", Tenant: "t", Budget: keys.Budget{MicroUSD: 5, Window: quota.Rate}}},
		{"newline in the tenant", keys.Spec{ID: "a", Tenant: "t\nlevel=ERROR"}},
		{"control character in the note", keys.Spec{ID: "a", Tenant: "t", Note: "bell\a"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, _, err := r.Create(context.Background(), tt.spec); !errors.Is(err, keys.ErrInvalid) {
				t.Errorf("Create(%+v) = %v, want ErrInvalid", tt.spec, err)
			}
		})
	}
	if s, err := store.Settings(context.Background()); err != nil || len(s.Keys) != 0 {
		t.Errorf("stored after refused creates: %+v, %v", s.Keys, err)
	}
}

// TestNoStore: without a Store there are only the configuration's keys.
func TestNoStore(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := open(t, keys.Config{Static: []keys.Key{configKey("ops", "acme")}})
	if _, ok := r.Find("cfg-ops"); !ok {
		t.Error("Find(config secret) = false")
	}
	if _, _, err := r.Create(ctx, keys.Spec{ID: "x", Tenant: "t"}); !errors.Is(err, keys.ErrNoStore) {
		t.Errorf("Create() = %v, want ErrNoStore", err)
	}
	if _, err := r.SetOverride(ctx, quota.Rule{Name: "d", Window: quota.Daily(nil)}, quota.Labels{}, 1, ""); !errors.Is(err, keys.ErrNoStore) {
		t.Errorf("SetOverride() = %v, want ErrNoStore", err)
	}
	if err := r.Refresh(ctx); err != nil {
		t.Errorf("Refresh() = %v", err)
	}
}

// TestStoreDown: while the Store cannot be read, the last snapshot keeps answering and
// the failure is reported.
func TestStoreDown(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := openLedger(t, ledger.Config{Path: filepath.Join(t.TempDir(), "ledger.db")})
	r := open(t, keys.Config{Store: store})
	_, secret, err := r.Create(ctx, keys.Spec{ID: "k", Tenant: "t"})
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := r.Refresh(ctx); !errors.Is(err, ledger.ErrClosed) {
		t.Errorf("Refresh() with the store closed = %v, want ErrClosed", err)
	}
	if _, ok := r.Find(secret); !ok {
		t.Error("the key stopped working when the store went away")
	}
	if st := r.Status(); st.Failures != 1 || st.Err == nil || st.Revision == 0 {
		t.Errorf("Status() = %+v, want one failure after revision > 0", st)
	}
}

// TestRefreshInterval: another replica's change arrives by polling within Refresh, with
// no Refresh call, and not before. The time is synctest's.
func TestRefreshInterval(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		store := openLedger(t, ledger.Config{Path: ":memory:"})
		writer := open(t, keys.Config{Store: store})
		reader := open(t, keys.Config{Store: store, Refresh: 5 * time.Second})
		_, secret, err := writer.Create(ctx, keys.Spec{ID: "k", Tenant: "t"})
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(4 * time.Second)
		synctest.Wait()
		if _, ok := reader.Find(secret); ok {
			t.Error("the reader found the key before its refresh interval")
		}
		time.Sleep(time.Second)
		synctest.Wait()
		if _, ok := reader.Find(secret); !ok {
			t.Error("the reader did not find the key one refresh interval after it was created")
		}
		if _, err := writer.Revoke(ctx, "k"); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Second)
		synctest.Wait()
		if _, ok := reader.Find(secret); ok {
			t.Error("the reader still finds the key one refresh interval after it was revoked")
		}
		reader.Close()
		writer.Close()
		if err := store.Close(ctx); err != nil {
			t.Fatal(err)
		}
	})
}

// sqliteStores is replicas for SQLite alone, for the tests whose point is not sharing.
func sqliteStores(t *testing.T) (keys.Store, keys.Store) {
	l := openLedger(t, ledger.Config{Path: filepath.Join(t.TempDir(), "ledger.db")})
	return l, l
}
