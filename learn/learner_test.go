package learn_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/tollgate/tollgate/learn"
	"github.com/tollgate/tollgate/llm"
	"github.com/tollgate/tollgate/quota"
)

var t0 = time.Date(2026, 11, 27, 14, 0, 0, 0, time.UTC)

func hdr(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i < len(kv); i += 2 {
		h.Add(kv[i], kv[i+1])
	}
	return h
}

var openaiUp = learn.Upstream{Provider: "openai", Account: learn.AccountID("sk-test"), Format: llm.OpenAI}

func newLearner(t *testing.T, cfg learn.Config, up learn.Upstream) *learn.Learner {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	set, err := learn.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return set.Learner(up, "gpt-4o-mini")
}

// granted counts the reservations of one request each that the store grants at now.
func granted(t *testing.T, s *quota.MemoryStore, qs []quota.Quota, now time.Time, amount quota.Amount) int {
	t.Helper()
	n := 0
	for ; n < 10_000; n++ {
		if _, _, err := s.ReserveAt(now, &quota.Request{Quotas: qs, Amount: amount}, nil); err != nil {
			if !errors.Is(err, quota.ErrExceeded) {
				t.Fatal(err)
			}
			return n
		}
	}
	return n
}

func TestQuotas(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		format llm.Format
		units  []quota.Unit
	}{
		{llm.OpenAI, []quota.Unit{quota.Requests, quota.Tokens}},
		{llm.Anthropic, []quota.Unit{quota.Requests, quota.InputTokens, quota.OutputTokens, quota.Tokens}},
	} {
		up := learn.Upstream{Provider: "p", Account: "a", Format: c.format}
		qs := newLearner(t, learn.Config{}, up).Quotas(nil)
		if len(qs) != len(c.units) {
			t.Fatalf("%s: %d quotas, want %d", c.format, len(qs), len(c.units))
		}
		for i, q := range qs {
			if err := q.Validate(); err != nil {
				t.Errorf("%s: quota %d: %v", c.format, i, err)
			}
			if q.Unit != c.units[i] || q.Live == nil || q.Window != quota.PerMinute() || q.Limit != quota.Unlimited {
				t.Errorf("%s: quota %d = %+v, want a live per-minute rate of %s", c.format, i, q, c.units[i])
			}
			if want := c.format == llm.OpenAI && q.Unit == quota.Tokens; q.OutputAtCap != want {
				t.Errorf("%s: quota %d: OutputAtCap = %v, want %v", c.format, i, q.OutputAtCap, want)
			}
			if q.Name != "learned-"+q.Unit.String() || !strings.Contains(q.Key, "account=a|model=gpt-4o-mini|") {
				t.Errorf("%s: quota key %q does not name the account and model", c.format, q.Key)
			}
		}
	}
}

// TestHeaders: the limit headers set the quotas' limits, and the remaining counts leave
// the quotas exactly the provider's room.
func TestHeaders(t *testing.T) {
	t.Parallel()
	l := newLearner(t, learn.Config{}, openaiUp)
	qs := l.Quotas(nil)
	resp := &llm.Response{Header: hdr(
		"x-ratelimit-limit-requests", "500", "x-ratelimit-remaining-requests", "3", "x-ratelimit-reset-requests", "59.64s",
		"x-ratelimit-limit-tokens", "200000", "x-ratelimit-remaining-tokens", "150000", "x-ratelimit-reset-tokens", "15s")}
	l.Observe(t0, learn.OutcomeOf(t0.Add(-time.Second), quota.Amount{Requests: 1, InputTokens: 10, OutputTokens: 100}, resp, nil))
	for i, want := range []int64{500, 200000} {
		if got, _ := qs[i].Live.Limit(); got != want {
			t.Errorf("quota %s: limit %d, want %d", qs[i].Unit, got, want)
		}
	}
	s := quota.NewMemoryStore(quota.MemoryConfig{})
	if n := granted(t, s, qs, t0, quota.Amount{Requests: 1, InputTokens: 10, OutputTokens: 100}); n != 3 {
		t.Errorf("the store granted %d requests, want the 3 the provider said remain", n)
	}
	st := l.Status()
	if len(st) != 2 || st[0].Source != learn.SourceHeaders || st[0].Stated != 500 || st[0].Remaining != 3 {
		t.Errorf("Status() = %+v, want requests stated 500 by headers with 3 remaining", st)
	}
}

