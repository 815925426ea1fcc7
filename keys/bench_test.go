package keys_test

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"testing"

	"github.com/tollgate/tollgate/keys"
	"github.com/tollgate/tollgate/quota"
)

// manyKeys returns n configuration keys whose secrets are "cfg-k<i>".
func manyKeys(n int) []keys.Key {
	ks := make([]keys.Key, n)
	for i := range ks {
		ks[i] = configKey(fmt.Sprintf("k%d", i), "acme")
	}
	return ks
}

// BenchmarkFind looks up the last key of n (a hit) and a secret that is no key (a miss),
// beside the gateway's keyring (every hash compared in constant time), which it replaces.
func BenchmarkFind(b *testing.B) {
	for _, n := range []int{10, 1000, 10_000} {
		ks := manyKeys(n)
		r, err := keys.Open(context.Background(), keys.Config{Static: ks})
		if err != nil {
			b.Fatal(err)
		}
		hit := fmt.Sprintf("cfg-k%d", n-1)
		for _, c := range []struct{ name, secret string }{{"hit", hit}, {"miss", "tg-NOTAKEY"}} {
			b.Run(fmt.Sprintf("registry/keys=%d/%s", n, c.name), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if _, ok := r.Find(c.secret); ok != (c.name == "hit") {
						b.Fatal("wrong answer")
					}
				}
			})
			b.Run(fmt.Sprintf("linear/keys=%d/%s", n, c.name), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if k := linearFind(ks, c.secret); (k != nil) != (c.name == "hit") {
						b.Fatal("wrong answer")
					}
				}
			})
		}
	}
}

// linearFind is gateway/identity.go's keyring.find, for comparison.
func linearFind(ks []keys.Key, secret string) *keys.Key {
	h := sha256.Sum256([]byte(secret))
	found := -1
	for i := range ks {
		eq := subtle.ConstantTimeCompare(h[:], ks[i].Hash[:])
		found = subtle.ConstantTimeSelect(eq, i, found)
	}
	if found < 0 {
		return nil
	}
	return &ks[found]
}

// BenchmarkFor is the quotas of one request with and without overrides, beside the
// rules' own For that it wraps.
func BenchmarkFor(b *testing.B) {
	l := quota.Labels{Provider: "openai", Model: "gpt-4o", Tenant: "alpha", Key: "k1", Session: "run-1"}
	r, err := keys.Open(context.Background(), keys.Config{Static: manyKeys(10)})
	if err != nil {
		b.Fatal(err)
	}
	dst := make([]quota.Quota, 0, 8)
	b.Run("rules.For", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			dst = rules.For(dst[:0], l)
		}
	})
	b.Run("registry.For", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			dst = r.For(dst[:0], rules, l)
		}
	})
}
