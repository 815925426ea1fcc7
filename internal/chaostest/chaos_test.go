package chaostest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go"
	aoption "github.com/anthropics/anthropic-sdk-go/option"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/shared"

	"github.com/tollgate/tollgate/emulator"
	"github.com/tollgate/tollgate/engine"
	"github.com/tollgate/tollgate/fallback"
	"github.com/tollgate/tollgate/gateway"
	vkeys "github.com/tollgate/tollgate/keys"
	"github.com/tollgate/tollgate/ledger"
	"github.com/tollgate/tollgate/llm"
	"github.com/tollgate/tollgate/pricing"
	tganthropic "github.com/tollgate/tollgate/provider/anthropic"
	tgopenai "github.com/tollgate/tollgate/provider/openai"
	"github.com/tollgate/tollgate/quota"
)

// The shape of the run. Every choice derives from seed; the schedule of 12 clients decides
// which request a budget refuses, never whether an assertion holds.
const (
	seed     = 20261130
	requests = 320
	clients  = 12
)

// ending is how a request ends.
type ending int

const (
	complete   ending = iota
	abandon           // a stream the caller leaves after some events
	cut               // a stream the upstream cuts half-way
	errorEvent        // a stream that ends with an error event half-way, after the 200
	startError        // a stream whose error event comes right after its preamble
	cancelCall        // a whole answer the caller cancels while the upstream generates it
	numEndings
)

var endingNames = [...]string{"complete", "abandon", "cut", "error_event", "start_error_event", "cancel"}

// spec is one request of the run.
type spec struct {
	i          int
	anthropic  bool
	model      string
	stream     bool
	n          int
	maxTokens  int
	key        int
	session    string
	longPrompt bool // a shared prefix of more than 1,024 tokens: OpenAI caches it
	cacheTTL   string
	tools      bool
	forceTool  bool
	thinking   bool
	end        ending
	after      int // abandon: events read before leaving
	prompt     string
}

// marker is what the emulator's front reads to inject the request's fault and to signal
// its arrival: the OpenAI "user" field, Anthropic's metadata.user_id.
func (s *spec) marker() string { return fmt.Sprintf("case-%d", s.i) }

func (s *spec) fault() string {
	switch s.end {
	case cut:
		return "cut"
	case errorEvent:
		return "error_event"
	case startError:
		return "start_error_event"
	}
	return ""
}

var words = strings.Fields(`the rate limit of each agent is shared by a fleet, and its budget;
gateway upstream retry queue priority fallback cache stream usage cost price tenant session key
replica bucket refill burst spend ledger provider error signal capacity headroom latency server
client header reset deadline policy chain cooldown. tokens: 42, 1024 and 7.5% of them!`)

func text(rng *rand.Rand, n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(words[rng.IntN(len(words))])
	}
	return b.String()
}

// plan draws the run's requests from seed.
func plan() []spec {
	rng := rand.New(rand.NewPCG(seed, 7))
	var out []spec
	for i := range requests {
		s := spec{i: i, key: rng.IntN(3), session: fmt.Sprintf("s%02d", rng.IntN(sessions)), n: 1,
			maxTokens: 40 + rng.IntN(120), prompt: text(rng, 20+rng.IntN(200))}
		s.anthropic = rng.IntN(2) == 0
		switch x := rng.IntN(100); {
		case s.anthropic && x < 15:
			s.model, s.thinking, s.maxTokens = "claude-haiku-4-5", true, 1100+rng.IntN(300)
		case s.anthropic && x < 60:
			s.model = "claude-sonnet-4-5"
		case s.anthropic:
			s.model = "claude-haiku-4-5"
		case x < 15:
			s.model = "o4-mini"
		case x < 55:
			s.model = "gpt-4o-mini"
		default:
			s.model = "gpt-4o"
		}
		if !s.anthropic && s.model != "o4-mini" && rng.IntN(3) == 0 {
			s.n = 2 + rng.IntN(2)
		}
		if rng.IntN(4) == 0 {
			s.longPrompt = true
			if s.anthropic && s.model == "claude-sonnet-4-5" {
				s.cacheTTL = []string{"5m", "1h"}[rng.IntN(2)]
			}
		}
		if !s.thinking && rng.IntN(5) == 0 {
			s.tools, s.forceTool = true, rng.IntN(2) == 0
		}
		s.stream = rng.IntN(2) == 0
		switch x := rng.IntN(100); {
		case x < 52:
			s.end = complete
		case x < 64:
			s.end = abandon
		case x < 73:
			s.end = cut
		case x < 82:
			s.end = errorEvent
		case x < 86:
			s.end = startError
		default:
			s.end = cancelCall
		}
		switch s.end {
		case abandon, cut, errorEvent, startError:
			s.stream = true
		case cancelCall:
			s.stream = false
		}
		s.after = 1 + rng.IntN(12)
		out = append(out, s)
	}
	return out
}

