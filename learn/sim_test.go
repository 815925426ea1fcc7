package learn_test

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tollgate/tollgate/emulator"
	"github.com/tollgate/tollgate/learn"
	"github.com/tollgate/tollgate/llm"
	"github.com/tollgate/tollgate/provider/anthropic"
	"github.com/tollgate/tollgate/provider/openai"
	"github.com/tollgate/tollgate/quota"
	"github.com/tollgate/tollgate/tokens"
)

// The control loop runs in virtual time: a discrete-event simulation of a fleet of agents
// in a closed loop, each reserving its call's worst case on the learned quotas of a
// quota.MemoryStore (waiting first come first served until the refusal's RetryAfter, as
// the queue does), calling the
// emulator through the real provider adapter (in-process, at the virtual instant), and
// observing the answer one latency later. Nothing sleeps and every run is the same.

// inProcess is an http.RoundTripper that serves a request with a handler, synchronously.
type inProcess struct{ h http.Handler }

func (t inProcess) RoundTrip(r *http.Request) (*http.Response, error) {
	w := httptest.NewRecorder()
	t.h.ServeHTTP(w, r)
	return w.Result(), nil
}

// stripLimits is a proxy that leaves a 429 no detail: its body becomes a bare message, and
// its rate-limit and retry headers go, as some gateways in front of providers answer.
type stripLimits struct{ next http.RoundTripper }

func (t stripLimits) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(r)
	if err != nil || resp.StatusCode != http.StatusTooManyRequests {
		return resp, err
	}
	resp.Body.Close()
	for k := range resp.Header {
		if strings.Contains(strings.ToLower(k), "ratelimit") || strings.HasPrefix(strings.ToLower(k), "retry-after") {
			resp.Header.Del(k)
		}
	}
	body := `{"error":{"message":"Too Many Requests","type":"rate_limit_error"}}`
	resp.Body = io.NopCloser(strings.NewReader(body))
	resp.ContentLength = int64(len(body))
	return resp, nil
}

type event struct {
	at  time.Time
	seq int
	fn  func()
}

type events []*event

func (h events) Len() int { return len(h) }
func (h events) Less(i, j int) bool {
	if !h[i].at.Equal(h[j].at) {
		return h[i].at.Before(h[j].at)
	}
	return h[i].seq < h[j].seq
}
func (h events) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *events) Push(x any)   { *h = append(*h, x.(*event)) }
func (h *events) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}

// phase is a stretch of a scenario with the upstream's limits fixed.
type phase struct {
	limits emulator.Limits
	length time.Duration
}

// scenario is one run of the control loop.
type scenario struct {
	// warmup, where set (non-zero), replaces the run's warm-up window for that phase.
	warmup []time.Duration
	name   string
	format llm.Format
	model  string
	// dialect is the emulator's dialect of an OpenAI model ("azure": a 429 that names its
	// dimension but no number).
	dialect string
	// strip puts a proxy in front that leaves 429s bare.
	strip  bool
	phases []phase
	// agents run in a closed loop; maxTokens is each call's cap.
	agents, maxTokens int
	// replicas learn apart, each from the calls of its share of the agents, and share
	// what they learn through shared (synced every second) and the quota state (one
	// store, as one Redis holds it for a fleet). 0 means 1.
	replicas int
	shared   learn.Shared
}

// result is what a phase measured, after the warm-up window at its start.
type result struct {
	used    float64 // share of the binding limit's capacity used
	refused float64 // share of upstream calls refused with a 429
	calls   int64
	learned []learn.Limit
	// whole is the same over the whole phase, warm-up included.
	whole *result
}

type sim struct {
	t      *testing.T
	sc     *scenario
	now    time.Time
	seq    int
	q      events
	em     *emulator.Emulator
	prov   llm.Provider
	store  *quota.MemoryStore
	sets   []*learn.Set
	ls     []*learn.Learner
	quotas [][]quota.Quota
	rng    *rand.Rand
	// waiting are the calls waiting for their reservation, first come first served; wake
	// numbers the latest wake-up, so that an earlier one does nothing.
	waiting []waiter
	wake    int
}

