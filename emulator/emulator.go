// Package emulator is a fake OpenAI and Anthropic API for tests, demos and benchmarks: the
// real endpoints, response shapes, streaming transcripts, rate-limit headers and error
// bodies, with rate limits, latency and faults that a Config sets, and no network or keys.
//
// It serves POST /v1/chat/completions, POST /v1/responses (the Responses API, with stored
// conversations for previous_response_id), POST /v1/embeddings and GET /v1/models[/{id}]
// as OpenAI does, and POST /v1/messages, POST /v1/messages/count_tokens and GET
// /v1/models[/{id}] (with Anthropic's headers) as Anthropic does. The official Go SDKs
// parse everything it sends. Every random choice derives from Config.Seed and the order in
// which requests arrive, so a run is repeatable.
//
// Its rate limits (Limits) can move while it runs (SetLimits, PUT
// /emulator/limits/{model}), hide their headers from successes, 429s or both, and report
// in Stats how much of their capacity requests used and how many were refused: what a
// client that learns a provider's limits is measured against.
//
// A request may force one fault with the header X-Emulator-Fault naming it (for example
// "overloaded", "quota", "cut", "error_event"; see FaultNames), whatever the configured
// rates.
//
// # What it generates
//
// Answers are words of a fixed vocabulary, one token each under CountTokens, the
// emulator's tokenizer, which it applies alike to prompts and answers; their lengths are
// drawn from Config.Output and capped by max_tokens. Beyond text it generates what the
// real APIs do, each counted in output tokens:
//
//   - OpenAI n: n choices, each its own answer capped by max_tokens or
//     max_completion_tokens; usage sums them; streams interleave the choices' chunks.
//   - OpenAI reasoning models (Model.Reasoning): hidden reasoning tokens, before the
//     answer, reported in completion_tokens_details.reasoning_tokens and counted in
//     completion_tokens and against max_completion_tokens.
//   - Anthropic extended thinking ("thinking"): a thinking block with its signature
//     (thinking_delta, signature_delta when streamed), counted in output_tokens.
//   - Tool calls when a request has tools, by tool_choice: auto draws between text and
//     calls, required (Anthropic "any") and a named tool always call, none never does;
//     arguments are JSON generated from the tool's JSON schema. Anthropic adds its
//     documented tool-use system prompt to the input.
//   - Prompt caching (Config.PromptCache): OpenAI's automatic prefix cache, Anthropic's
//     cache_control breakpoints, reported as the providers report them.
//   - Structured output (Responses API text.format): JSON that the schema accepts.
//   - Embeddings: unit vectors that depend on the seed, the model and the input alone.
//   - Images count in prompts by their size, as each provider counts them.
//
// # What it bills
//
// Every request accepted for generation gets a Bill, the emulator's own record of what
// the provider would charge, exposed by Bills, BillsFor, Stats and the HTTP endpoints GET
// /emulator/bill and GET /emulator/stats. A completed answer is billed the usage it
// reports. A stream that ends early (the client left, the emulator cut it or sent an
// error event) is billed its input and the output generated before the end: generation
// stops when the client leaves. A non-streamed answer is generated whole once its first
// token is out, so a client that leaves after that is billed in full, and one that leaves
// before it only the input. Refusals cost nothing.
package emulator

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"sync/atomic"
	"time"

	"github.com/tollgate/tollgate/llm"
)

// Emulator is the fake provider. It is safe for concurrent use; its Handler serves any
// number of requests at once.
type Emulator struct {
	cfg Config
	now func() time.Time
	log *slog.Logger
	org string
	// orgHeader is shared by every response: net/http never modifies header values.
	orgHeader []string
	keys      map[string]bool
	models    map[string]*model
	ids       []string // model ids, sorted, for /v1/models
	corpus    *corpus
	seq       atomic.Uint64
	limits    limiter
	stats     stats
	bills     billBook
	cache     promptCache
	responses responseStore
	mux       *http.ServeMux
}

