package config

import (
	"cmp"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/tollgate/tollgate/keys"
)

// Admin configures the admin listener (package admin, docs/admin.md): the API that
// creates and revokes virtual keys and raises budgets at run time, the live dashboard and,
// by default, GET /metrics. Exactly one of KeySHA256 and KeyEnv gives the admin token;
// without the section there is no admin listener.
type Admin struct {
	// Listen is the admin listener's address; "" means DefaultAdminListen (loopback).
	Listen string `yaml:"listen"`
	// KeySHA256 is the hex SHA-256 of the admin token.
	KeySHA256 string `yaml:"key_sha256"`
	// KeyEnv names the environment variable holding the admin token, hashed at load.
	KeyEnv string `yaml:"key_env"`
	// MetricsKeySHA256 and MetricsKeyEnv give, at most one of them, a second token that
	// reads GET /metrics and nothing else, for Prometheus. Unset means only the admin
	// token reads /metrics.
	MetricsKeySHA256 string `yaml:"metrics_key_sha256"`
	MetricsKeyEnv    string `yaml:"metrics_key_env"`
	// KeysRefresh is how often this replica reads the ledger for keys and budget
	// overrides changed by other replicas; 0 means keys.DefaultRefresh (5s). It applies
	// with or without the admin listener: other replicas may have one.
	KeysRefresh Duration `yaml:"keys_refresh"`
}

// MetricsSection says where GET /metrics is served.
type MetricsSection struct {
	// Listener is MetricsOnAdmin ("admin", the default), MetricsOnGateway ("gateway") or
	// MetricsOnBoth ("both").
	Listener string `yaml:"listener"`
}

// Where GET /metrics is served (metrics.listener).
const (
	// MetricsOnAdmin serves it on the admin listener, behind the admin or metrics token:
	// the metrics name tenants and their spend. Without an admin section it is served
	// nowhere (serve logs so).
	MetricsOnAdmin = "admin"
	// MetricsOnGateway serves it on the gateway's listener without a token, as tollgate
	// did before the admin listener: for a transition, on a network agents cannot reach.
	MetricsOnGateway = "gateway"
	// MetricsOnBoth serves it on both, while scrapers move to the admin listener.
	MetricsOnBoth = "both"
)

// DefaultAdminListen is the admin listener's address when admin.listen is empty:
// loopback only, to be reached through SSH, a private network or a reverse proxy.
const DefaultAdminListen = "127.0.0.1:9091"

// AdminListen returns the admin listener's address, "" when there is no admin section.
func (c *Config) AdminListen() string {
	if c.Admin == nil {
		return ""
	}
	return cmp.Or(c.Admin.Listen, DefaultAdminListen)
}

// AdminToken returns the admin token when admin.key_env names its variable and the
// variable is set (in the environment or env_file), for tools that call the admin API
// (tollgate status). A token given as key_sha256 cannot be read back.
func (c *Config) AdminToken() (string, bool) {
	if c.Admin == nil || c.Admin.KeyEnv == "" {
		return "", false
	}
	return c.secret(c.Admin.KeyEnv)
}

// MetricsListener returns where GET /metrics is served: MetricsOnAdmin, MetricsOnGateway
// or MetricsOnBoth.
func (c *Config) MetricsListener() string { return cmp.Or(c.Metrics.Listener, MetricsOnAdmin) }

// keysRefresh is the key registry's polling interval.
func (c *Config) keysRefresh() time.Duration {
	if c.Admin != nil && c.Admin.KeysRefresh > 0 {
		return c.Admin.KeysRefresh.D()
	}
	return keys.DefaultRefresh
}

// checkListen reports a problem at path unless addr is host:port.
func (v *validator) checkListen(path, addr, example string) {
	host, port, err := net.SplitHostPort(addr)
	if n, perr := strconv.Atoi(port); err != nil || perr != nil || n < 0 || n > 65535 {
		v.problem(path, "want host:port such as %s, got %q", example, addr)
	} else if strings.ContainsAny(host, " /") {
		v.problem(path, "invalid host %q", host)
	}
}

// parseHash reads a key_sha256 value: 64 hex digits.
func parseHash(s string) ([32]byte, bool) {
	b, err := hex.DecodeString(strings.TrimSpace(s))
	if err != nil || len(b) != 32 {
		return [32]byte{}, false
	}
	return [32]byte(b), true
}