func newSim(t *testing.T, sc *scenario, cfg learn.Config) *sim {
	s := &sim{t: t, sc: sc, now: time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC), rng: rand.New(rand.NewPCG(1, 2))}
	lim := sc.phases[0].limits
	em, err := emulator.New(emulator.Config{Seed: 7, Now: func() time.Time { return s.now },
		Output: emulator.Output{MinTokens: 20, MaxTokens: 400},
		Models: map[string]emulator.Model{sc.model: {Limits: &lim, Dialect: sc.dialect}}})
	if err != nil {
		t.Fatal(err)
	}
	s.em = em
	var rt http.RoundTripper = inProcess{em}
	if sc.strip {
		rt = stripLimits{rt}
	}
	client := &http.Client{Transport: rt}
	if sc.format == llm.Anthropic {
		s.prov, err = anthropic.New(anthropic.Config{BaseURL: "http://emulator", APIKey: "sk-sim", HTTPClient: client})
	} else {
		s.prov, err = openai.New(openai.Config{BaseURL: "http://emulator/v1", APIKey: "sk-sim", HTTPClient: client})
	}
	if err != nil {
		t.Fatal(err)
	}
	s.store = quota.NewMemoryStore(quota.MemoryConfig{Now: func() time.Time { return s.now }})
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	cfg.Shared = sc.shared
	for range max(sc.replicas, 1) {
		set, err := learn.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		l := set.Learner(learn.Upstream{Provider: string(sc.format), Account: learn.AccountID("sk-sim"), Format: sc.format}, sc.model)
		s.sets, s.ls, s.quotas = append(s.sets, set), append(s.ls, l), append(s.quotas, l.Quotas(nil))
	}
	return s
}

func (s *sim) at(t time.Time, fn func()) {
	s.seq++
	heap.Push(&s.q, &event{at: t, seq: s.seq, fn: fn})
}

// runUntil processes events up to end.
func (s *sim) runUntil(end time.Time) {
	for s.q.Len() > 0 && !s.q[0].at.After(end) {
		e := heap.Pop(&s.q).(*event)
		s.now = e.at
		e.fn()
	}
	s.now = end
}

var words = strings.Fields("the agent reads the ticket and plans the next step before it calls a tool with care for cost and time")

type call struct {
	req    *llm.Request
	amount quota.Amount
}

// newCall makes a request of a prompt of 20 to 400 words with the scenario's cap.
func (s *sim) newCall() *call {
	n := 20 + s.rng.IntN(380)
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(words[s.rng.IntN(len(words))])
	}
	body := fmt.Sprintf(`{"model":%q,"max_tokens":%d,"messages":[{"role":"user","content":%q}]}`, s.sc.model, s.sc.maxTokens, b.String())
	var (
		req *llm.Request
		in  int
		err error
	)
	if s.sc.format == llm.Anthropic {
		req, err = anthropic.ParseRequest([]byte(body))
		if err == nil {
			in, err = tokens.AnthropicMessages([]byte(body))
		}
	} else {
		req, err = openai.ParseRequest([]byte(body))
		if err == nil {
			in, err = tokens.OpenAIChat([]byte(body))
		}
	}
	if err != nil {
		s.t.Fatal(err)
	}
	return &call{req: req, amount: quota.Amount{Requests: 1, InputTokens: int64(in), OutputTokens: int64(s.sc.maxTokens)}}
}

// waiter is a call of replica i waiting for its reservation.
type waiter struct {
	i int
	c *call
}

// submit queues a call of replica i behind the calls already waiting, as the queue puts
// newcomers behind its waiters, and admits what the quotas allow.
func (s *sim) submit(i int, c *call) {
	s.waiting = append(s.waiting, waiter{i, c})
	if len(s.waiting) == 1 {
		s.admit()
	}
}