// longPrefix is the shared system prompt of long-prompt requests: over 1,200 tokens, the
// same for every request, so that OpenAI caches its prefix and Anthropic writes and reads
// it. Anthropic's 5-minute and 1-hour breakpoints each have their own, so that each TTL is
// written once and then read.
var (
	longPrefix = text(rand.New(rand.NewPCG(1, 2)), 1100)
	prefixes   = map[string]string{"": longPrefix, "5m": text(rand.New(rand.NewPCG(3, 4)), 1100),
		"1h": text(rand.New(rand.NewPCG(5, 6)), 1100)}
)

var keys = []struct{ id, tenant, secret string }{
	{"k-acme-1", "acme", "tg-acme-one"},
	{"k-acme-2", "acme", "tg-acme-two"},
	{"k-globex", "globex", "tg-globex"},
}

// sessions is how many session ids the requests draw from, per tenant.
const sessions = 10

// The budgets: sessions in USD, tenants' days in USD, keys' days in tokens. Their limits
// are set so that each binds during the run. A session is kept per tenant: the two
// tenants share 10 session ids, so there are 20 session budgets.
var rules = quota.Rules{
	{Name: "session-usd", Scope: quota.Labels{Session: quota.Each}, Unit: quota.MicroUSD, Limit: 20_000, Window: quota.Forever()},
	{Name: "tenant-day-usd", Scope: quota.Labels{Tenant: quota.Each}, Unit: quota.MicroUSD, Limit: 160_000, Window: quota.Daily(time.UTC)},
	{Name: "key-day-tokens", Scope: quota.Labels{Key: quota.Each}, Unit: quota.Tokens, Limit: 55_000, Window: quota.Daily(time.UTC)},
}

// front is the emulator's HTTP front: it injects each request's fault, tells the test when
// a request has arrived, and knows when every call the emulator served has been billed.
type front struct {
	em       *emulator.Emulator
	mu       sync.Mutex
	arrivals map[string]chan struct{}
	cases    map[string]int // the plan's index of each X-Client-Request-Id
	inflight sync.WaitGroup
}

func (f *front) arrival(marker string) chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	ch, ok := f.arrivals[marker]
	if !ok {
		ch = make(chan struct{})
		f.arrivals[marker] = ch
	}
	return ch
}

func (f *front) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.inflight.Add(1)
	defer f.inflight.Done()
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var m struct {
		User     string `json:"user"`
		Metadata struct {
			UserID string `json:"user_id"`
		} `json:"metadata"`
	}
	_ = json.Unmarshal(body, &m)
	marker := m.User + m.Metadata.UserID
	var i int
	if _, err := fmt.Sscanf(marker, "case-%d", &i); err == nil {
		if fault := runPlan[i].fault(); fault != "" {
			r.Header.Set("X-Emulator-Fault", fault)
		}
		ch := f.arrival(marker)
		f.mu.Lock()
		f.cases[r.Header.Get("X-Client-Request-Id")] = i
		select {
		case <-ch:
		default:
			close(ch)
		}
		f.mu.Unlock()
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	f.em.ServeHTTP(w, r) // bills the call before it returns
}

var runPlan = plan()

