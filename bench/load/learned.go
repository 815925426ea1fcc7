package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tollgate/tollgate/emulator"
	"github.com/tollgate/tollgate/internal/config"
	"github.com/tollgate/tollgate/internal/redistest"
	"github.com/tollgate/tollgate/learn"
)

// learnedRun is one scenario of the learned-limits measurement: the emulator enforcing
// rpm per minute on every model, with its rate-limit headers hidden or not, and replicas
// gateways built from a configuration as `tollgate serve` builds them (over one Redis
// when there are several), with learned_limits.mode set to mode and no quota configured.
// With then, the limit moves to each of then in turn, a phase each.
type learnedRun struct {
	rpm      int
	then     []int
	hidden   bool
	replicas int
	mode     string
}

func (r learnedRun) String() string {
	h := "visible"
	if r.hidden {
		h = "hidden"
	}
	return fmt.Sprintf("%s RPM, headers %s, %d replica(s), mode %s", r.rpms(), h, r.replicas, r.mode)
}

// rpms renders the limit of each phase: "120" or "120→60→200".
func (r learnedRun) rpms() string {
	s := strconv.Itoa(r.rpm)
	for _, n := range r.then {
		s += "→" + strconv.Itoa(n)
	}
	return s
}

// learnedFigures is what one phase of a scenario measured after its warm-up.
type learnedFigures struct {
	rpm int // the limit in force
	// The emulator's counts over the whole phase (warm-up included), of a phase that
	// follows a change of the limit: what adapting cost. whole is its length.
	wholeServed, wholeUpstream, wholeLimited int64
	whole                                    time.Duration
	served, upstream, limited                int64          // the emulator's, over the window
	agents                                   map[int]int64  // the agents' answers by status; -1 a failed call
	samples                                  map[int]string // the first body of each status but 200
	learned                                  []string       // each replica's learned limits at the end
	window                                   time.Duration  // measured
}

// runLearned measures each scenario: agents closed-loop agents for warmup, then for
// measure, and prints the capacity used (calls served over rpm × the window), the share
// of upstream calls refused and what the agents got.
func runLearned(scenarios []learnedRun, agents int, warmup, measure time.Duration) error {
	fmt.Printf("# learned limits: %d closed-loop agents through the gateway, no quota configured; %v warm-up, then %v measured\n",
		agents, warmup, measure)
	fmt.Printf("%-52s %9s %9s %9s %8s %s\n", "scenario", "served", "used", "upstream", "429s", "agents' answers")
	for _, sc := range scenarios {
		fs, err := measureLearned(sc, agents, warmup, measure)
		if err != nil {
			return fmt.Errorf("%s: %w", sc, err)
		}
		for i, f := range fs {
			name := sc.String()
			if len(fs) > 1 {
				name = fmt.Sprintf("%s, phase %d: %d RPM", sc, i+1, f.rpm)
			}
			printLearned(name, f)
		}
	}
	return nil
}

// printLearned prints one phase's figures.
func printLearned(name string, f learnedFigures) {
	capacity := float64(f.rpm) * f.window.Minutes()
	share := 0.0
	if f.upstream > 0 {
		share = float64(f.limited) / float64(f.upstream)
	}
	var answers []string
	for _, code := range []int{200, 429, 503, 504} {
		if n := f.agents[code]; n > 0 {
			answers = append(answers, fmt.Sprintf("%d×%d", n, code))
		}
	}
	for code, n := range f.agents {
		if code != 200 && code != 429 && code != 503 && code != 504 {
			answers = append(answers, fmt.Sprintf("%d×%d", n, code))
		}
	}
	fmt.Printf("%-52s %9d %8.1f%% %9d %7.2f%% %s\n", name, f.served, 100*float64(f.served)/capacity, f.upstream,
		100*share, strings.Join(answers, " "))
	if f.wholeUpstream > 0 {
		// After a change of the limit: what adapting cost, warm-up included.
		fmt.Printf("    whole phase: %d served, %.1f%% used, %d upstream, %.2f%% 429s\n", f.wholeServed,
			100*float64(f.wholeServed)/(float64(f.rpm)*f.whole.Minutes()), f.wholeUpstream,
			100*float64(f.wholeLimited)/float64(f.wholeUpstream))
	}
	for _, l := range f.learned {
		fmt.Printf("    %s\n", l)
	}
	for code, b := range f.samples {
		fmt.Printf("    %d: %.200s\n", code, strings.TrimSpace(b))
	}
}

