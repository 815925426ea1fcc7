package main

import (
	"context"
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
type learnedRun struct {
	rpm      int
	hidden   bool
	replicas int
	mode     string
}

func (r learnedRun) String() string {
	h := "visible"
	if r.hidden {
		h = "hidden"
	}
	return fmt.Sprintf("%d RPM, headers %s, %d replica(s), mode %s", r.rpm, h, r.replicas, r.mode)
}

// learnedFigures is what one scenario measured after its warm-up.
type learnedFigures struct {
	served, upstream, limited int64          // the emulator's, over the window
	agents                    map[int]int64  // the agents' answers by status; -1 a failed call
	samples                   map[int]string // the first body of each status but 200
	learned                   []string       // each replica's learned limits at the end
	window                    time.Duration  // measured
}

// runLearned measures each scenario: agents closed-loop agents for warmup, then for
// measure, and prints the capacity used (calls served over rpm × the window), the share
// of upstream calls refused and what the agents got.
func runLearned(scenarios []learnedRun, agents int, warmup, measure time.Duration) error {
	fmt.Printf("# learned limits: %d closed-loop agents through the gateway, no quota configured; %v warm-up, then %v measured\n",
		agents, warmup, measure)
	fmt.Printf("%-52s %9s %9s %9s %8s %s\n", "scenario", "served", "used", "upstream", "429s", "agents' answers")
	for _, sc := range scenarios {
		f, err := measureLearned(sc, agents, warmup, measure)
		if err != nil {
			return fmt.Errorf("%s: %w", sc, err)
		}
		capacity := float64(sc.rpm) * f.window.Minutes()
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
		fmt.Printf("%-52s %9d %8.1f%% %9d %7.2f%% %s\n", sc, f.served, 100*float64(f.served)/capacity, f.upstream,
			100*share, strings.Join(answers, " "))
		for _, l := range f.learned {
			fmt.Printf("    %s\n", l)
		}
		for code, b := range f.samples {
			fmt.Printf("    %d: %.200s\n", code, strings.TrimSpace(b))
		}
	}
	return nil
}

func measureLearned(sc learnedRun, agents int, warmup, measure time.Duration) (learnedFigures, error) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	emu, err := emulator.Start(ctx, emulator.Config{Output: emulator.Output{MinTokens: 8, MaxTokens: 16},
		Latency: emulator.Latency{FirstToken: 100 * time.Millisecond, TokensPerSecond: 200},
		Limits:  emulator.Limits{RPM: sc.rpm, Hidden: sc.hidden}}, "127.0.0.1:0")
	if err != nil {
		return learnedFigures{}, err
	}
	defer emu.Close()
	dir, err := os.MkdirTemp("", "tollgate-load-learned")
	if err != nil {
		return learnedFigures{}, err
	}
	defer os.RemoveAll(dir)
	redisLine := ""
	if sc.replicas > 1 {
		srv, err := redistest.StartProcess(dir)
		if err != nil {
			return learnedFigures{}, err
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
			return learnedFigures{}, err
		}
		c.LookupEnv = func(n string) (string, bool) { v, ok := env[n]; return v, ok }
		b, err := c.Build(ctx, slog.New(slog.DiscardHandler))
		if err != nil {
			return learnedFigures{}, err
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return learnedFigures{}, err
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
				if measuring.Load() {
					mu.Lock()
					answers[code]++
					if _, ok := samples[code]; !ok && code != 200 {
						samples[code] = text
					}
					mu.Unlock()
				}
			}
		})
	}
	time.Sleep(warmup)
	before := emu.Stats().Total
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
	cancel()
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	return learnedFigures{served: after.Served - before.Served, upstream: after.Requests - before.Requests,
		limited: after.RateLimited - before.RateLimited, agents: answers, samples: samples, learned: learned, window: window}, nil
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
// "visible:1,hidden:1,hidden:3,hidden:1:off".
func parseLearned(s string, rpm int) ([]learnedRun, error) {
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
		r := learnedRun{rpm: rpm, hidden: f[0] == "hidden", replicas: n, mode: config.LearnEnforce}
		if len(f) == 3 {
			r.mode = f[2]
		}
		out = append(out, r)
	}
	return out, nil
}