// TestChaosAccounting runs the plan through the real gateway over both wire formats with
// the official SDKs, and checks the books: every call the emulator billed is in the ledger,
// exactly for calls that completed and within 1% in total for those that ended early;
// every budget within its limit by the store and by the ledger; no hold left open and no
// reservation left in the engine.
func TestChaosAccounting(t *testing.T) {
	ctx, cancelRun := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancelRun()
	started := time.Now()

	em, err := emulator.New(emulator.Config{Seed: seed, Output: emulator.Output{MinTokens: 20, MaxTokens: 140},
		Latency: emulator.Latency{FirstToken: 5 * time.Millisecond, TokensPerSecond: 250}})
	if err != nil {
		t.Fatal(err)
	}
	fr := &front{em: em, arrivals: map[string]chan struct{}{}, cases: map[string]int{}}
	up := httptest.NewServer(fr)
	defer up.Close()
	oa, err := tgopenai.New(tgopenai.Config{BaseURL: up.URL + "/v1", APIKey: "sk-upstream"})
	if err != nil {
		t.Fatal(err)
	}
	an, err := tganthropic.New(tganthropic.Config{BaseURL: up.URL, APIKey: "sk-upstream"})
	if err != nil {
		t.Fatal(err)
	}
	l, err := ledger.Open(ctx, ledger.Config{Path: filepath.Join(t.TempDir(), "ledger.db"), Location: time.UTC})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close(context.Background())
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	eng, err := engine.New(engine.Config{Providers: map[string]llm.Provider{"openai": oa, "anthropic": an},
		Rules: rules, Ledger: l, Tokenizer: emulatorTokenizer{}, Logger: quiet,
		// The faults are the plan's: a deployment that cools down after three of them would
		// turn the rest of the run into refusals.
		Cooldown: fallback.CooldownConfig{FailureThreshold: 1 << 20}})
	if err != nil {
		t.Fatal(err)
	}
	var static []vkeys.Key
	for _, k := range keys {
		static = append(static, vkeys.Key{ID: k.id, Tenant: k.tenant, Hash: vkeys.HashSecret(k.secret)})
	}
	reg, err := vkeys.Open(context.Background(), vkeys.Config{Static: static})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close() })
	gw, err := gateway.New(gateway.Config{Engine: eng, Keys: reg, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gw)

	// The run: clients take the plan's requests in order.
	outcomes := make([]string, len(runPlan))
	work := make(chan int)
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			for i := range work {
				outcomes[i] = send(ctx, srv.URL, fr, &runPlan[i])
			}
		})
	}
	for i := range runPlan {
		work <- i
	}
	close(work)
	wg.Wait()
	srv.Close()                         // every handler has returned
	if err := eng.Close(); err != nil { // every abandoned call has settled
		t.Fatal(err)
	}
	fr.inflight.Wait() // every call the emulator served is billed
	if err := l.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if ctx.Err() != nil {
		t.Fatalf("the run did not finish in time: %v", ctx.Err())
	}

	tally := map[string]int{}
	for _, o := range outcomes {
		tally[o]++
	}
	t.Logf("%d requests in %v: %v", len(runPlan), time.Since(started).Round(time.Millisecond), tally)

	checkCoverage(t, em.Bills(), fr.cases)
	checkBooks(t, ctx, l, em)
	checkBudgets(t, ctx, l, eng)
	if n := eng.Open(); n != 0 {
		t.Errorf("Engine.Open() = %d after the run, want 0", n)
	}
	if holds, err := l.OpenHolds(ctx); err != nil || len(holds) != 0 {
		t.Errorf("open holds after the run: %d (%v), want none", len(holds), err)
	}
}

// send makes request s through the gateway with the official SDK of its format and ends it
// as s says; it returns how it went, for the log.
func send(ctx context.Context, base string, fr *front, s *spec) string {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if s.end == cancelCall {
		// Leave once the upstream has the request; stop watching if it never gets there
		// (a budget refused it).
		done := make(chan struct{})
		defer close(done)
		go func() {
			select {
			case <-fr.arrival(s.marker()):
				cancel()
			case <-done:
			}
		}()
	}
	k := keys[s.key]
	if s.anthropic {
		return sendAnthropic(ctx, cancel, base, k.secret, s)
	}
	return sendOpenAI(ctx, cancel, base, k.secret, s)
}

