package emulator

import (
	"sync/atomic"

	"github.com/tollgate/tollgate/llm"
)

// Reason says why a request was not served.
type Reason string

// The reasons a request is refused or fails.
const (
	RefusedRPM      Reason = "rpm"       // 429, request limit
	RefusedTPM      Reason = "tpm"       // 429, OpenAI token limit
	RefusedITPM     Reason = "itpm"      // 429, Anthropic input-token limit
	RefusedOTPM     Reason = "otpm"      // 429, Anthropic output-token limit
	RefusedTooLarge Reason = "too_large" // 429, the request exceeds a limit outright
	// RefusedCountTokens is a 429 of Anthropic's count_tokens endpoint (CountTokensRPM).
	RefusedCountTokens   Reason = "count_tokens_rpm"
	RefusedAuth          Reason = "auth"            // 401, missing or unknown key
	RefusedBadRequest    Reason = "bad_request"     // 400, malformed or missing fields
	RefusedNotFound      Reason = "not_found"       // 404, unknown model
	RefusedContextLength Reason = "context_length"  // 400, prompt plus output too long
	RefusedMaxTokens     Reason = "max_tokens"      // 400, max_tokens above the model's cap
	FaultServerError     Reason = "fault_500"       // injected 500
	FaultBadGateway      Reason = "fault_502"       // injected 502
	FaultUnavailable     Reason = "fault_503"       // injected 503
	FaultOverloaded      Reason = "fault_overload"  // injected 529 (OpenAI: 503)
	FaultDrop            Reason = "fault_drop"      // injected dropped connection
	FaultCut             Reason = "fault_cut"       // injected cut mid-body
	FaultErrorEvent      Reason = "fault_error_evt" // injected error event after 200
	FaultHang            Reason = "fault_hang"      // injected hang
	FaultQuota           Reason = "fault_quota"     // injected final quota 429
	FaultStartErrorEvent Reason = "fault_start_evt" // injected error event before any content
	FaultSilent          Reason = "fault_silent"    // injected 200 then silence
	// FaultStall counts injected stalls whose client left during the silence; a stalled
	// answer that completes is served (its Bill names the fault).
	FaultStall Reason = "fault_stall"
)

var reasons = [...]Reason{RefusedRPM, RefusedTPM, RefusedITPM, RefusedOTPM, RefusedTooLarge, RefusedCountTokens,
	RefusedAuth, RefusedBadRequest, RefusedNotFound, RefusedContextLength, RefusedMaxTokens,
	FaultServerError, FaultBadGateway, FaultUnavailable, FaultOverloaded, FaultDrop, FaultCut,
	FaultErrorEvent, FaultHang, FaultQuota, FaultStartErrorEvent, FaultSilent, FaultStall}

type reasonIndex int

// rateLimited reports whether a reason is a refusal by the rate limits of the generation
// endpoints.
func rateLimited(r Reason) bool {
	switch r {
	case RefusedRPM, RefusedTPM, RefusedITPM, RefusedOTPM, RefusedTooLarge:
		return true
	}
	return false
}

func indexOf(r Reason) reasonIndex {
	for i, x := range reasons {
		if x == r {
			return reasonIndex(i)
		}
	}
	panic("emulator: unknown reason " + string(r))
}

