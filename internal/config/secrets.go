package config

import (
	"cmp"
	"fmt"
	"math"
	"os"
	"slices"
	"strings"

	"github.com/joho/godotenv"

	"github.com/tollgate/tollgate/ledger"
)

// Secret is an environment variable that the configuration takes a secret from. It never
// holds the value.
type Secret struct {
	// Env is the variable's name.
	Env string
	// Paths are the fields that name it, such as "upstreams.openai.api_key_env".
	Paths []string
	// Set reports whether the variable has a non-empty value (environment or EnvFile).
	Set bool
}

// Secrets lists the secret variables the configuration names, in order of first mention,
// each once, with whether it is set. It is what `config check` prints; values are never
// read into the result.
func (c *Config) Secrets() []Secret {
	var out []Secret
	add := func(env, path string) {
		if env == "" {
			return
		}
		if i := slices.IndexFunc(out, func(s Secret) bool { return s.Env == env }); i >= 0 {
			out[i].Paths = append(out[i].Paths, path)
			return
		}
		_, ok := c.secret(env)
		out = append(out, Secret{Env: env, Paths: []string{path}, Set: ok})
	}
	for _, name := range c.inFileOrder("upstreams", sortedKeys(c.Upstreams)) {
		add(c.Upstreams[name].APIKeyEnv, "upstreams."+name+".api_key_env")
	}
	for i, k := range c.Keys {
		add(k.KeyEnv, fmt.Sprintf("keys[%d].key_env", i))
	}
	if c.Redis != nil {
		add(c.Redis.PasswordEnv, "redis.password_env")
	}
	if c.Admin != nil {
		add(c.Admin.KeyEnv, "admin.key_env")
		add(c.Admin.MetricsKeyEnv, "admin.metrics_key_env")
	}
	if b, err := ledger.ParseBackend(c.Ledger.Backend); err == nil && b == ledger.Postgres {
		add(c.Ledger.URLEnv, "ledger.url_env")
	}
	return out
}

// secret returns the non-empty value of the environment variable name: from LookupEnv if
// set, else the process environment, else EnvFile. An empty value counts as missing.
func (c *Config) secret(name string) (string, bool) {
	if c.LookupEnv != nil {
		v, ok := c.LookupEnv(name)
		return v, ok && v != ""
	}
	if v, ok := os.LookupEnv(name); ok && v != "" {
		return v, true
	}
	v, ok := c.dotenv[name]
	return v, ok && v != ""
}

// readEnvFile reads a .env file with godotenv, without touching the process environment:
// the values stay in the Config, so that two Configs (or tests) cannot disturb each other.
func readEnvFile(path string) (map[string]string, error) {
	m, err := godotenv.Read(path)
	if err != nil {
		// godotenv's parse errors quote the offending line, which may hold a secret: keep
		// only the kind of failure.
		if os.IsNotExist(err) {
			return nil, fmt.Errorf("cannot read %s: file does not exist", path)
		}
		if _, statErr := os.Stat(path); statErr != nil {
			return nil, fmt.Errorf("cannot read %s: %v", path, statErr)
		}
		return nil, fmt.Errorf("cannot parse %s as KEY=value lines", path)
	}
	return m, nil
}

// validEnvName accepts the portable names of environment variables: letters, digits and
// '_', not starting with a digit.
func validEnvName(s string) bool {
	if s == "" || (s[0] >= '0' && s[0] <= '9') {
		return false
	}
	return strings.IndexFunc(s, func(r rune) bool {
		return !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9')
	}) < 0
}

// inFileOrder orders the names of the mapping at path as the file lists them; names the
// file does not place (a Config built in code) keep their order, after the others.
func (c *Config) inFileOrder(path string, names []string) []string {
	line := func(name string) int {
		if e, ok := c.idx.byPathOK(path + "." + name); ok && e.key != nil {
			return e.key.Line
		}
		return math.MaxInt
	}
	slices.SortStableFunc(names, func(a, b string) int { return cmp.Compare(line(a), line(b)) })
	return names
}