func outcome(err error, read int, s *spec) string {
	var oe *openai.Error
	var ae *anthropic.Error
	switch {
	case err != nil && read > 0:
		return endingNames[s.end] // failed mid-stream, as planned
	case errors.As(err, &oe) && oe.StatusCode == http.StatusPaymentRequired,
		errors.As(err, &ae) && ae.StatusCode == http.StatusPaymentRequired:
		return "refused_budget"
	case errors.As(err, &oe):
		return fmt.Sprintf("refused_%d", oe.StatusCode)
	case errors.As(err, &ae):
		return fmt.Sprintf("refused_%d", ae.StatusCode)
	case err != nil && s.end == complete:
		return "failed: " + err.Error()
	}
	return endingNames[s.end]
}

func sendOpenAI(ctx context.Context, cancel context.CancelFunc, base, secret string, s *spec) string {
	c := openai.NewClient(option.WithBaseURL(base+"/v1"), option.WithAPIKey(secret), option.WithMaxRetries(0),
		option.WithHeader("X-Session-Id", s.session))
	p := openai.ChatCompletionNewParams{Model: s.model, User: openai.String(s.marker())}
	if s.longPrompt {
		p.Messages = append(p.Messages, openai.SystemMessage(longPrefix))
	}
	p.Messages = append(p.Messages, openai.UserMessage(s.prompt))
	if s.model == "o4-mini" {
		p.MaxCompletionTokens = openai.Int(int64(s.maxTokens + 400))
	} else {
		p.MaxTokens = openai.Int(int64(s.maxTokens))
	}
	if s.n > 1 {
		p.N = openai.Int(int64(s.n))
	}
	if s.tools {
		p.Tools = []openai.ChatCompletionToolUnionParam{openai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{
			Name: "get_weather", Description: openai.String("The weather in a city."),
			Parameters: shared.FunctionParameters{"type": "object", "required": []string{"city"},
				"properties": map[string]any{"city": map[string]any{"type": "string"},
					"unit": map[string]any{"type": "string", "enum": []string{"c", "f"}}}}})}
		if s.forceTool {
			p.ToolChoice = openai.ChatCompletionToolChoiceOptionUnionParam{OfAuto: openai.String("required")}
		}
	}
	if !s.stream {
		_, err := c.Chat.Completions.New(ctx, p)
		return outcome(err, 0, s)
	}
	st := c.Chat.Completions.NewStreaming(ctx, p)
	defer st.Close()
	return readStream(st.Next, st.Err, cancel, s)
}

// readStream reads a stream's events to its end, or leaves it after s.after events when s
// abandons it, and says how it went.
func readStream(next func() bool, err func() error, cancel context.CancelFunc, s *spec) string {
	read := 0
	for next() {
		if read++; s.end == abandon && read >= s.after {
			cancel()
			return endingNames[abandon]
		}
	}
	return outcome(err(), read, s)
}

func sendAnthropic(ctx context.Context, cancel context.CancelFunc, base, secret string, s *spec) string {
	c := anthropic.NewClient(aoption.WithBaseURL(base), aoption.WithAPIKey(secret), aoption.WithMaxRetries(0),
		aoption.WithHeader("X-Session-Id", s.session))
	p := anthropic.MessageNewParams{Model: anthropic.Model(s.model), MaxTokens: int64(s.maxTokens),
		Metadata: anthropic.MetadataParam{UserID: anthropic.String(s.marker())},
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock(s.prompt))}}
	if s.longPrompt {
		block := anthropic.TextBlockParam{Text: prefixes[s.cacheTTL]}
		if s.cacheTTL != "" {
			block.CacheControl = anthropic.CacheControlEphemeralParam{TTL: anthropic.CacheControlEphemeralTTL(s.cacheTTL)}
		}
		p.System = []anthropic.TextBlockParam{block}
	}
	if s.thinking {
		p.Thinking = anthropic.ThinkingConfigParamOfEnabled(1024)
	}
	if s.tools {
		p.Tools = []anthropic.ToolUnionParam{{OfTool: &anthropic.ToolParam{Name: "get_weather",
			Description: anthropic.String("The weather in a city."),
			InputSchema: anthropic.ToolInputSchemaParam{Required: []string{"city"},
				Properties: map[string]any{"city": map[string]any{"type": "string"},
					"unit": map[string]any{"type": "string", "enum": []string{"c", "f"}}}}}}}
		if s.forceTool {
			p.ToolChoice = anthropic.ToolChoiceUnionParam{OfAny: &anthropic.ToolChoiceAnyParam{}}
		}
	}
	if !s.stream {
		_, err := c.Messages.New(ctx, p)
		return outcome(err, 0, s)
	}
	st := c.Messages.NewStreaming(ctx, p)
	defer st.Close()
	return readStream(st.Next, st.Err, cancel, s)
}