// Counts are the counters of one model or of all.
//
// The token counts and the cost are the bill: the sum of every Bill (see Bill), that is of
// the requests served in full and of those that were accepted and ended early. Their
// units follow llm.Usage: InputTokens is every prompt token, including CachedInputTokens
// (read from the prompt cache) and CacheWriteTokens (written to it, of which
// CacheWrite1hTokens with the 1-hour TTL); OutputTokens includes ReasoningTokens.
type Counts struct {
	// Requests counts every request that reached a generation endpoint: chat
	// completions, responses, embeddings, messages.
	Requests int64            `json:"requests"`
	Served   int64            `json:"served"`  // answered in full
	Refused  map[Reason]int64 `json:"refused"` // not served, by reason; absent reasons are zero
	// RateLimited counts the refusals of Requests by the rate limits (429; Groq's 413 for
	// a request larger than a limit): the sum of Refused for rpm, tpm, itpm, otpm and
	// too_large. RateLimited/Requests is the share of calls refused.
	RateLimited int64 `json:"rate_limited"`
	// CountTokens counts the requests to Anthropic's count_tokens endpoint, which are
	// neither billed nor in Requests; its 429s are Refused[count_tokens_rpm].
	CountTokens int64 `json:"count_tokens"`
	// Capacity is the model's rate limits and their use (see Use); nil in Total and for a
	// model that never had limits.
	Capacity           *Capacity `json:"capacity,omitempty"`
	Billed             int64     `json:"billed"` // requests with a bill: served, or accepted and ended early
	InputTokens        int64     `json:"input_tokens"`
	CachedInputTokens  int64     `json:"cached_input_tokens"`
	CacheWriteTokens   int64     `json:"cache_write_tokens"`
	CacheWrite1hTokens int64     `json:"cache_write_1h_tokens"`
	OutputTokens       int64     `json:"output_tokens"`
	ReasoningTokens    int64     `json:"reasoning_tokens"`
	CostMicroUSD       int64     `json:"cost_micro_usd"` // at the model's list price
}

// Stats is a snapshot of an Emulator's counters. Requests naming no known model count in
// Total only. Its JSON is the body of GET /emulator/stats.
type Stats struct {
	Total  Counts            `json:"total"`
	Models map[string]Counts `json:"models"`
}

type counters struct {
	requests, served, billed atomic.Int64
	rateLimited, countTokens atomic.Int64
	in, cached, w, w1h       atomic.Int64
	out, reasoning, costMic  atomic.Int64
	refused                  [len(reasons)]atomic.Int64
}

func (c *counters) snapshot() Counts {
	s := Counts{Requests: c.requests.Load(), Served: c.served.Load(), Billed: c.billed.Load(),
		InputTokens: c.in.Load(), CachedInputTokens: c.cached.Load(), CacheWriteTokens: c.w.Load(),
		CacheWrite1hTokens: c.w1h.Load(), OutputTokens: c.out.Load(), ReasoningTokens: c.reasoning.Load(),
		CostMicroUSD: c.costMic.Load(), Refused: map[Reason]int64{},
		RateLimited: c.rateLimited.Load(), CountTokens: c.countTokens.Load()}
	for i := range c.refused {
		if n := c.refused[i].Load(); n != 0 {
			s.Refused[reasons[i]] = n
		}
	}
	return s
}

// stats holds the counters: atomics, so that recording costs a few uncontended adds. Each
// model's counters live in its *model, created once at New.
type stats struct {
	total counters
}

func (s *stats) request(mc *counters) {
	s.total.requests.Add(1)
	if mc != nil {
		mc.requests.Add(1)
	}
}

func (s *stats) refuse(mc *counters, r Reason) {
	i := indexOf(r)
	limited := rateLimited(r)
	for _, x := range [...]*counters{&s.total, mc} {
		if x == nil {
			continue
		}
		x.refused[i].Add(1)
		if limited {
			x.rateLimited.Add(1)
		}
	}
}

// bill adds a bill to the counters; served says the request was answered in full.
func (s *stats) bill(mc *counters, u *llm.Usage, cost int64, served bool) {
	for _, x := range [...]*counters{&s.total, mc} {
		if served {
			x.served.Add(1)
		}
		x.billed.Add(1)
		x.in.Add(u.InputTokens)
		if u.CachedInputTokens != 0 {
			x.cached.Add(u.CachedInputTokens)
		}
		if u.CacheWriteTokens != 0 {
			x.w.Add(u.CacheWriteTokens)
			x.w1h.Add(u.CacheWrite1hTokens)
		}
		x.out.Add(u.OutputTokens)
		if u.ReasoningTokens != 0 {
			x.reasoning.Add(u.ReasoningTokens)
		}
		x.costMic.Add(cost)
	}
}

func (s *stats) snapshot(models map[string]*model, capacity map[string]*Capacity) Stats {
	st := Stats{Total: s.total.snapshot(), Models: map[string]Counts{}}
	for id, m := range models {
		if m.ctr.requests.Load() != 0 || m.ctr.countTokens.Load() != 0 {
			c := m.ctr.snapshot()
			c.Capacity = capacity[id]
			st.Models[id] = c
		}
	}
	return st
}
