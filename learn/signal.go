package learn

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/tollgate/tollgate/quota"
	"github.com/tollgate/tollgate/retry"
)

// Dim is one dimension a provider limits per period.
type Dim uint8

// The dimensions. OpenAI limits Requests and Tokens (prompt plus max_tokens, counted when
// it admits a call); Anthropic limits Requests, InputTokens and OutputTokens, and reports
// Tokens as a summary.
const (
	Requests Dim = iota
	Tokens
	InputTokens
	OutputTokens
	numDims
)

var dimNames = [numDims]string{"requests", "tokens", "input_tokens", "output_tokens"}

var dimUnits = [numDims]quota.Unit{quota.Requests, quota.Tokens, quota.InputTokens, quota.OutputTokens}

func (d Dim) String() string {
	if d < numDims {
		return dimNames[d]
	}
	return "dim(" + strconv.Itoa(int(d)) + ")"
}

// Unit returns the quota unit that counts d.
func (d Dim) Unit() quota.Unit { return dimUnits[d] }

// meter is one dimension's state as an answer's headers report it.
type meter struct {
	limit, remaining int64
	reset            time.Duration
	hasLimit, hasRem bool
	hasReset         bool
}

// headerNames are, per dimension, the limit, remaining and reset headers of each provider
// (canonical keys, as net/http stores them).
var headerNames = [...]struct {
	dim                     Dim
	limit, remaining, reset string
}{
	{Requests, "X-Ratelimit-Limit-Requests", "X-Ratelimit-Remaining-Requests", "X-Ratelimit-Reset-Requests"},
	{Tokens, "X-Ratelimit-Limit-Tokens", "X-Ratelimit-Remaining-Tokens", "X-Ratelimit-Reset-Tokens"},
	{Requests, "Anthropic-Ratelimit-Requests-Limit", "Anthropic-Ratelimit-Requests-Remaining", "Anthropic-Ratelimit-Requests-Reset"},
	{InputTokens, "Anthropic-Ratelimit-Input-Tokens-Limit", "Anthropic-Ratelimit-Input-Tokens-Remaining", "Anthropic-Ratelimit-Input-Tokens-Reset"},
	{OutputTokens, "Anthropic-Ratelimit-Output-Tokens-Limit", "Anthropic-Ratelimit-Output-Tokens-Remaining", "Anthropic-Ratelimit-Output-Tokens-Reset"},
	{Tokens, "Anthropic-Ratelimit-Tokens-Limit", "Anthropic-Ratelimit-Tokens-Remaining", "Anthropic-Ratelimit-Tokens-Reset"},
}

// readMeters reads the rate-limit headers of one answer. Anthropic's tokens-* headers
// summarise the most restrictive token limit in force; they count as a Tokens limit only
// when the answer has no input-tokens or output-tokens headers, as from an account whose
// limits are not split. Values that are missing, negative or unparsable are skipped.
func readMeters(h http.Header, now time.Time) (ms [numDims]meter, any bool) {
	if len(h) == 0 {
		return ms, false
	}
	split := false
	for _, n := range headerNames {
		m := &ms[n.dim]
		if n.dim == Tokens && strings.HasPrefix(n.limit, "Anthropic") && split {
			continue
		}
		got := false
		if v, ok := count(h, n.limit); ok && v > 0 {
			m.limit, m.hasLimit, got = v, true, true
		}
		if v, ok := count(h, n.remaining); ok {
			m.remaining, m.hasRem, got = v, true, true
		}
		if v := first(h, n.reset); v != "" {
			if d, ok := retry.ParseReset(v, now); ok {
				m.reset, m.hasReset, got = d, true, true
			}
		}
		if got && (n.dim == InputTokens || n.dim == OutputTokens) {
			split = true
		}
		any = any || got
	}
	return ms, any
}