// checkBooks holds the ledger to the emulator's bill: every billed call has its record
// (matched by the upstream's request id), equal in every usage field and in micro-USD when
// the call completed; the calls that ended early within 1% in total, those of models whose
// reasoning is hidden never under their bill.
func checkBooks(t *testing.T, ctx context.Context, l *ledger.Ledger, em *emulator.Emulator) {
	t.Helper()
	prices := pricing.Default()
	bills := em.Bills()
	records := map[string]ledger.Record{} // by upstream request id
	for _, id := range uniqueClientIDs(bills) {
		recs, err := l.Request(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			records[r.UpstreamRequestID] = r
		}
	}
	type sums struct {
		n              int
		ledger, billed int64
	}
	// The early ends, by what the rule can see: the input side reported by the upstream
	// (Anthropic's message_start) or estimated without a cache read (exact with this
	// tokenizer); an OpenAI prompt-cache read, which only the usage chunk at a stream's end
	// reports (the rule then charges the estimate at the full input price); a model whose
	// reasoning is billed and never streamed (charged its cap).
	var exact, early, cacheRead, hidden sums
	byEnd := map[emulator.End]int{}
	for _, b := range bills {
		byEnd[b.End]++
		m, err := prices.Lookup(b.Model)
		if err != nil {
			t.Fatal(err)
		}
		if got := m.Cost(b.Usage); got != b.CostMicroUSD {
			t.Errorf("bill %s: the emulator priced %+v at %d µUSD, pricing at %d", b.RequestID, b.Usage, b.CostMicroUSD, got)
		}
		r, ok := records[b.RequestID]
		if !ok {
			t.Errorf("bill %s (%s %s, %s, %d µUSD) has no ledger record", b.RequestID, b.Model, b.End, b.ClientRequestID, b.CostMicroUSD)
			continue
		}
		delete(records, b.RequestID)
		got := llm.Usage{InputTokens: r.InputTokens, CachedInputTokens: r.CachedInputTokens, CacheWriteTokens: r.CacheWriteTokens,
			CacheWrite1hTokens: r.CacheWrite1hTokens, OutputTokens: r.OutputTokens, ReasoningTokens: r.ReasoningTokens}
		want := b.Usage
		if b.Provider == pricing.ProviderAnthropic {
			// The Anthropic adapter does not read output_tokens_details; thinking is in
			// the output either way.
			want.ReasoningTokens = got.ReasoningTokens
		}
		add := func(s *sums) {
			s.n++
			s.ledger += r.MicroUSD
			s.billed += b.CostMicroUSD
		}
		switch {
		case b.End == emulator.EndComplete:
			add(&exact)
			if got != want || r.MicroUSD != b.CostMicroUSD {
				t.Errorf("completed call %s (%s, stream %v): ledger %+v at %d µUSD, bill %+v at %d µUSD",
					b.RequestID, b.Model, b.Stream, got, r.MicroUSD, want, b.CostMicroUSD)
			}
			continue
		case m.HiddenReasoning:
			add(&hidden)
		case b.Provider == pricing.ProviderOpenAI && want.CachedInputTokens > 0:
			add(&cacheRead)
			if got.InputTokens != want.InputTokens {
				t.Errorf("early end %s (%s, %s): ledger input %d, bill %d", b.RequestID, b.Model, b.End, got.InputTokens, want.InputTokens)
			}
		default:
			add(&early)
			if got.InputTokens != want.InputTokens || got.CachedInputTokens != want.CachedInputTokens ||
				got.CacheWriteTokens != want.CacheWriteTokens || got.CacheWrite1hTokens != want.CacheWrite1hTokens {
				t.Errorf("early end %s (%s, %s): ledger input side %+v, bill %+v", b.RequestID, b.Model, b.End, got, want)
			}
		}
		if r.MicroUSD < b.CostMicroUSD && (m.HiddenReasoning || want.CachedInputTokens > 0) {
			t.Errorf("early end %s (%s, %s): ledger %d µUSD under its bill %d", b.RequestID, b.Model, b.End, r.MicroUSD, b.CostMicroUSD)
		}
	}
	for id, r := range records {
		if r.MicroUSD != 0 {
			t.Errorf("ledger record %s (upstream %q, %s, %s) charges %d µUSD for a call the emulator did not bill",
				r.RequestID, id, r.Model, r.Outcome, r.MicroUSD)
		}
	}
	gap := func(s sums) string {
		if s.billed == 0 {
			return fmt.Sprintf("%d calls, nothing billed", s.n)
		}
		return fmt.Sprintf("%d calls, ledger %d µUSD, bill %d µUSD, gap %+d µUSD (%+.3f%%)", s.n, s.ledger, s.billed,
			s.ledger-s.billed, 100*float64(s.ledger-s.billed)/float64(s.billed))
	}
	all := sums{n: early.n + cacheRead.n + hidden.n, ledger: early.ledger + cacheRead.ledger + hidden.ledger,
		billed: early.billed + cacheRead.billed + hidden.billed}
	t.Logf("bills by end: %v", byEnd)
	t.Logf("completed calls: %s", gap(exact))
	t.Logf("early ends, input side reported or estimated without a cache read: %s", gap(early))
	t.Logf("early ends of OpenAI streams that read the prompt cache (input charged at the full price): %s", gap(cacheRead))
	t.Logf("early ends of hidden-reasoning models (output charged at the cap): %s", gap(hidden))
	t.Logf("all early ends: %s", gap(all))
	if exact.ledger != exact.billed {
		t.Errorf("completed calls: %s, want equal", gap(exact))
	}
	if early.n < 40 {
		t.Errorf("only %d early ends whose input side the rule sees, want at least 40 for the 1%% bound to mean something", early.n)
	}
	if d := early.ledger - early.billed; d*100 > early.billed || -d*100 > early.billed {
		t.Errorf("early ends: %s, want within 1%%", gap(early))
	}
}

