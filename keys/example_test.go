package keys_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/tollgate/tollgate/keys"
	"github.com/tollgate/tollgate/ledger"
	"github.com/tollgate/tollgate/quota"
)

// A key created at run time is found by its secret at once, carries its own budget as a
// quota, and an override raises a tenant's budget without touching the rule.
func Example() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "keys-example")
	defer os.RemoveAll(dir)
	l, err := ledger.Open(ctx, ledger.Config{Path: filepath.Join(dir, "tollgate.db")})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer l.Close(ctx)
	reg, err := keys.Open(ctx, keys.Config{Store: l, Static: []keys.Key{
		{ID: "ops", Tenant: "acme", Hash: keys.HashSecret("a secret from the config file")},
	}})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer reg.Close()

	k, secret, err := reg.Create(ctx, keys.Spec{ID: "ci-agents", Tenant: "acme", MaxPriority: 1,
		Budget: keys.Budget{MicroUSD: 2_000_000, Window: quota.Day}})
	if err != nil {
		fmt.Println(err)
		return
	}
	found, ok := reg.Find(secret)
	fmt.Println(k.ID, found.ID == k.ID, ok, len(secret))

	rules := quota.Rules{{Name: "tenant-daily", Scope: quota.Labels{Tenant: quota.Each}, Unit: quota.MicroUSD,
		Limit: 50_000_000, Window: quota.Daily(time.UTC)}}
	if _, err := reg.SetOverride(ctx, rules[0], quota.Labels{Tenant: "acme"}, 80_000_000, "quarter end"); err != nil {
		fmt.Println(err)
		return
	}
	for _, q := range reg.For(nil, rules, quota.Labels{Tenant: "acme", Key: "ci-agents"}) {
		fmt.Printf("%s %s %s\n", q.Key, q.Unit.Format(q.Limit), q.Window)
	}
	// Output:
	// ci-agents true true 55
	// tenant-daily|tenant=acme $80.00 per day (UTC)
	// key_budget|key=ci-agents $2.00 per day (UTC)
}