func first(h http.Header, key string) string {
	if v := h[key]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// count parses a non-negative integer header value.
func count(h http.Header, key string) (int64, bool) {
	v := strings.TrimSpace(first(h, key))
	if v == "" {
		return 0, false
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, false
	}
	return n, true
}

// stated is what a refusal's message says of the limit that refused it.
type stated struct {
	dim    Dim
	hasDim bool
	perDay bool  // a daily limit: not the per-minute rate this package learns
	limit  int64 // 0 when the message gives no number
}

// readMessage reads a 429's message in the shapes the providers and their proxies send:
//
//	OpenAI, Groq: "Rate limit reached for gpt-4o in organization org-… on tokens per min
//	(TPM): Limit 30000, Used 29950, Requested 780. Please try again in 1.46s."; older
//	"… on requests per min. Limit: 3 / min. …"; daily: "… on requests per day (RPD): Limit
//	200, …"
//	Anthropic: "This request would exceed the rate limit for your organization (…) of
//	50,000 input tokens per minute. …"; older "Number of request tokens has exceeded your
//	per-minute rate limit" ("requests", "output tokens")
//	Azure OpenAI: "… have exceeded token rate limit of your current OpenAI S0 pricing
//	tier. …" ("call rate limit" for requests), with no number.
func readMessage(msg string) stated {
	var s stated
	if msg == "" {
		return s
	}
	m := strings.ToLower(msg)
	s.perDay = strings.Contains(m, "per day") || strings.Contains(m, "(rpd)") || strings.Contains(m, "(tpd)")
	has := func(subs ...string) bool {
		for _, sub := range subs {
			if strings.Contains(m, sub) {
				return true
			}
		}
		return false
	}
	switch {
	case has("output tokens"):
		s.dim, s.hasDim = OutputTokens, true
	case has("input tokens", "request tokens"):
		// Anthropic's "Number of request tokens has exceeded your per-minute rate limit"
		// is its input limit.
		s.dim, s.hasDim = InputTokens, true
	case has("tokens per", "token rate limit", "(tpm)", "(tpd)"):
		s.dim, s.hasDim = Tokens, true
	case has("requests per", "number of requests", "call rate limit", "request rate limit", "(rpm)", "(rpd)"):
		s.dim, s.hasDim = Requests, true
	}
	s.limit = afterLimit(m)
	if s.limit == 0 {
		s.limit = ofCount(m)
	}
	return s
}

// afterLimit returns the number after the first "limit" that one follows ("Limit 30000",
// "Limit: 3 / min"), or 0.
func afterLimit(m string) int64 {
	for i := 0; ; {
		j := strings.Index(m[i:], "limit")
		if j < 0 {
			return 0
		}
		i += j + len("limit")
		rest := strings.TrimLeft(m[i:], ": ")
		if n, ok := leadingCount(rest); ok {
			return n
		}
	}
}

// ofCount returns N in Anthropic's "of N input tokens per minute", or 0.
func ofCount(m string) int64 {
	for i := 0; ; {
		j := strings.Index(m[i:], " of ")
		if j < 0 {
			return 0
		}
		i += j + len(" of ")
		n, ok := leadingCount(m[i:])
		if !ok {
			continue
		}
		rest := strings.TrimLeft(strings.TrimLeft(m[i:], "0123456789,"), " ")
		for _, w := range [...]string{"requests", "tokens", "input tokens", "output tokens"} {
			if strings.HasPrefix(rest, w) {
				return n
			}
		}
	}
}

// leadingCount parses the digits (with thousands commas) that s starts with.
func leadingCount(s string) (int64, bool) {
	var n int64
	digits := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			if n > (1<<62)/10 {
				return 0, false
			}
			n = n*10 + int64(c-'0')
			digits++
		case c == ',' && digits > 0 && i+1 < len(s) && s[i+1] >= '0' && s[i+1] <= '9':
		default:
			return n, digits > 0 && n > 0
		}
	}
	return n, digits > 0 && n > 0
}
