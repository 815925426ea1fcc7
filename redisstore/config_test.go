package redisstore

import (
	"strings"
	"testing"
	"time"
)

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		cfg   Config
		field string // "" when valid
	}{
		{"zero value", Config{}, ""},
		{"brace in group", Config{SlotGroup: "a{b"}, "SlotGroup"},
		{"negative timeout", Config{Timeout: -time.Second}, "Timeout"},
		{"sub-millisecond TTL", Config{TTL: time.Microsecond}, "TTL"},
		{"negative lease", Config{LeaseTTL: -1}, "LeaseTTL"},
		{"negative idle", Config{IdleTTL: -1}, "IdleTTL"},
		{"bad policy", Config{Policy: 9}, "Policy"},
		{"negative replicas", Config{Replicas: -2}, "Replicas"},
		{"negative probe", Config{ProbeInterval: -1}, "ProbeInterval"},
		{"negative outbox", Config{Outbox: -1}, "Outbox"},
		{"negative rebuild timeout", Config{RebuildTimeout: -time.Second}, "RebuildTimeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.field == "" {
				if err != nil {
					t.Errorf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), "Config."+tt.field) {
				t.Errorf("Validate() = %v, want an error naming Config.%s", err, tt.field)
			}
		})
	}
}

func TestParsePolicy(t *testing.T) {
	t.Parallel()
	for _, p := range []Policy{FailClosed, FailOpenLocal} {
		got, err := ParsePolicy(p.String())
		if err != nil || got != p {
			t.Errorf("ParsePolicy(%q) = %v, %v; want %v", p.String(), got, err, p)
		}
	}
	if _, err := ParsePolicy("fail_open"); err == nil {
		t.Error("ParsePolicy(fail_open) succeeded, want an error")
	}
}

func TestDefaults(t *testing.T) {
	t.Parallel()
	c := Config{}.withDefaults()
	if c.SlotGroup != "tg" || c.Timeout != 50*time.Millisecond || c.TTL != 10*time.Minute ||
		c.LeaseTTL != time.Minute || c.Replicas != 1 || c.ProbeInterval != 200*time.Millisecond || c.Outbox != 65536 ||
		c.RebuildTimeout != 30*time.Second || c.Source != nil {
		t.Errorf("defaults = %+v", c)
	}
	if c := (Config{TTL: time.Second}).withDefaults(); c.LeaseTTL != time.Second {
		t.Errorf("LeaseTTL with TTL 1s = %v, want capped at 1s", c.LeaseTTL)
	}
}