// checkCoverage fails the run when a shape that it must hold to the bill did not reach the
// emulator and complete, or an ending did not happen: a plan that lost one proves nothing
// about it.
func checkCoverage(t *testing.T, bills []emulator.Bill, cases map[string]int) {
	t.Helper()
	seen := map[string]int{}
	for _, b := range bills {
		u := b.Usage
		s := runPlan[cases[b.ClientRequestID]]
		if b.End != emulator.EndComplete {
			seen["ended early: "+string(b.End)]++
			if !s.stream {
				seen["whole answer ended early"]++
			}
			continue
		}
		if s.end == cancelCall {
			seen["whole answer completed after its caller left"]++
		}
		if b.Stream {
			seen["stream"]++
		}
		if s.n > 1 {
			seen["n > 1"]++
		}
		if s.tools {
			seen["tools"]++
		}
		if b.Provider == pricing.ProviderOpenAI && u.CachedInputTokens > 0 {
			seen["openai cache read"]++
		}
		if b.Provider == pricing.ProviderOpenAI && u.ReasoningTokens > 0 {
			seen["openai hidden reasoning"]++
		}
		if b.Provider == pricing.ProviderAnthropic && u.CachedInputTokens > 0 {
			seen["anthropic cache read"]++
		}
		if u.CacheWriteTokens > u.CacheWrite1hTokens {
			seen["anthropic 5m cache write"]++
		}
		if u.CacheWrite1hTokens > 0 {
			seen["anthropic 1h cache write"]++
		}
		if s.thinking {
			seen["anthropic thinking"]++
		}
	}
	t.Logf("billed shapes and ends: %v", seen)
	for _, want := range []string{"stream", "n > 1", "tools", "openai cache read", "openai hidden reasoning",
		"anthropic cache read", "anthropic 5m cache write", "anthropic 1h cache write", "anthropic thinking",
		"whole answer completed after its caller left", "ended early: client_gone", "ended early: cut",
		"ended early: error_event"} {
		if seen[want] == 0 {
			t.Errorf("no billed call has %q: the run does not test it", want)
		}
	}
	if n := seen["whole answer ended early"]; n != 0 {
		t.Errorf("%d whole answers ended early: the plan cancels whole answers only after the upstream has them", n)
	}
}