// admit reserves for the waiters in order until one is refused, and wakes when the
// refusal says it would fit, as the queue's timer per key does.
func (s *sim) admit() {
	for len(s.waiting) > 0 {
		w := s.waiting[0]
		r, _, err := s.store.ReserveAt(s.now, &quota.Request{Quotas: s.quotas[w.i], Amount: w.c.amount}, nil)
		if err != nil {
			var e *quota.ExceededError
			if !errors.As(err, &e) || !errors.Is(err, quota.ErrExceeded) {
				s.t.Fatalf("reserve: %v", err)
			}
			s.wake++
			gen := s.wake
			s.at(s.now.Add(max(e.RetryAfter, time.Millisecond)), func() {
				if gen == s.wake {
					s.admit()
				}
			})
			return
		}
		s.waiting = s.waiting[1:]
		s.call(w.i, w.c, r)
	}
}

// call sends c for replica i under reservation r; its answer comes one latency later.
func (s *sim) call(i int, c *call, r quota.Reservation) {
	sent := s.now
	resp, err := s.prov.Do(context.Background(), llm.Call{Request: c.req, Model: s.sc.model, MaxTokens: s.sc.maxTokens})
	latency := 150 * time.Millisecond
	if err == nil {
		latency = 400*time.Millisecond + time.Duration(resp.Usage.OutputTokens)*5*time.Millisecond
	} else if llm.KindOf(err) != llm.KindRateLimited {
		s.t.Fatalf("call: %v", err)
	}
	s.at(s.now.Add(latency), func() {
		s.ls[i].Observe(s.now, learn.OutcomeOf(sent, c.amount, resp, err))
		actual := quota.Amount{Requests: 1}
		next := c // a refused call is tried again
		if err == nil {
			actual.InputTokens, actual.OutputTokens = resp.Usage.InputTokens, resp.Usage.OutputTokens
			next = s.newCall()
		}
		if _, err := s.store.SettleAt(s.now, r.ID, actual, nil); err != nil {
			s.t.Fatal(err)
		}
		if len(s.waiting) > 0 {
			s.admit() // a settle may have given room back, as it wakes the queue
		}
		s.submit(i, next)
	})
}

// sync shares what the replicas learned every second.
func (s *sim) sync() {
	for _, set := range s.sets {
		if err := set.Sync(context.Background()); err != nil {
			s.t.Fatal(err)
		}
	}
	s.at(s.now.Add(time.Second), s.sync)
}

// run runs the scenario and returns one result per phase, each measured after a warm-up
// window at the phase's start.
func (s *sim) run(warmup time.Duration) []result {
	for a := range s.sc.agents {
		s.at(s.now, func() { s.submit(a%len(s.ls), s.newCall()) })
	}
	if s.sc.shared != nil {
		s.at(s.now.Add(time.Second), s.sync)
	}
	var out []result
	for i, p := range s.sc.phases {
		if i > 0 {
			if err := s.em.SetLimits(s.sc.model, p.limits); err != nil {
				s.t.Fatal(err)
			}
		}
		warm := warmup
		if i < len(s.sc.warmup) && s.sc.warmup[i] > 0 {
			warm = s.sc.warmup[i]
		}
		start := s.em.Stats().Models[s.sc.model]
		s.runUntil(s.now.Add(warm))
		before := s.em.Stats().Models[s.sc.model]
		s.runUntil(s.now.Add(p.length - warm))
		after := s.em.Stats().Models[s.sc.model]
		r := measure(before, after, s.ls[0].Status())
		if i > 0 {
			whole := measure(start, after, nil)
			r.whole = &whole
		}
		out = append(out, r)
	}
	return out
}

// measure compares two snapshots of the emulator's counters.
func measure(a, b emulator.Counts, learned []learn.Limit) result {
	r := result{calls: b.Requests - a.Requests, learned: learned}
	if r.calls > 0 {
		r.refused = float64(b.RateLimited-a.RateLimited) / float64(r.calls)
	}
	ca, cb := a.Capacity, b.Capacity
	for _, u := range [...][2]emulator.Use{{ca.Requests, cb.Requests}, {ca.Tokens, cb.Tokens},
		{ca.InputTokens, cb.InputTokens}, {ca.OutputTokens, cb.OutputTokens}} {
		if u[1].Limit == 0 {
			continue
		}
		if off := u[1].Offered - u[0].Offered; off > 0 {
			r.used = max(r.used, (u[1].Used-u[0].Used)/off)
		}
	}
	return r
}