// New returns an Emulator for cfg, or the error of cfg.Validate.
func New(cfg Config) (*Emulator, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	e := &Emulator{cfg: cfg, now: cfg.Now, log: cfg.Logger, org: cfg.Organization}
	if e.now == nil {
		e.now = time.Now
	}
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	if e.org == "" {
		e.org = "org-emulator"
	}
	e.orgHeader = []string{e.org}
	if len(cfg.Keys) > 0 {
		e.keys = make(map[string]bool, len(cfg.Keys))
		for _, k := range cfg.Keys {
			e.keys[k] = true
		}
	}
	if e.cfg.Output.MinTokens == 0 && e.cfg.Output.MaxTokens == 0 {
		e.cfg.Output = Output{MinTokens: 20, MaxTokens: 200}
	} else if e.cfg.Output.MaxTokens == 0 {
		e.cfg.Output.MaxTokens = max(200, e.cfg.Output.MinTokens)
	}
	e.models = resolveModels(&cfg)
	for id := range e.models {
		e.ids = append(e.ids, id)
	}
	slices.Sort(e.ids)
	e.corpus = newCorpus(cfg.Seed, maxAnswer+1)
	e.mux = http.NewServeMux()
	e.mux.HandleFunc("POST /v1/chat/completions", e.openAIChat)
	e.mux.HandleFunc("POST /v1/responses", e.openAIResponses)
	e.mux.HandleFunc("POST /v1/embeddings", e.openAIEmbeddings)
	e.mux.HandleFunc("POST /v1/messages", e.anthropicMessages)
	e.mux.HandleFunc("POST /v1/messages/count_tokens", e.anthropicCountTokens)
	e.mux.HandleFunc("GET /v1/models", e.listModels)
	e.mux.HandleFunc("GET /v1/models/{id...}", e.getModel)
	e.mux.HandleFunc("GET /emulator/stats", e.serveStats)
	e.mux.HandleFunc("GET /emulator/bill", e.serveBill)
	e.mux.HandleFunc("GET /emulator/limits/{model...}", e.serveLimits)
	e.mux.HandleFunc("PUT /emulator/limits/{model...}", e.putLimits)
	e.bills.size = cfg.BillSize
	if e.bills.size == 0 {
		e.bills.size = DefaultBillSize
	}
	e.responses.size = cfg.StoredResponses
	if e.responses.size == 0 {
		e.responses.size = DefaultStoredResponses
	}
	e.cache.max = cfg.PromptCache.MaxEntries
	if e.cache.max == 0 {
		e.cache.max = defaultCacheEntries
	}
	return e, nil
}

// Handler returns the HTTP handler serving the provider endpoints and the emulator's own:
// GET /emulator/stats (Stats as JSON) and GET /emulator/bill (the bills kept, see Bill),
// outside /v1 so that no provider path collides with them.
func (e *Emulator) Handler() http.Handler { return e.mux }

// ServeHTTP serves one request; an Emulator is itself an http.Handler.
func (e *Emulator) ServeHTTP(w http.ResponseWriter, r *http.Request) { e.mux.ServeHTTP(w, r) }

// Stats returns a snapshot of the counters, the bill's totals among them. It is cheap and
// safe to call at any time.
func (e *Emulator) Stats() Stats {
	return e.stats.snapshot(e.models, e.limits.capacity(e.now()))
}

// apiError is a refusal, rendered in the wire format of the API called.
type apiError struct {
	status  int
	typ     string // OpenAI error.type, Anthropic error.type
	code    string // OpenAI error.code; "" renders null
	param   string // OpenAI error.param; "" renders null
	message string
	reason  Reason
}

// call is the state of one request as it goes through the emulator.
type call struct {
	e           *Emulator
	rng         rng
	seq         uint64
	reqID       []byte
	reqIDString string
	clientID    string // X-Client-Request-Id
	key         string
	m           *model
	req         request
	body        []byte
	now         time.Time
	lim         *Limits     // the model's limits when the request arrived
	limits      *limitState // nil when the model has no limits
	dec         decision
	fault       fault

	// windowCap caps the output at the rest of the context window, for servers that size
	// answers to it (dialect.promptOnly); 0 for none.
	windowCap int
	// usage is the input side of the bill, set when the request is accepted.
	usage         llm.Usage
	reasoningDone int // hidden reasoning generated so far, over all choices
	billed        bool
	countTokens   bool // a request to Anthropic's count_tokens endpoint
}

