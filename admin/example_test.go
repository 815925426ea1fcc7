package admin_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/tollgate/tollgate/admin"
	"github.com/tollgate/tollgate/keys"
	"github.com/tollgate/tollgate/quota"
)

// The admin handler over a memory quota store: a tenant's budget as the API shows it.
func Example() {
	ctx := context.Background()
	reg, _ := keys.Open(ctx, keys.Config{Static: []keys.Key{
		{ID: "alpha-agents", Tenant: "alpha", Hash: keys.HashSecret("the agents' secret")},
	}})
	defer reg.Close()
	rules := quota.Rules{{Name: "tenant-daily", Scope: quota.Labels{Tenant: quota.Each}, Unit: quota.MicroUSD,
		Limit: 50_000_000, Window: quota.Daily(time.UTC)}}
	store := quota.NewMemoryStore(quota.MemoryConfig{})
	res, _, _ := store.Reserve(ctx, &quota.Request{Quotas: rules.For(nil, quota.Labels{Tenant: "alpha"}),
		Amount: quota.Amount{MicroUSD: 2_000_000}}, nil)
	_, _ = store.Settle(ctx, res.ID, quota.Amount{MicroUSD: 1_250_000}, nil)

	h, err := admin.New(admin.Config{
		KeyHash: keys.HashSecret("the admin token"),
		Keys:    reg,
		Rules:   func() quota.Rules { return rules },
		Quotas:  store,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	req := httptest.NewRequest("GET", "/admin/v1/tenants/alpha", nil)
	req.Header.Set("Authorization", "Bearer the admin token")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	fmt.Println(rec.Code)
	for _, line := range strings.Split(rec.Body.String(), "\n") {
		for _, field := range []string{`"rule"`, `"limit"`, `"spent"`, `"held"`} {
			if strings.Contains(line, field) {
				fmt.Println(strings.TrimSpace(line))
			}
		}
	}

	req = httptest.NewRequest("GET", "/admin/v1/tenants/alpha", nil)
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	fmt.Println(rec.Code, rec.Header().Get("WWW-Authenticate"), http.StatusText(rec.Code))
	// Output:
	// 200
	// "rule": "tenant-daily",
	// "limit": 50000000,
	// "spent": 1250000,
	// "held": 0,
	// 401 Bearer realm="tollgate-admin" Unauthorized
}