func uniqueClientIDs(bills []emulator.Bill) []string {
	var ids []string
	for _, b := range bills {
		ids = append(ids, b.ClientRequestID)
	}
	slices.Sort(ids)
	return slices.Compact(ids)
}

// checkBudgets holds every budget to its limit, by the store's counters and by the ledger's
// sums over the same scope.
func checkBudgets(t *testing.T, ctx context.Context, l *ledger.Ledger, eng *engine.Engine) {
	t.Helper()
	day := time.Now().UTC().Truncate(24 * time.Hour)
	bound, most := map[string]int{}, map[string]string{}
	for _, r := range rules {
		var dim ledger.Dim
		var labels []quota.Labels
		switch {
		case r.Scope.Session != "":
			// A session's budget is kept per tenant: both tenants use the same session ids.
			dim = ledger.BySession
			for _, tenant := range []string{"acme", "globex"} {
				for i := range sessions {
					labels = append(labels, quota.Labels{Tenant: tenant, Session: fmt.Sprintf("s%02d", i)})
				}
			}
		case r.Scope.Tenant != "":
			dim = ledger.ByTenant
			labels = []quota.Labels{{Tenant: "acme"}, {Tenant: "globex"}}
		default:
			dim = ledger.ByKey
			for _, k := range keys {
				labels = append(labels, quota.Labels{Key: k.id})
			}
		}
		var qs []quota.Quota
		for _, lb := range labels {
			q, ok := r.For(lb)
			if !ok {
				t.Fatalf("rule %s does not apply to %+v", r.Name, lb)
			}
			qs = append(qs, q)
		}
		sts, err := eng.Store().Status(ctx, qs, nil)
		if err != nil {
			t.Fatal(err)
		}
		sums := map[string]ledger.Sum{}
		for _, tenant := range []string{"", "acme", "globex"} {
			if (dim == ledger.BySession) != (tenant != "") {
				continue
			}
			rows, err := l.Query(ctx, ledger.Query{By: dim, Since: day, Tenant: tenant})
			if err != nil {
				t.Fatal(err)
			}
			for _, row := range rows {
				sums[tenant+"/"+row.Group] = row.Sum
			}
		}
		for i, st := range sts {
			group := labels[i].Session + labels[i].Tenant + labels[i].Key
			if dim == ledger.BySession {
				group = labels[i].Tenant + "/" + labels[i].Session
			}
			sum := sums[group]
			if dim != ledger.BySession {
				sum = sums["/"+group]
			}
			booked := sum.MicroUSD
			if r.Unit == quota.Tokens {
				booked = sum.InputTokens + sum.OutputTokens
			}
			if st.Used > r.Limit || booked > r.Limit {
				t.Errorf("%s [%s]: store used %d, ledger %d; limit %d", r.Name, group, st.Used, booked, r.Limit)
			}
			if st.Used != booked {
				t.Errorf("%s [%s]: store used %d, ledger %d: the books differ", r.Name, group, st.Used, booked)
			}
			if booked*10 >= r.Limit*9 {
				bound[r.Name]++
			}
			if f := fmt.Sprintf("%.3f", float64(booked)/float64(r.Limit)); f > most[r.Name] {
				most[r.Name] = f
			}
		}
	}
	t.Logf("budgets within 10%% of their limit: %v; the fullest of each rule: %v", bound, most)
	for _, r := range rules {
		if bound[r.Name] == 0 {
			t.Errorf("no %s budget came within 10%% of its limit: the run does not test it", r.Name)
		}
	}
}