var errTooLarge = errors.New("request body too large")

const maxBody = 32 << 20

func readBody(r *http.Request) ([]byte, error) {
	n := r.ContentLength
	if n > maxBody {
		return nil, errTooLarge
	}
	if n < 0 {
		n = 512
	}
	buf := make([]byte, 0, n+1) // +1 so that ReadAll sees EOF without growing
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		k, err := r.Body.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+k]
		if len(buf) > maxBody {
			return nil, errTooLarge
		}
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read body: %w", err)
		}
	}
}

// begin numbers a request to a generation endpoint, counts it and seeds its generator.
func (e *Emulator) begin(r *http.Request, prefix string, n int) call {
	c := e.start(r, prefix, n)
	e.stats.total.requests.Add(1)
	return c
}

// start numbers a request and seeds its generator.
func (e *Emulator) start(r *http.Request, prefix string, n int) call {
	seq := e.seq.Add(1)
	c := call{e: e, rng: newRNG(e.cfg.Seed, seq), seq: seq, now: e.now()}
	c.reqID = append(make([]byte, 0, len(prefix)+n), prefix...)
	c.reqID = c.rng.appendID(c.reqID, n)
	c.reqIDString = string(c.reqID)
	if v := r.Header["X-Client-Request-Id"]; len(v) > 0 {
		c.clientID = v[0]
	}
	return c
}

// resolve finds the model and counts the request against it.
func (c *call) resolve(provider string) bool {
	m := c.e.lookup(c.req.model)
	if m == nil || m.provider != provider {
		return false
	}
	c.m = m
	m.ctr.requests.Add(1)
	return true
}

func (c *call) refuse(r Reason) {
	if c.countTokens && r != RefusedCountTokens {
		return // count_tokens requests are not Requests: only their 429s are counted
	}
	var mc *counters
	if c.m != nil {
		mc = &c.m.ctr
	}
	c.e.stats.refuse(mc, r)
	c.e.log.Debug("emulator: refused", "reason", string(r), "model", c.req.model, "request_id", string(c.reqID))
}

// admit applies the rate limits.
func (c *call) admit(k cost) {
	c.lim = c.m.limits.Load()
	if c.lim.zero() {
		return
	}
	c.limits = c.e.limits.state(c.key, c.m, false, c.now)
	c.dec = c.limits.admit(c.now, k)
}

// settle charges (positive) or refunds (negative) tokens once they are known.
func (c *call) settle(k cost) {
	if c.limits != nil {
		c.limits.settle(c.e.now(), k)
	}
}

// text returns n words of the corpus at a random offset.
func (c *call) text(n int) string {
	start := c.rng.intn(len(c.e.corpus.starts) - n)
	return c.e.corpus.words(start, n)
}

// pause waits d, or until the client goes away; it reports whether the client is still
// there. Timers are the runtime's, so a testing/synctest bubble controls them.
func pause(r *http.Request, d time.Duration) bool {
	if d <= 0 {
		return r.Context().Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
		return false
	}
}

// jitter scales d by a factor in [1-j, 1+j].
func (c *call) jitter(d time.Duration, j float64) time.Duration {
	if j == 0 || d == 0 {
		return d
	}
	return time.Duration(float64(d) * (1 + j*(2*c.rng.float()-1)))
}

func (c *call) firstTokenDelay() time.Duration {
	l := c.m.latency
	return c.jitter(l.FirstToken, l.Jitter)
}

func (c *call) perTokenDelay() time.Duration {
	l := c.m.latency
	if l.TokensPerSecond == 0 {
		return 0
	}
	return c.jitter(time.Duration(float64(time.Second)/l.TokensPerSecond), l.Jitter)
}

// abort drops the connection without a proper end: the client sees a reset or an
// unexpected EOF. http.ErrAbortHandler is the server's documented way to do this, and it
// works for HTTP/1 and HTTP/2 alike.
func abort(w http.ResponseWriter) {
	_ = http.NewResponseController(w).Flush()
	panic(http.ErrAbortHandler)
}

// drop closes the connection before any response: no status line reaches the client, as
// when a load balancer or the network drops it. It must not flush, or a 200 would go out.
func drop() {
	panic(http.ErrAbortHandler)
}

