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
	Time            time.Time `json:"time"`           // when the request arrived, by Config.Now, in UTC
}

// UncachedInputTokens is the input billed at the full input price: neither read from nor
// written to a prompt cache (Anthropic's input_tokens).
func (b *Bill) UncachedInputTokens() int64 {
	return b.Usage.InputTokens - b.Usage.CachedInputTokens - b.Usage.CacheWriteTokens
}

// CacheWrite5mTokens is the input written to the prompt cache with the 5-minute TTL
// (Anthropic's cache_creation.ephemeral_5m_input_tokens).
func (b *Bill) CacheWrite5mTokens() int64 {
	return b.Usage.CacheWriteTokens - b.Usage.CacheWrite1hTokens
}

// billBook keeps the most recent bills in a ring of pointer-free records, their strings in
// a ring of bytes beside it, so that however many it keeps, the garbage collector has
// nothing in them to scan: the emulator often shares its process with what it measures.
type billBook struct {
	mu      sync.Mutex
	recs    []billRecord // a ring: head is the oldest of n
	head, n int
	size    int
	arena   []byte // a ring of the records' strings
	wpos    uint64 // bytes ever written to the arena
	dropped uint64 // bills pushed out of the ring
}

// billRecord is a Bill without pointers.
type billRecord struct {
	seq       uint64
	time      int64  // Unix nanoseconds
	start     uint64 // arena position of the strings
	lens      [4]uint16
	usage     llm.Usage
	cost      int64
	anthropic bool
	stream    bool
	end       uint8
	fault     fault
}

// arenaPerBill is the arena's room per bill kept, for its request id, client request id,
// key and model: enough for all but very long keys, which push the oldest bills out early.
const arenaPerBill = 192

var ends = [...]End{EndComplete, EndClientGone, EndCut, EndErrorEvent}

func endIndex(e End) uint8 {
	for i, x := range ends {
		if x == e {
			return uint8(i)
		}
	}
	return 0
}

// add keeps the bill of a call: r without its strings, which go to the arena.
func (b *billBook) add(c *call, r billRecord) {
	strs := [4]string{c.reqIDString, c.clientID, c.key, c.req.model}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.recs == nil {
		b.recs = make([]billRecord, b.size)
		b.arena = make([]byte, b.size*arenaPerBill)
	}
	r.start = b.wpos
	total := 0
	for _, s := range strs {
		total += len(s)
	}
	for i, s := range strs {
		n := min(len(s), 1<<16-1)
		if total > len(b.arena) {
			n = min(n, len(b.arena)/len(strs)) // only with a tiny BillSize and huge strings
		}
		r.lens[i] = uint16(n)
	}
	total = 0
	for _, n := range r.lens {
		total += int(n)
	}
	// Push out the oldest bills whose strings the new ones would overwrite, and the
	// oldest when the ring is full.
	for b.n > 0 && (b.n == b.size || b.wpos+uint64(total)-b.recs[b.head].start > uint64(len(b.arena))) {
		b.head = (b.head + 1) % b.size
		b.n--
		b.dropped++
	}
	for i, s := range strs {
		b.put(s[:r.lens[i]])
	}
	b.recs[(b.head+b.n)%b.size] = r
	b.n++
}

// put appends s to the arena, wrapping around.
func (b *billBook) put(s string) {
	for len(s) > 0 {
		i := int(b.wpos % uint64(len(b.arena)))
		k := copy(b.arena[i:], s)
		s = s[k:]
		b.wpos += uint64(k)
	}
}

// get reads n bytes of the arena from position pos.
func (b *billBook) get(pos uint64, n int) string {
	out := make([]byte, n)
	for k := 0; k < n; {
		i := int((pos + uint64(k)) % uint64(len(b.arena)))
		k += copy(out[k:], b.arena[i:])
	}
	return string(out)
}

func (b *billBook) bill(r *billRecord) Bill {
	var strs [4]string
	pos := r.start
	for i, n := range r.lens {
		strs[i] = b.get(pos, int(n))
		pos += uint64(n)
	}
	x := Bill{Seq: r.seq, RequestID: strs[0], ClientRequestID: strs[1], Key: strs[2], Model: strs[3],
		Provider: "openai", Stream: r.stream, End: ends[r.end], Usage: r.usage, CostMicroUSD: r.cost,
		Time: time.Unix(0, r.time).UTC()}
	if r.anthropic {
		x.Provider = "anthropic"
	}
	if r.fault != noFault {
		x.Fault = r.fault.name()
	}
	return x
}

// list returns the bills, oldest first, that match keep (nil keeps all).
func (b *billBook) list(keep func(*Bill) bool) (out []Bill, dropped uint64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	out = make([]Bill, 0, b.n)
	for i := range b.n {
		x := b.bill(&b.recs[(b.head+i)%b.size])
		if keep == nil || keep(&x) {
			out = append(out, x)
		}
	}
	return out, b.dropped
}

// Bills returns the bills kept (at most Config.BillSize, the most recent; fewer when keys
// or client request ids are very long), oldest first.
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
	c.e.bills.add(c, billRecord{seq: c.seq, time: c.now.UnixNano(), usage: u, cost: cost,
		anthropic: c.m.provider == "anthropic", stream: c.req.stream, end: endIndex(end), fault: c.fault})
}
