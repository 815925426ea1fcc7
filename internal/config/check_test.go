package config

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/check")

// fakeEnv is the environment of the check tests: the secret values are distinctive so that
// a test can assert they appear nowhere in the output.
var fakeEnv = map[string]string{
	"OPENAI_API_KEY": "sk-test-value-that-must-never-print",
	"TOLLGATE_KEY_A": "tg-test-virtual-key-never-print",
	"KEY_A":          "tg-test-key-a-never-print",
	"TOLLGATE_ADMIN": "tg-test-admin-token-never-print",
}

func lookupFake(name string) (string, bool) { v, ok := fakeEnv[name]; return v, ok }

// TestCheckGolden runs Check on every testdata/check/*.yaml and compares its output with
// the .golden file beside it (go test -run TestCheckGolden -update rewrites them).
func TestCheckGolden(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("testdata/check/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no test configurations: %v", err)
	}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".yaml")
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var out bytes.Buffer
			n, err := Check(&out, file, lookupFake)
			if err != nil {
				t.Fatalf("Check(%s): %v", file, err)
			}
			if (n == 0) != (name == "valid") {
				t.Errorf("Check(%s) = %d problems, want problems only in the broken files", file, n)
			}
			if lines := strings.Count(out.String(), "\n"); n > 0 && lines != n {
				t.Errorf("Check(%s) wrote %d lines for %d problems, want one line per problem", file, lines, n)
			}
			for _, secret := range fakeEnv {
				if strings.Contains(out.String(), secret) {
					t.Errorf("Check(%s) output contains the value of a secret:\n%s", file, out.String())
				}
			}
			golden := strings.TrimSuffix(file, ".yaml") + ".golden"
			if *update {
				if err := os.WriteFile(golden, out.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if diff := cmp.Diff(string(want), out.String()); diff != "" {
				t.Errorf("Check(%s) output (-want +got):\n%s", file, diff)
			}
		})
	}
}

// TestCheckNeverEchoesPastedSecrets checks that values which look like secrets, written
// where a variable name or a hash belongs, are not repeated by the check.
func TestCheckNeverEchoesPastedSecrets(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	if _, err := Check(&out, "testdata/check/secrets.yaml", lookupFake); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"sk-proj-Zq3VbN8xK2mL5pR7tY9wA1cE4gH6jD0fS3uI8oP2qW5eR7tY", "hunter2", "tg-live-8f2k3j4h5g6f7d8s9a0"} {
		if strings.Contains(out.String(), s) {
			t.Errorf("check output contains %q:\n%s", s, out.String())
		}
	}
}

func TestCheckMissingFile(t *testing.T) {
	t.Parallel()
	if _, err := Check(&bytes.Buffer{}, "testdata/check/does-not-exist.yaml", nil); err == nil {
		t.Error("Check(missing file) error = nil, want one")
	}
}
