package emulator

import (
	"encoding/json"
	"net/http"
	"sync"
	"time"

	"github.com/tollgate/tollgate/llm"
)

// End says how a billed request ended.
type End string

// The ways a billed request ends.
const (
	// EndComplete: the whole answer went out (whatever its finish reason).
	EndComplete End = "complete"
	// EndClientGone: the client left. A stream is billed its input and the output
	// generated before the client left (generation stops with it); a non-streamed answer
	// is generated whole once its first token is out, and billed in full; before that,
	// input only.
	EndClientGone End = "client_gone"
	// EndCut: the emulator dropped the connection after the 200 (fault cut, or a silent
	// answer that reached HangMax): input plus the output sent before.
	EndCut End = "cut"
	// EndErrorEvent: the stream ended with an error event (faults error_event and
	// start_error_event): input plus the output sent before.
	EndErrorEvent End = "error_event"
)

// Bill is what the emulator charges one request: what the provider would bill. Only
// requests accepted for generation have one; a refusal (4xx, 429, 5xx before the 200, a
// dropped or hung connection) costs nothing.
//
// Usage follows llm.Usage: InputTokens is every prompt token, of which CachedInputTokens
// were read from the prompt cache and CacheWriteTokens written to it (CacheWrite1hTokens of
// them with the 1-hour TTL); OutputTokens is every generated token over all choices,
// reasoning (OpenAI) and thinking (Anthropic) included, of which ReasoningTokens. So the
// provider's own figures are, for OpenAI, prompt_tokens = InputTokens, cached_tokens =
// CachedInputTokens, completion_tokens = OutputTokens; for Anthropic, input_tokens =
// InputTokens - CachedInputTokens - CacheWriteTokens, cache_read_input_tokens =
// CachedInputTokens, cache_creation_input_tokens = CacheWriteTokens, output_tokens =
// OutputTokens.
type Bill struct {
	Seq       uint64 `json:"seq"`        // arrival order, from 1
	RequestID string `json:"request_id"` // the x-request-id / request-id the emulator sent
	// ClientRequestID is the caller's X-Client-Request-Id header, "" when it sent none.
	ClientRequestID string    `json:"client_request_id,omitempty"`
	Key             string    `json:"key"`      // the API key
	Provider        string    `json:"provider"` // "openai" or "anthropic"
	Model           string    `json:"model"`    // as the request named it
	Stream          bool      `json:"stream"`
	End             End       `json:"end"`
	Fault           string    `json:"fault,omitempty"` // the X-Emulator-Fault name of an injected fault
	Usage           llm.Usage `json:"usage"`
	CostMicroUSD    int64     `json:"cost_micro_usd"` // at the model's list price
	Time            time.Time `json:"time"`           // when the request arrived, by Config.Now
}

// billBook keeps the most recent bills in a ring.
type billBook struct {
	mu      sync.Mutex
	ring    []Bill
	next    int // where the next bill goes once the ring is full
	size    int
	dropped uint64 // bills pushed out of the ring
}

func (b *billBook) add(x *Bill) {
	if b.size <= 0 {
		return
	}
	b.mu.Lock()
	if len(b.ring) < b.size {
		b.ring = append(b.ring, *x)
	} else {
		b.ring[b.next] = *x
		b.next = (b.next + 1) % b.size
		b.dropped++
	}
	b.mu.Unlock()
}

// list returns the bills, oldest first, that match keep (nil keeps all).
func (b *billBook) list(keep func(*Bill) bool) (out []Bill, dropped uint64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	out = make([]Bill, 0, len(b.ring))
	for i := range b.ring {
		x := &b.ring[(b.next+i)%len(b.ring)]
		if keep == nil || keep(x) {
			out = append(out, *x)
		}
	}
	return out, b.dropped
}

// Bills returns the bills kept (at most Config.BillSize, the most recent), oldest first.
// It is safe to call at any time; a request still in flight has no bill yet.
func (e *Emulator) Bills() []Bill {
	out, _ := e.bills.list(nil)
	return out
}

// BillsFor returns the kept bills of the requests that sent X-Client-Request-Id id, oldest
// first: usually one, more when a caller reused the id (retries).
func (e *Emulator) BillsFor(id string) []Bill {
	out, _ := e.bills.list(func(b *Bill) bool { return b.ClientRequestID == id })
	return out
}

// billResponse is the body of GET /emulator/bill.
type billResponse struct {
	Bills []Bill `json:"bills"`
	// Dropped counts the bills pushed out by Config.BillSize; Stats still counts them.
	Dropped uint64 `json:"dropped"`
}

// serveBill serves GET /emulator/bill: the kept bills, oldest first, filtered by the query
// parameters client_request_id, request_id, key and model when given.
func (e *Emulator) serveBill(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	client, reqID, key, model := q.Get("client_request_id"), q.Get("request_id"), q.Get("key"), q.Get("model")
	bills, dropped := e.bills.list(func(b *Bill) bool {
		return (client == "" || b.ClientRequestID == client) && (reqID == "" || b.RequestID == reqID) &&
			(key == "" || b.Key == key) && (model == "" || b.Model == model)
	})
	writeJSON(w, billResponse{Bills: bills, Dropped: dropped})
}

// serveStats serves GET /emulator/stats: Stats as JSON.
func (e *Emulator) serveStats(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, e.Stats())
}

func writeJSON(w http.ResponseWriter, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	setHeader(w.Header(), "Content-Type", "application/json")
	_, _ = w.Write(append(b, '\n'))
}

// bill charges the request its usage, once: to Stats and to the bills kept. reasoning is
// included in out.
func (c *call) bill(end End, out, reasoning int) {
	if c.billed {
		return
	}
	c.billed = true
	u := c.usage
	u.OutputTokens, u.ReasoningTokens = int64(out), int64(reasoning)
	cost := c.m.cost(&u)
	c.e.stats.bill(&c.m.ctr, &u, cost, end == EndComplete)
	if c.e.bills.size <= 0 {
		return
	}
	b := Bill{Seq: c.seq, RequestID: c.reqIDString, ClientRequestID: c.clientID, Key: c.key,
		Provider: c.m.provider, Model: c.req.model, Stream: c.req.stream, End: end, Usage: u,
		CostMicroUSD: cost, Time: c.now}
	if c.fault != noFault {
		b.Fault = c.fault.name()
	}
	c.e.bills.add(&b)
}
