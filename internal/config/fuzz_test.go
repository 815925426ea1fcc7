package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParse feeds arbitrary bytes to the loader and the validator: neither may panic, every
// problem must carry a message, and a secret's value must never reach a problem.
func FuzzParse(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/check/*.yaml")
	seeds = append(seeds, "../../tollgate.yaml")
	for _, s := range seeds {
		if data, err := os.ReadFile(s); err == nil {
			f.Add(data)
		}
	}
	f.Add([]byte(minimal))
	f.Add([]byte("quotas: [{name: a, unit: usd, limit: 1e400, window: 1ns, burst: -0}]"))
	f.Add([]byte("a: &x [*x, *x]\nupstreams: *x"))
	const secret = "fuzz-secret-value"
	env := func(string) (string, bool) { return secret, true }
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse("f.yaml", data)
		if err != nil {
			if _, ok := err.(Problems); !ok {
				t.Fatalf("Parse error %T, want Problems", err)
			}
			return
		}
		c.LookupEnv = env
		c.EnvFile = ""
		for _, p := range c.Validate() {
			if p.Message == "" {
				t.Errorf("problem without a message: %+v", p)
			}
			if strings.Contains(p.String(), secret) {
				t.Errorf("problem contains the secret: %s", p)
			}
		}
		_ = c.Summary().String()
	})
}
