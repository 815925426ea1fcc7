package gateway

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tollgate/tollgate/quota"
)

func TestQuotaHeaders(t *testing.T) {
	now := time.Date(2026, 11, 27, 18, 0, 0, 0, time.UTC)
	midnight := time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC)
	sts := []quota.Status{
		{Quota: &quota.Quota{Name: "key-rpm", Unit: quota.Requests, Limit: 60, Window: quota.PerMinute()},
			Used: 3, Remaining: 57, ResetAt: now.Add(3 * time.Second)},
		{Quota: &quota.Quota{Name: "model-rpm", Unit: quota.Requests, Limit: 500, Window: quota.PerMinute()},
			Used: 480, Remaining: 20, ResetAt: now.Add(58 * time.Second)},
		{Quota: &quota.Quota{Name: "key-tpm", Unit: quota.Tokens, Limit: 30000, Burst: 40000, Window: quota.PerMinute()},
			Used: 1500, Remaining: 38500, ResetAt: now.Add(2500 * time.Millisecond)},
		{Quota: &quota.Quota{Name: "tenant-usd", Unit: quota.MicroUSD, Limit: 5_000_000, Window: quota.Daily(nil)},
			Used: 800_000, Remaining: 4_200_000, ResetAt: midnight},
		{Quota: &quota.Quota{Name: "session-usd", Unit: quota.MicroUSD, Limit: 1_000_000, Window: quota.Forever()},
			Used: 580_000, Remaining: 420_000},
		{Quota: &quota.Quota{Name: "agents", Unit: quota.Concurrent, Limit: 10, Window: quota.Leased()},
			Used: 1, Remaining: 9},
	}
	h := http.Header{}
	setQuotaHeaders(h, sts, now)
	want := http.Header{
		"X-Ratelimit-Limit-Requests":     {"500"},
		"X-Ratelimit-Remaining-Requests": {"20"},
		"X-Ratelimit-Reset-Requests":     {"58s"},
		"X-Ratelimit-Limit-Tokens":       {"40000"},
		"X-Ratelimit-Remaining-Tokens":   {"38500"},
		"X-Ratelimit-Reset-Tokens":       {"2.5s"},
		"Ratelimit-Policy": {`"key-rpm";q=60;w=60;qu="requests", "model-rpm";q=500;w=60;qu="requests", ` +
			`"key-tpm";q=40000;w=60;qu="tokens", "tenant-usd";q=5000000;w=86400;qu="usd", "session-usd";q=1000000;qu="usd"`},
		"Ratelimit":                   {`"key-rpm";r=57;t=3, "model-rpm";r=20;t=58, "key-tpm";r=38500;t=3, "tenant-usd";r=4200000;t=21600, "session-usd";r=420000`},
		"X-Tollgate-Budget-Remaining": {`0.42 usd; quota="session-usd"; limit=1.00`},
	}
	if diff := cmp.Diff(want, h); diff != "" {
		t.Errorf("headers (-want +got):\n%s", diff)
	}
}

func TestBudgetValue(t *testing.T) {
	reset := time.Date(2026, 11, 28, 0, 0, 0, 0, time.FixedZone("CET", 3600))
	tests := []struct {
		name string
		st   quota.Status
		want string
	}{
		{"usd daily", quota.Status{Quota: &quota.Quota{Name: "daily", Unit: quota.MicroUSD, Limit: 50_000_000},
			Remaining: 1_234_567, ResetAt: reset}, `1.234567 usd; quota="daily"; limit=50.00; reset=2026-11-27T23:00:00Z`},
		{"tokens lifetime", quota.Status{Quota: &quota.Quota{Name: "run tokens", Unit: quota.Tokens, Limit: 2000},
			Remaining: 0}, `0 tokens; quota="run tokens"; limit=2000`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := budgetValue(&tt.st); got != tt.want {
				t.Errorf("budgetValue = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestAppendAmount(t *testing.T) {
	tests := []struct {
		u    quota.Unit
		n    int64
		want string
	}{
		{quota.MicroUSD, 420_000, "0.42"},
		{quota.MicroUSD, 1_234_567, "1.234567"},
		{quota.MicroUSD, 50_000_000, "50.00"},
		{quota.MicroUSD, 1, "0.000001"},
		{quota.MicroUSD, 0, "0.00"},
		{quota.MicroUSD, 1_500_000, "1.50"},
		{quota.MicroUSD, -2_000_010, "-2.00001"},
		{quota.Tokens, 2000, "2000"},
	}
	for _, tt := range tests {
		got := string(appendAmount(nil, tt.u, tt.n))
		// The quota package's own rendering, less its dollar sign, is the reference.
		if want := strings.Replace(tt.u.Format(tt.n), "$", "", 1); got != tt.want || got != want {
			t.Errorf("appendAmount(%v, %d) = %q, want %q (quota: %q)", tt.u, tt.n, got, tt.want, want)
		}
	}
}

// BenchmarkQuotaHeaders renders the headers of an answer under five quotas.
func BenchmarkQuotaHeaders(b *testing.B) {
	now := time.Date(2026, 11, 27, 18, 0, 0, 0, time.UTC)
	sts := []quota.Status{
		{Quota: &quota.Quota{Name: "rpm", Unit: quota.Requests, Limit: 500, Window: quota.PerMinute()}, Remaining: 20, ResetAt: now.Add(58 * time.Second)},
		{Quota: &quota.Quota{Name: "tpm", Unit: quota.Tokens, Limit: 30000, Window: quota.PerMinute()}, Remaining: 28500, ResetAt: now.Add(2500 * time.Millisecond)},
		{Quota: &quota.Quota{Name: "concurrency", Unit: quota.Concurrent, Limit: 10, Window: quota.Leased()}, Remaining: 9},
		{Quota: &quota.Quota{Name: "session-usd", Unit: quota.MicroUSD, Limit: 1_000_000, Window: quota.Forever()}, Remaining: 420_000},
		{Quota: &quota.Quota{Name: "daily-usd", Unit: quota.MicroUSD, Limit: 50_000_000, Window: quota.Daily(nil)}, Remaining: 42_000_000, ResetAt: now.Add(6 * time.Hour)},
	}
	b.ReportAllocs()
	for b.Loop() {
		setQuotaHeaders(http.Header{}, sts, now)
	}
}

// TestAppendQuoted: the fast path quotes as strconv.Quote does.
func TestAppendQuoted(t *testing.T) {
	for _, s := range []string{"", "rpm", "daily-usd", "a b", `say "hi"`, `back\slash`, "tab\there", "ünïcode", "\x7f", "~"} {
		if got, want := string(appendQuoted([]byte("x"), s)), "x"+strconv.Quote(s); got != want {
			t.Errorf("appendQuoted(%q) = %s, want %s", s, got, want)
		}
	}
}
