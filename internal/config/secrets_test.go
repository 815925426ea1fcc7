package config

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// writeFiles writes name -> content into a new directory and returns it.
func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

const dotenvConfig = `env_file: secrets.env
upstreams:
  openai: {api_key_env: TG_TEST_DOTENV_OPENAI}
  anthropic: {api_key_env: TG_TEST_DOTENV_ANTHROPIC}
keys:
  - {id: a, tenant: t, key_env: TG_TEST_DOTENV_KEY}
  - {id: b, tenant: t, key_env: TG_TEST_DOTENV_EMPTY}
`

// TestEnvFile checks that secrets resolve from the env_file, relative to the configuration,
// that an empty value counts as missing, and that no value is ever printed.
func TestEnvFile(t *testing.T) {
	t.Parallel()
	dir := writeFiles(t, map[string]string{
		"tollgate.yaml": dotenvConfig,
		"secrets.env":   "TG_TEST_DOTENV_OPENAI=sk-dotenv-value-1\nexport TG_TEST_DOTENV_KEY='tg-dotenv-value-2'\nTG_TEST_DOTENV_EMPTY=\n",
	})
	path := filepath.Join(dir, "tollgate.yaml")
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if ps := c.Validate(); len(ps) > 0 {
		t.Fatalf("Validate: %v", problemStrings(ps))
	}
	type state struct {
		Env string
		Set bool
	}
	var got []state
	for _, s := range c.Secrets() {
		got = append(got, state{s.Env, s.Set})
	}
	want := []state{{"TG_TEST_DOTENV_OPENAI", true}, {"TG_TEST_DOTENV_ANTHROPIC", false},
		{"TG_TEST_DOTENV_KEY", true}, {"TG_TEST_DOTENV_EMPTY", false}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Secrets() (-want +got):\n%s", diff)
	}
	if v, ok := c.secret("TG_TEST_DOTENV_KEY"); !ok || v != "tg-dotenv-value-2" {
		t.Errorf("secret(TG_TEST_DOTENV_KEY) = %q, %v; want the file's value", v, ok)
	}
	if _, ok := os.LookupEnv("TG_TEST_DOTENV_OPENAI"); ok {
		t.Error("reading the env_file changed the process environment")
	}

	var out bytes.Buffer
	if _, err := Check(&out, path, nil); err != nil {
		t.Fatal(err)
	}
	_, err = c.Build(t.Context(), quietLogger())
	for _, text := range []string{out.String(), err.Error()} {
		for _, secret := range []string{"sk-dotenv-value-1", "tg-dotenv-value-2"} {
			if strings.Contains(text, secret) {
				t.Errorf("output contains the secret %q:\n%s", secret, text)
			}
		}
	}
	if !strings.Contains(out.String(), "secrets: TG_TEST_DOTENV_OPENAI set, TG_TEST_DOTENV_ANTHROPIC missing") {
		t.Errorf("check output = %q, want the secrets' states", out.String())
	}
	if !strings.Contains(err.Error(), "TG_TEST_DOTENV_ANTHROPIC, TG_TEST_DOTENV_EMPTY") {
		t.Errorf("Build error = %q, want the missing variables named", err)
	}
}

// TestEnvironmentWinsOverEnvFile follows godotenv.Load's rule: the file never overrides a
// variable already set.
func TestEnvironmentWinsOverEnvFile(t *testing.T) {
	t.Setenv("TG_TEST_DOTENV_OPENAI", "from-environment")
	dir := writeFiles(t, map[string]string{
		"tollgate.yaml": dotenvConfig,
		"secrets.env":   "TG_TEST_DOTENV_OPENAI=from-file\n",
	})
	c, err := Load(filepath.Join(dir, "tollgate.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := c.secret("TG_TEST_DOTENV_OPENAI"); v != "from-environment" {
		t.Errorf("secret = %q, want the environment's value", v)
	}
}

func TestEnvFileProblems(t *testing.T) {
	t.Parallel()
	dir := writeFiles(t, map[string]string{
		"missing.yaml": "env_file: nope.env\n" + minimal,
		"bad.yaml":     "env_file: bad.env\n" + minimal,
		"bad.env":      "TG_OK=1\nthis line is sk-not-a-valid-assignment-secret\n",
	})
	for name, want := range map[string]string{
		"missing.yaml": "env_file: cannot read " + filepath.Join(dir, "nope.env") + ": file does not exist",
		"bad.yaml":     "env_file: cannot parse " + filepath.Join(dir, "bad.env") + " as KEY=value lines",
	} {
		c, err := Load(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		ps := c.Validate()
		if len(ps) != 1 || !strings.HasSuffix(ps[0].String(), want) {
			t.Errorf("%s: Validate() = %q, want one problem ending %q", name, problemStrings(ps), want)
		}
		if strings.Contains(ps[0].String(), "sk-not-a-valid") {
			t.Errorf("%s: problem quotes the env file's content: %s", name, ps[0])
		}
	}
}