// TestRefusal: a 429 empties the quota and its retry-after keeps it shut; its message
// states the limit; a daily limit teaches nothing about the per-minute one.
func TestRefusal(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name      string
		err       *llm.Error
		wantLimit int64
		wantSrc   learn.Source
		wantShut  time.Duration // how long the quota lets nothing through
	}{
		{"message states the limit", &llm.Error{Kind: llm.KindRateLimited, Status: 429, RetryAfter: 20 * time.Second,
			Message: "Rate limit reached for gpt-4o-mini in organization org-Qx7 on requests per min (RPM): Limit 3, Used 3, Requested 1. Please try again in 20s. Visit https://platform.openai.com/account/rate-limits to learn more.",
			Header:  hdr("retry-after", "20")}, 3, learn.SourceMessage, 20 * time.Second},
		{"headers on the 429", &llm.Error{Kind: llm.KindRateLimited, Status: 429,
			Header: hdr("x-ratelimit-limit-requests", "60", "x-ratelimit-remaining-requests", "0", "x-ratelimit-reset-requests", "1s")},
			60, learn.SourceHeaders, time.Second},
		{"daily limit", &llm.Error{Kind: llm.KindRateLimited, Status: 429, RetryAfter: 7 * time.Minute,
			Message: "Rate limit reached for gpt-4o-mini in organization org-Qx7 on requests per day (RPD): Limit 200, Used 200, Requested 1. Please try again in 7m12s."},
			0, learn.SourceNone, 0},
		{"quota exhausted is no rate limit", &llm.Error{Kind: llm.KindQuotaExhausted, Status: 429,
			Message: "You exceeded your current quota, please check your plan and billing details."}, 0, learn.SourceNone, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			l := newLearner(t, learn.Config{}, openaiUp)
			qs := l.Quotas(nil)
			l.Observe(t0, learn.OutcomeOf(t0, quota.Amount{Requests: 1, InputTokens: 10, OutputTokens: 10}, nil, c.err))
			got, _ := qs[0].Live.Limit()
			if c.wantLimit == 0 && got != quota.Unlimited || c.wantLimit != 0 && got != c.wantLimit {
				t.Errorf("requests limit %d, want %d (0: none)", got, c.wantLimit)
			}
			var src learn.Source
			if st := l.Status(); len(st) > 0 {
				src = st[0].Source
			}
			if src != c.wantSrc {
				t.Errorf("source %v, want %v", src, c.wantSrc)
			}
			if c.wantShut == 0 {
				return
			}
			s := quota.NewMemoryStore(quota.MemoryConfig{})
			one := quota.Amount{Requests: 1}
			if n := granted(t, s, qs, t0.Add(c.wantShut-time.Millisecond), one); n != 0 {
				t.Errorf("granted %d just before the wait ends, want 0", n)
			}
			if n := granted(t, s, qs, t0.Add(c.wantShut+time.Second), one); n == 0 {
				t.Errorf("granted nothing once the wait is over")
			}
		})
	}
}

func TestOutcomeOf(t *testing.T) {
	t.Parallel()
	reserved := quota.Amount{Requests: 1, InputTokens: 100, OutputTokens: 256}
	h := hdr("x-ratelimit-limit-requests", "60")
	resp := &llm.Response{Header: h, Usage: llm.Usage{InputTokens: 98, OutputTokens: 40}}
	if o := learn.OutcomeOf(t0, reserved, resp, nil); o.Refused || o.Used != (quota.Amount{Requests: 1, InputTokens: 98, OutputTokens: 40}) || o.Header == nil {
		t.Errorf("answer: %+v", o)
	}
	err := &llm.Error{Kind: llm.KindRateLimited, Message: "m", RetryAfter: time.Second, Header: h}
	if o := learn.OutcomeOf(t0, reserved, nil, err); !o.Refused || o.Message != "m" || o.RetryAfter != time.Second || o.Header == nil || o.Used != (quota.Amount{}) {
		t.Errorf("429: %+v", o)
	}
	for _, k := range []llm.Kind{llm.KindServer, llm.KindQuotaExhausted, llm.KindTooLarge} {
		if o := learn.OutcomeOf(t0, reserved, nil, &llm.Error{Kind: k, Header: h}); o.Refused || o.Header == nil {
			t.Errorf("%v: %+v, want not refused, headers kept", k, o)
		}
	}
	if o := learn.OutcomeOf(t0, reserved, nil, context.Canceled); o.Refused || o.Header != nil {
		t.Errorf("cancelled: %+v", o)
	}
}

// TestLogsMoves: one line when a limit is learned and when it moves more than 10%.
func TestLogsMoves(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	l := newLearner(t, learn.Config{Logger: slog.New(slog.NewJSONHandler(&buf, nil))}, openaiUp)
	for i, n := range []string{"100", "105", "109", "111", "60"} {
		l.Observe(t0.Add(time.Duration(i)*time.Second), learn.Outcome{Sent: t0, Header: hdr("x-ratelimit-limit-requests", n)})
	}
	var lines []map[string]any
	for _, ln := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(ln), &m); err != nil {
			t.Fatalf("log line %q: %v", ln, err)
		}
		lines = append(lines, m)
	}
	want := [][2]float64{{0, 100}, {100, 111}, {111, 60}}
	if len(lines) != len(want) {
		t.Fatalf("%d log lines, want %d:\n%s", len(lines), len(want), buf.String())
	}
	for i, w := range want {
		m := lines[i]
		if m["msg"] != "learned limit moved" || m["from"] != w[0] || m["to"] != w[1] || m["unit"] != "requests" ||
			m["source"] != "headers" || m["model"] != "gpt-4o-mini" || m["provider"] != "openai" {
			t.Errorf("line %d = %v, want a move from %v to %v", i, m, w[0], w[1])
		}
	}
}

