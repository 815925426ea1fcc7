package emulator

import "sync/atomic"

// Reason says why a request was not served.
type Reason string

// The reasons a request is refused or fails.
const (
	RefusedRPM           Reason = "rpm"             // 429, request limit
	RefusedTPM           Reason = "tpm"             // 429, OpenAI token limit
	RefusedITPM          Reason = "itpm"            // 429, Anthropic input-token limit
	RefusedOTPM          Reason = "otpm"            // 429, Anthropic output-token limit
	RefusedTooLarge      Reason = "too_large"       // 429, the request exceeds a limit outright
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
)

var reasons = [...]Reason{RefusedRPM, RefusedTPM, RefusedITPM, RefusedOTPM, RefusedTooLarge,
	RefusedAuth, RefusedBadRequest, RefusedNotFound, RefusedContextLength, RefusedMaxTokens,
	FaultServerError, FaultBadGateway, FaultUnavailable, FaultOverloaded, FaultDrop, FaultCut,
	FaultErrorEvent, FaultHang, FaultQuota}

type reasonIndex int

func indexOf(r Reason) reasonIndex {
	for i, x := range reasons {
		if x == r {
			return reasonIndex(i)
		}
	}
	panic("emulator: unknown reason " + string(r))
}

// Counts are the counters of one model or of all.
type Counts struct {
	Requests          int64            // every request that reached a chat or messages endpoint
	Served            int64            // answered in full
	Refused           map[Reason]int64 // not served, by reason; absent reasons are zero
	InputTokens       int64            // of served requests
	CachedInputTokens int64
	OutputTokens      int64
	CostMicroUSD      int64 // at the model's list price
}

// Stats is a snapshot of an Emulator's counters. Requests naming no known model count in
// Total only.
type Stats struct {
	Total  Counts
	Models map[string]Counts
}

type counters struct {
	requests, served         atomic.Int64
	in, cached, out, costMic atomic.Int64
	refused                  [len(reasons)]atomic.Int64
}

func (c *counters) snapshot() Counts {
	s := Counts{Requests: c.requests.Load(), Served: c.served.Load(), InputTokens: c.in.Load(),
		CachedInputTokens: c.cached.Load(), OutputTokens: c.out.Load(), CostMicroUSD: c.costMic.Load(),
		Refused: map[Reason]int64{}}
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
	s.total.refused[i].Add(1)
	if mc != nil {
		mc.refused[i].Add(1)
	}
}

func (s *stats) serve(mc *counters, m *model, in, cached, out int64) {
	c := m.cost(in, cached, out)
	for _, x := range [...]*counters{&s.total, mc} {
		x.served.Add(1)
		x.in.Add(in)
		x.cached.Add(cached)
		x.out.Add(out)
		x.costMic.Add(c)
	}
}

func (s *stats) snapshot(models map[string]*model) Stats {
	st := Stats{Total: s.total.snapshot(), Models: map[string]Counts{}}
	for id, m := range models {
		if m.ctr.requests.Load() != 0 {
			st.Models[id] = m.ctr.snapshot()
		}
	}
	return st
}
