package fleettest

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// virtualKey is the secret every test's agents send; the configurations hold its SHA-256.
const virtualKey = "tg-fleettest-agents"

// fleetConfig is what differs between the tests' configuration files. Every gateway of a
// fleet is given the same file contents, with its own ledger path.
type fleetConfig struct {
	// upstream is the emulator's OpenAI base URL.
	upstream string
	// quotas is the YAML list under "quotas:", one "- name: ..." item per rule, without
	// indentation (it is indented here).
	quotas string
	// redis is the body of the "redis:" mapping, without indentation; "" means memory.
	redis string
	// ledgerPath is the gateway's SQLite ledger; "" means ":memory:".
	ledgerPath string
	// postgres, when set, is the URL of the fleet's shared PostgreSQL ledger (instead of
	// ledgerPath), given to the gateways through an env_file next to the configuration.
	postgres string
	// commitInterval is ledger.commit_interval; "" means the default.
	commitInterval string
	// extra is more top-level YAML, written as is.
	extra string
}

// write renders c as a tollgate.yaml in dir and returns its path. Routes: "fleet" is
// gpt-4o alone with clamp_max_tokens, so that the last requests before a budget runs out are
// shortened rather than refused; other models are plain one-step routes.
func (c fleetConfig) write(t testing.TB, dir, name string) string {
	t.Helper()
	sum := sha256.Sum256([]byte(virtualKey))
	ledgerPath := c.ledgerPath
	if ledgerPath == "" {
		ledgerPath = ":memory:"
	}
	ledgerSection := fmt.Sprintf("ledger:\n  path: %q\n", ledgerPath)
	if c.postgres != "" {
		env := filepath.Join(dir, name+".env")
		if err := os.WriteFile(env, []byte("TOLLGATE_LEDGER_URL="+c.postgres+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		ledgerSection = fmt.Sprintf("env_file: %q\nledger:\n  backend: postgres\n  url_env: TOLLGATE_LEDGER_URL\n", env)
	}
	var b strings.Builder
	fmt.Fprintf(&b, `listen: 127.0.0.1:0
timezone: UTC
shutdown_timeout: 20s
upstreams:
  openai:
    base_url: %q
    api_key_env: OPENAI_API_KEY
routes:
  fleet:
    chain: gpt-4o
    clamp_max_tokens: true
keys:
  - id: fleet-agents
    tenant: fleet
    key_sha256: %s
retry:
  max_attempts: 1
%s`, c.upstream, hex.EncodeToString(sum[:]), ledgerSection)
	if c.commitInterval != "" {
		fmt.Fprintf(&b, "  commit_interval: %s\n", c.commitInterval)
	}
	if c.quotas != "" {
		b.WriteString("quotas:\n")
		b.WriteString(indent(c.quotas, "  "))
	}
	if c.redis != "" {
		b.WriteString("redis:\n")
		b.WriteString(indent(c.redis, "  "))
	}
	b.WriteString(c.extra)
	path := filepath.Join(dir, name+".yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func indent(s, prefix string) string {
	var b strings.Builder
	for l := range strings.Lines(strings.TrimSpace(s) + "\n") {
		if strings.TrimSpace(l) != "" {
			b.WriteString(prefix)
		}
		b.WriteString(l)
	}
	return b.String()
}

// startFleet starts n gateways from c, each with its own configuration file and, when
// ledgers is true, its own ledger file in dir. Gateways start one after the other: each
// waits for its "listening" line.
func startFleet(t testing.TB, dir string, n int, c fleetConfig, ledgers bool) []*gateway {
	t.Helper()
	gws := make([]*gateway, n)
	for i := range gws {
		name := fmt.Sprintf("gateway-%d", i+1)
		cc := c
		if ledgers {
			cc.ledgerPath = filepath.Join(dir, name+".db")
		}
		gws[i] = startGateway(t, name, cc.write(t, dir, name))
	}
	return gws
}