func (v *validator) admin() {
	c := v.c
	switch l := c.Metrics.Listener; l {
	case "", MetricsOnAdmin, MetricsOnGateway, MetricsOnBoth:
		if c.Admin == nil && (l == MetricsOnAdmin || l == MetricsOnBoth) {
			v.problem("metrics.listener", "%s needs the admin listener: add an admin section with its key", l)
		}
	default:
		v.problem("metrics.listener", "unknown listener %q: want admin (the default), gateway or both", l)
	}
	a := c.Admin
	if a == nil {
		return
	}
	if a.Listen != "" {
		v.checkListen("admin.listen", a.Listen, DefaultAdminListen)
	}
	// Port 0 picks a free port for each: the same string is then two addresses.
	if gw := cmp.Or(c.Listen, DefaultListen); c.AdminListen() == gw && !strings.HasSuffix(gw, ":0") {
		v.problem("admin.listen", "is the gateway's address (listen): the admin listener needs one of its own")
	}
	admin := v.token("admin", "key", a.KeySHA256, a.KeyEnv, true)
	metricsKey := v.token("admin", "metrics_key", a.MetricsKeySHA256, a.MetricsKeyEnv, false)
	if admin != nil && metricsKey != nil && *admin == *metricsKey ||
		a.KeyEnv != "" && a.KeyEnv == a.MetricsKeyEnv {
		v.problem("admin.metrics_key_sha256", "is the admin token's: give Prometheus a token of its own")
	}
	switch {
	case a.KeysRefresh < 0:
		v.problem("admin.keys_refresh", "must not be negative, got %v", a.KeysRefresh.D())
	case a.KeysRefresh > 0 && a.KeysRefresh.D() < 10*time.Millisecond:
		v.problem("admin.keys_refresh", "want at least 10ms (each refresh reads the ledger), got %v", a.KeysRefresh.D())
	}
}

// token checks a pair NAME_sha256 / NAME_env of section and returns the hash when it is
// given as a valid key_sha256.
func (v *validator) token(section, name, sha, env string, required bool) *[32]byte {
	p := section + "." + name
	switch {
	case sha != "" && env != "":
		v.problem(section, "set one of %s_sha256 and %s_env, not both", name, name)
	case sha == "" && env == "":
		if required {
			v.problem(section, "the admin token is missing: set %s_sha256 (hex SHA-256 of the token) or %s_env (the variable holding it); "+
				"an admin listener without a token would be open to anyone who reaches it", name, name)
		}
	case sha != "":
		h, ok := parseHash(sha)
		if !ok {
			v.problem(p+"_sha256", "want 64 hex digits (printf %%s TOKEN | sha256sum); a token itself belongs in %s_env's variable", name)
			return nil
		}
		return &h
	case !validEnvName(env):
		v.problem(p+"_env", "%q is not an environment variable name", redactName(env))
	}
	return nil
}

// adminHashes returns the SHA-256 of the admin token and of the metrics token (zero when
// there is none), from key_sha256 or from the variable key_env names. It fails with an
// error wrapping ErrMissingSecret when a variable is unset.
func (c *Config) adminHashes() (admin, metrics [32]byte, err error) {
	a := c.Admin
	if a == nil {
		return admin, metrics, errors.New("config: no admin section")
	}
	get := func(sha, env, path string) ([32]byte, error) {
		switch {
		case sha != "":
			h, _ := parseHash(sha) // Validate checked it
			return h, nil
		case env != "":
			s, ok := c.secret(env)
			if !ok {
				return [32]byte{}, fmt.Errorf("%w: environment variable %s (%s) not set", ErrMissingSecret, env, path)
			}
			return keys.HashSecret(s), nil
		}
		return [32]byte{}, nil
	}
	if admin, err = get(a.KeySHA256, a.KeyEnv, "admin.key_env"); err != nil {
		return admin, metrics, err
	}
	if metrics, err = get(a.MetricsKeySHA256, a.MetricsKeyEnv, "admin.metrics_key_env"); err != nil {
		return admin, metrics, err
	}
	if metrics == admin {
		return admin, metrics, errors.New("config: admin.metrics_key_env holds the admin token: give Prometheus a token of its own")
	}
	return admin, metrics, nil
}

// staticKeys returns the configuration's virtual keys as the key registry takes them,
// hashing the secrets of key_env. It fails when two keys have the same secret.
func (c *Config) staticKeys(r *resolved) ([]keys.Key, error) {
	out := make([]keys.Key, len(c.Keys))
	seen := map[[32]byte]int{}
	for i, k := range c.Keys {
		h, ok := r.hashes[i]
		if !ok {
			secret, set := c.secret(k.KeyEnv)
			if !set {
				return nil, fmt.Errorf("%w: environment variable %s (keys[%d].key_env) not set", ErrMissingSecret, k.KeyEnv, i)
			}
			h = keys.HashSecret(secret)
		}
		if j, dup := seen[h]; dup {
			return nil, fmt.Errorf("config: keys[%d] (%s) and keys[%d] (%s) have the same secret: secrets must be unique",
				j, c.Keys[j].ID, i, k.ID)
		}
		seen[h] = i
		out[i] = keys.Key{ID: k.ID, Tenant: k.Tenant, Hash: h, AllowedModels: append([]string(nil), k.AllowedModels...),
			MaxPriority: k.MaxPriority, RequireSession: k.RequireSession}
	}
	return out, nil
}