// measureLearned runs one scenario and returns the figures of each of its phases.
func measureLearned(sc learnedRun, agents int, warmup, measure time.Duration) ([]learnedFigures, error) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	emu, err := emulator.Start(ctx, emulator.Config{Output: emulator.Output{MinTokens: 8, MaxTokens: 16},
		Latency: emulator.Latency{FirstToken: 100 * time.Millisecond, TokensPerSecond: 200},
		Limits:  emulator.Limits{RPM: sc.rpm, Hidden: sc.hidden}}, "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	defer emu.Close()
	model, err := requestModel()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "tollgate-load-learned")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	redisLine := ""
	if sc.replicas > 1 {
		srv, err := redistest.StartProcess(dir)
		if err != nil {
			return nil, err
		}
		defer srv.Stop()
		redisLine = fmt.Sprintf("redis: {url: \"redis://%s\", replicas: %d}\n", srv.Addr(), sc.replicas)
	}
	env := map[string]string{"OPENAI_API_KEY": "sk-emulator", "TOLLGATE_KEY": secret}
	var urls []string
	var sets []*learn.Set
	for i := range sc.replicas {
		text := fmt.Sprintf(`upstreams:
  openai: {api_key_env: OPENAI_API_KEY, base_url: "%s/v1"}
keys:
  - {id: load, tenant: load, key_env: TOLLGATE_KEY}
ledger: {path: %q}
learned_limits: {mode: %s}
queue: {max_wait: 60s}
%s`, emu.URL(), filepath.Join(dir, fmt.Sprintf("ledger-%d.db", i)), sc.mode, redisLine)
		c, err := config.Parse("load.yaml", []byte(text))
		if err != nil {
			return nil, err
		}
		c.LookupEnv = func(n string) (string, bool) { v, ok := env[n]; return v, ok }
		b, err := c.Build(ctx, slog.New(slog.DiscardHandler))
		if err != nil {
			return nil, err
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		srv := &http.Server{Handler: b.Server}
		go srv.Serve(ln)
		defer func() {
			srv.Close()
			b.Close(context.Background())
		}()
		urls = append(urls, "http://"+ln.Addr().String()+"/v1/chat/completions")
		sets = append(sets, b.Learned)
	}

	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}}
	var measuring atomic.Bool
	var mu sync.Mutex
	answers, samples := map[int]int64{}, map[int]string{}
	var wg sync.WaitGroup
	for a := range agents {
		t := target{name: "gateway", url: urls[a%len(urls)], auth: "Bearer " + secret}
		wg.Go(func() {
			for ctx.Err() == nil {
				code, text := post(ctx, client, t)
				if code == 0 {
					continue
				}
				mu.Lock()
				if measuring.Load() {
					answers[code]++
					if _, ok := samples[code]; !ok && code != 200 {
						samples[code] = text
					}
				}
				mu.Unlock()
			}
		})
	}
	var out []learnedFigures
	for i, rpm := range append([]int{sc.rpm}, sc.then...) {
		wholeStart := time.Now()
		first := emu.Stats().Total
		if i > 0 {
			if err := emu.SetLimits(model, emulator.Limits{RPM: rpm, Hidden: sc.hidden}); err != nil {
				return nil, err
			}
		}
		time.Sleep(warmup)
		before := emu.Stats().Total
		mu.Lock()
		answers, samples = map[int]int64{}, map[int]string{}
		mu.Unlock()
		measuring.Store(true)
		start := time.Now()
		time.Sleep(measure)
		after := emu.Stats().Total
		window := time.Since(start)
		measuring.Store(false)
		var learned []string
		for i, set := range sets {
			if set == nil {
				continue
			}
			for _, r := range set.Status() {
				learned = append(learned, fmt.Sprintf("replica %d: %s %s %d/min from %s (%d 429s, %d down, %d up)",
					i+1, r.Model, r.Dim, r.Limit, r.Source, r.Refusals, r.Decreases, r.Increases))
			}
		}
		mu.Lock()
		f := learnedFigures{rpm: rpm, served: after.Served - before.Served, upstream: after.Requests - before.Requests,
			limited: after.RateLimited - before.RateLimited, agents: answers, samples: samples, learned: learned, window: window}
		mu.Unlock()
		if i > 0 {
			f.wholeServed, f.wholeUpstream, f.wholeLimited = after.Served-first.Served, after.Requests-first.Requests,
				after.RateLimited-first.RateLimited
			f.whole = time.Since(wholeStart)
		}
		out = append(out, f)
	}
	cancel()
	wg.Wait()
	return out, nil
}

// post sends one chat request and returns its status and body; 0 when ctx ended it, -1
// when it failed.
func post(ctx context.Context, c *http.Client, t target) (int, string) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.url, strings.NewReader(string(body)))
	if err != nil {
		return 0, ""
	}
	req.Header.Set("Authorization", t.auth)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return 0, ""
		}
		return -1, err.Error()
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(data)
}

// parseLearned reads scenarios written HEADERS:REPLICAS[:MODE], comma-separated:
// "visible:1,hidden:1,hidden:3,hidden:1:off"; each runs at rpm, then at each of then.
func parseLearned(s string, rpm int, then []int) ([]learnedRun, error) {
	var out []learnedRun
	for part := range strings.SplitSeq(s, ",") {
		f := strings.Split(part, ":")
		if len(f) < 2 || len(f) > 3 || (f[0] != "visible" && f[0] != "hidden") {
			return nil, fmt.Errorf("scenario %q: want visible|hidden:REPLICAS[:MODE]", part)
		}
		n, err := strconv.Atoi(f[1])
		if err != nil || n < 1 {
			return nil, fmt.Errorf("scenario %q: replicas must be a positive number", part)
		}
		r := learnedRun{rpm: rpm, then: then, hidden: f[0] == "hidden", replicas: n, mode: config.LearnEnforce}
		if len(f) == 3 {
			r.mode = f[2]
		}
		out = append(out, r)
	}
	return out, nil
}

// requestModel returns the model that the agents' requests name, whose limit a phase moves.
func requestModel() (string, error) {
	var req struct {
		Model string `json:"model"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return "", fmt.Errorf("the request body: %w", err)
	}
	return req.Model, nil
}

// parseRPMs reads a comma-separated list of limits per minute: "60,200"; "" is none.
func parseRPMs(s string) ([]int, error) {
	if s == "" {
		return nil, nil
	}
	var out []int
	for part := range strings.SplitSeq(s, ",") {
		n, err := strconv.Atoi(part)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("-then %q: want positive requests per minute, comma-separated", s)
		}
		out = append(out, n)
	}
	return out, nil
}