// hang holds the request until the client leaves or HangMax passes, then drops it.
func (c *call) hang(w http.ResponseWriter, r *http.Request) {
	if max := c.m.faults.HangMax; max > 0 {
		pause(r, max)
	} else {
		<-r.Context().Done()
	}
	drop()
}

// Header values shared by every response, to save an allocation each.
var (
	contentJSON   = []string{"application/json"}
	openAIVersion = []string{"2020-10-01"}
)

// setHeader sets a header already in canonical form, skipping canonicalization.
func setHeader(h http.Header, k, v string) { h[k] = []string{v} }

// anthropicAPI reports whether a request without a body to tell is made to Anthropic's
// API: its SDKs send anthropic-version, and x-api-key rather than a bearer token.
func anthropicAPI(r *http.Request) bool {
	return r.Header.Get("anthropic-version") != "" || r.Header.Get("x-api-key") != ""
}

// listModels serves GET /v1/models: the models of the API the headers name.
func (e *Emulator) listModels(w http.ResponseWriter, r *http.Request) {
	anth := anthropicAPI(r)
	b := make([]byte, 0, 64*len(e.ids))
	created := e.now().Unix()
	if anth {
		b = append(b, `{"data":[`...)
	} else {
		b = append(b, `{"object":"list","data":[`...)
	}
	first := true
	var firstID, lastID string
	for _, id := range e.ids {
		m := e.models[id]
		if m.provider == "anthropic" != anth {
			continue
		}
		if first {
			firstID = id
		} else {
			b = append(b, ',')
		}
		first, lastID = false, id
		b = appendModel(b, m, id, created)
	}
	if anth {
		b = append(b, `],"has_more":false,"first_id":`...)
		b = appendString(b, firstID)
		b = append(b, `,"last_id":`...)
		b = appendString(b, lastID)
		b = append(b, '}')
	} else {
		b = append(b, `]}`...)
	}
	setHeader(w.Header(), "Content-Type", "application/json")
	_, _ = w.Write(b)
}

// getModel serves GET /v1/models/{id}: one model in the shape of the API the headers name,
// or that API's 404. A dated id resolves to its family, as for generation, and is echoed.
func (e *Emulator) getModel(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	anth := anthropicAPI(r)
	m := e.lookup(id)
	h := w.Header()
	if m == nil || m.provider == "anthropic" != anth {
		var b []byte
		if anth {
			g := newRNG(e.cfg.Seed, e.seq.Add(1))
			reqID := g.appendID([]byte("req_011C"), 20)
			b = append(b, `{"type":"error","error":{"type":"not_found_error","message":`...)
			b = appendString(b, "model: "+id)
			b = append(b, `},"request_id":`...)
			b = appendString(b, string(reqID))
			b = append(b, '}')
			setHeader(h, "Request-Id", string(reqID))
		} else {
			b = appendOpenAIError(b, &apiError{typ: "invalid_request_error", param: "model", code: "model_not_found",
				message: "The model '" + id + "' does not exist"})
		}
		setHeader(h, "Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write(b)
		return
	}
	setHeader(h, "Content-Type", "application/json")
	_, _ = w.Write(appendModel(nil, m, id, e.now().Unix()))
}

// appendModel renders one model object: Anthropic's ModelInfo or OpenAI's Model.
func appendModel(b []byte, m *model, id string, created int64) []byte {
	if m.provider == "anthropic" {
		b = append(b, `{"type":"model","id":`...)
		b = appendString(b, id)
		b = append(b, `,"display_name":`...)
		b = appendString(b, id)
		b = append(b, `,"created_at":"`...)
		b = time.Unix(created, 0).UTC().AppendFormat(b, time.RFC3339)
		b = append(b, `","max_input_tokens":`...)
		b = appendInt(b, int64(m.ContextWindow))
		b = append(b, `,"max_tokens":`...)
		b = appendInt(b, int64(m.MaxOutput))
		return append(b, '}')
	}
	b = append(b, `{"id":`...)
	b = appendString(b, id)
	b = append(b, `,"object":"model","created":`...)
	b = appendInt(b, created)
	return append(b, `,"owned_by":"system"}`...)
}
