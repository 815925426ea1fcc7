package config

import (
	"fmt"
	"reflect"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Reloaded says what a Reload changed in the running parts and what waits for a restart.
type Reloaded struct {
	// Applied names what was swapped: "keys", "access_log", "budget_status", "admin
	// tokens" (each whether or not its value changed).
	Applied []string
	// Restart lists the changes the running parts cannot take, as field paths
	// ("quotas", "admin.listen", "upstreams.openai.api_key_env (its value)"): what differs
	// between the new file and the configuration the process was built from. They take
	// effect at the next start.
	Restart []string
}

// reloadable are the top-level fields a Reload applies (admin: its tokens; its other
// fields are compared one by one).
var reloadable = []string{"keys", "access_log", "budget_status", "admin", "env_file"}

// Reload applies next, a new version of the configuration file, to the running parts,
// without dropping a request: the virtual keys of the file (keys created at run time are
// kept), the access log's sampling and refusal interval, the status of budget refusals
// and the admin listener's tokens. Requests in flight finish with what they started
// with. Everything else is reported in Reloaded.Restart when it changed.
//
// Nothing is changed when next is not valid: Reload then returns its Problems (every
// one, with its position), or an error wrapping ErrMissingSecret when a secret it needs
// is unset. It is safe for concurrent use with serving; reloads are serialized.
func (b *Built) Reload(next *Config) (Reloaded, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out Reloaded
	r := next.resolve()
	if len(r.problems) > 0 {
		return out, Problems(r.problems)
	}
	// Everything is checked before anything is swapped.
	static, err := next.staticKeys(r)
	if err != nil {
		return out, err
	}
	settings := next.gatewaySettings()
	if err := settings.Validate(); err != nil {
		return out, fmt.Errorf("config: %w", err)
	}
	swapAdmin := b.admin != nil && next.Admin != nil
	var adminKey, metricsKey [32]byte
	if swapAdmin {
		if adminKey, metricsKey, err = next.adminHashes(); err != nil {
			return out, err
		}
	}

	if err := b.Keys.SetStatic(static); err != nil {
		return out, fmt.Errorf("config: keys: %w", err)
	}
	out.Applied = append(out.Applied, "keys")
	if err := b.Server.Update(settings); err != nil {
		return out, fmt.Errorf("config: %w", err)
	}
	out.Applied = append(out.Applied, "access_log", "budget_status")
	if swapAdmin {
		if err := b.setAdminKeys(adminKey, metricsKey); err != nil {
			return out, err
		}
		out.Applied = append(out.Applied, "admin tokens")
	}
	out.Restart = restartNeeded(b.cfg, next)
	return out, nil
}

// restartNeeded lists what differs between the configuration the parts were built from
// and next, outside what Reload applies.
func restartNeeded(old, next *Config) []string {
	var out []string
	ov, nv := reflect.ValueOf(old).Elem(), reflect.ValueOf(next).Elem()
	t := ov.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "" || name == "-" || !f.IsExported() || slices.Contains(reloadable, name) {
			continue
		}
		if !sameYAML(ov.Field(i).Interface(), nv.Field(i).Interface()) {
			out = append(out, name)
		}
	}
	switch {
	case (old.Admin == nil) != (next.Admin == nil):
		out = append(out, "admin")
	case old.Admin != nil:
		if old.AdminListen() != next.AdminListen() {
			out = append(out, "admin.listen")
		}
		if old.keysRefresh() != next.keysRefresh() {
			out = append(out, "admin.keys_refresh")
		}
	}
	// The secrets of the parts built once: their variables may change value without the
	// file changing (env_file, or the environment of a restarted process's parent).
	for _, s := range old.Secrets() {
		for _, p := range s.Paths {
			if strings.HasPrefix(p, "keys[") || strings.HasPrefix(p, "admin.") {
				continue
			}
			ov, _ := old.secret(s.Env)
			nv, _ := next.secret(nextEnv(next, p))
			if ov != nv {
				out = append(out, p+" (its value)")
			}
		}
	}
	return out
}

// nextEnv is the variable that next names at path; "" when next no
// longer names one there.
func nextEnv(next *Config, path string) string {
	for _, s := range next.Secrets() {
		if slices.Contains(s.Paths, path) {
			return s.Env
		}
	}
	return ""
}

// sameYAML reports whether a and b encode to the same YAML: configuration values are
// compared as the file states them (a yaml.Node by its content, not its position).
func sameYAML(a, b any) bool {
	ya, errA := yaml.Marshal(a)
	yb, errB := yaml.Marshal(b)
	return errA == nil && errB == nil && string(ya) == string(yb)
}