func TestAccountID(t *testing.T) {
	t.Parallel()
	a, b := learn.AccountID("sk-proj-abc123"), learn.AccountID("sk-proj-abc124")
	if len(a) != 12 || a == b || a != learn.AccountID("sk-proj-abc123") || strings.Contains(a, "abc") {
		t.Errorf("AccountID = %q, %q: want 12 stable hex digits that tell keys apart and hide them", a, b)
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		cfg   learn.Config
		field string
	}{
		{learn.Config{Period: -1}, "Period"},
		{learn.Config{Interval: -1}, "Interval"},
		{learn.Config{Increase: 1.5}, "Increase"},
		{learn.Config{MaxIncrease: -0.1}, "MaxIncrease"},
		{learn.Config{Decrease: 1}, "Decrease"},
		{learn.Config{Margin: 1}, "Margin"},
		{learn.Config{Hold: -time.Second}, "Hold"},
	} {
		err := c.cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), "Config."+c.field) {
			t.Errorf("Validate(%+v) = %v, want an error naming %s", c.cfg, err, c.field)
		}
		if _, err := learn.New(c.cfg); err == nil {
			t.Errorf("New(%+v) succeeded", c.cfg)
		}
	}
	if err := (&learn.Config{}).Validate(); err != nil {
		t.Errorf("zero Config: %v", err)
	}
}

func TestWriteTable(t *testing.T) {
	t.Parallel()
	set, err := learn.New(learn.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	a := set.Learner(learn.Upstream{Provider: "openai", Account: "3f2a9c01d4e5", Format: llm.OpenAI}, "gpt-4o-mini")
	a.Observe(t0, learn.Outcome{Sent: t0, Header: hdr("x-ratelimit-limit-requests", "500", "x-ratelimit-remaining-requests", "499")})
	b := set.Learner(learn.Upstream{Provider: "anthropic", Account: "77aa01bc22de", Format: llm.Anthropic}, "claude-sonnet-4-5")
	b.Observe(t0, learn.Outcome{Sent: t0, Reserved: quota.Amount{Requests: 1, InputTokens: 900, OutputTokens: 1024}, Refused: true,
		Message: "This request would exceed the rate limit for your organization (x) of 8,000 output tokens per minute."})
	var buf bytes.Buffer
	if err := learn.WriteTable(&buf, set.Status()); err != nil {
		t.Fatal(err)
	}
	want := `PROVIDER   ACCOUNT       MODEL              UNIT           LIMIT/MIN  SOURCE   STATED  REMAINING  429s  DOWN  UP
anthropic  77aa01bc22de  claude-sonnet-4-5  output_tokens  8000       message  8000    -          1     0     0
openai     3f2a9c01d4e5  gpt-4o-mini        requests       500        headers  500     499        0     0     0
`
	if got := buf.String(); got != want {
		t.Errorf("WriteTable:\n%s\nwant:\n%s", got, want)
	}
}

func TestCollector(t *testing.T) {
	t.Parallel()
	set, err := learn.New(learn.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	l := set.Learner(learn.Upstream{Provider: "openai", Account: "3f2a9c01d4e5", Format: llm.OpenAI}, "gpt-4o-mini")
	l.Observe(t0, learn.Outcome{Sent: t0, Header: hdr("x-ratelimit-limit-requests", "500", "x-ratelimit-remaining-requests", "0")})
	l.Observe(t0.Add(time.Second), learn.Outcome{Sent: t0.Add(time.Second), Reserved: quota.Amount{Requests: 1}, Refused: true,
		Message: "Rate limit reached for gpt-4o-mini in organization org-Qx7 on requests per min (RPM): Limit 500, Used 500, Requested 1."})
	want := `# HELP tollgate_learned_limit The limit per minute learned for an upstream account, model and unit, and where it comes from (headers, message, refusals).
# TYPE tollgate_learned_limit gauge
tollgate_learned_limit{account="3f2a9c01d4e5",model="gpt-4o-mini",provider="openai",source="headers",unit="requests"} 500
# HELP tollgate_learned_limit_changes_total Moves of a learned limit: down on a refusal, up when it binds and nothing is refused.
# TYPE tollgate_learned_limit_changes_total counter
tollgate_learned_limit_changes_total{account="3f2a9c01d4e5",direction="down",model="gpt-4o-mini",provider="openai",unit="requests"} 0
tollgate_learned_limit_changes_total{account="3f2a9c01d4e5",direction="up",model="gpt-4o-mini",provider="openai",unit="requests"} 0
# HELP tollgate_learned_limit_refusals_total Upstream rate-limit refusals (429) met by an upstream account, model and unit, as this replica saw them.
# TYPE tollgate_learned_limit_refusals_total counter
tollgate_learned_limit_refusals_total{account="3f2a9c01d4e5",model="gpt-4o-mini",provider="openai",unit="requests"} 1
`
	if err := testutil.CollectAndCompare(learn.NewCollector(set), strings.NewReader(want)); err != nil {
		t.Error(err)
	}
}
