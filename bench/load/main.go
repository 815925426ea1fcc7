// Command load measures what tollgate's gateway adds to a request: an open-loop load at a
// fixed rate against the emulator directly and through the gateway, interleaved in the
// same run so that both see the same machine, then the maximum throughput of each with a
// closed loop. Three configurations: policies off, in-memory policies on (five quotas per
// request), and Redis policies on (a redis-server it starts itself, or --redis ADDR).
//
//	go run ./bench/load                       # all three, 1,000 req/s each for 10s
//	go run ./bench/load -configs memory -rate 500 -duration 5s
//
// With -learned it measures the learned limits instead (issue 14): the emulator enforces
// -rpm on every model, its headers visible or hidden, and -agents closed-loop agents call
// gateways built from a configuration with no quota, as `tollgate serve` builds them (one,
// or several over one Redis that it starts), for -warmup, then -measure:
//
//	go run ./bench/load -learned visible:1,hidden:1,hidden:3,hidden:1:off -rpm 120 -agents 20
//
// With -then the limit moves mid-run, a phase each (warm-up, then measured):
//
//	go run ./bench/load -learned hidden:1 -rpm 120 -then 60,200 -agents 20
//
// Nothing leaves the machine: every server listens on 127.0.0.1.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tollgate/tollgate/emulator"
	"github.com/tollgate/tollgate/engine"
	"github.com/tollgate/tollgate/gateway"
	"github.com/tollgate/tollgate/internal/redistest"
	"github.com/tollgate/tollgate/keys"
	"github.com/tollgate/tollgate/llm"
	"github.com/tollgate/tollgate/provider/openai"
	"github.com/tollgate/tollgate/quota"
	"github.com/tollgate/tollgate/redisstore"
)

const secret = "tg-load-key"

var body = []byte(`{"model":"gpt-4o-mini","max_tokens":16,"messages":[{"role":"user","content":"Say hello in five words."}]}`)

func main() {
	rate := flag.Int("rate", 1000, "open-loop requests per second to EACH target")
	duration := flag.Duration("duration", 10*time.Second, "length of each open-loop run")
	maxDuration := flag.Duration("max-duration", 5*time.Second, "length of each closed-loop run, split into rounds")
	rounds := flag.Int("rounds", 5, "closed-loop rounds: direct and gateway alternate, and the throughput ratio is the median of the rounds'")
	workers := flag.Int("workers", 64, "closed-loop concurrency")
	configs := flag.String("configs", "off,memory,redis", "configurations to measure")
	redisAddr := flag.String("redis", "", "use this Redis instead of starting one")
	learned := flag.String("learned", "", "measure learned limits instead: scenarios HEADERS:REPLICAS[:MODE], e.g. visible:1,hidden:3")
	rpm := flag.Int("rpm", 120, "with -learned: the emulator's hidden requests per minute")
	then := flag.String("then", "", "with -learned: limits per minute to move to mid-run, a phase each (warm-up, then measured), e.g. 60,200")
	agents := flag.Int("agents", 20, "with -learned: closed-loop agents")
	warmup := flag.Duration("warmup", time.Minute, "with -learned: warm-up before measuring")
	measure := flag.Duration("measure", 2*time.Minute, "with -learned: length of the measured window")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the whole run (load generator, emulator and gateways: one process) to this file")
	flag.Parse()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "load:", err)
			os.Exit(1)
		}
		defer func() { pprof.StopCPUProfile(); f.Close() }()
	}
	if *learned != "" {
		var scs []learnedRun
		thens, err := parseRPMs(*then)
		if err == nil {
			scs, err = parseLearned(*learned, *rpm, thens)
		}
		if err == nil {
			err = runLearned(scs, *agents, *warmup, *measure)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "load:", err)
			exit(1)
		}
		return
	}
	if err := run(*rate, *duration, *maxDuration, *rounds, *workers, strings.Split(*configs, ","), *redisAddr); err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		exit(1)
	}
}

// exit ends the run with code, after the CPU profile (if any) is written.
func exit(code int) {
	pprof.StopCPUProfile()
	os.Exit(code)
}

func run(rate int, d, maxD time.Duration, rounds, workers int, configs []string, redisAddr string) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	emu, err := emulator.Start(ctx, emulator.Config{Output: emulator.Output{MinTokens: 8, MaxTokens: 16}}, "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer emu.Close()
	client := &http.Client{Transport: &http.Transport{MaxIdleConns: 4096, MaxIdleConnsPerHost: 4096, IdleConnTimeout: time.Minute}}

	fmt.Printf("# gateway overhead, %d req/s open loop per target for %v, then %d workers closed loop for %v in %d alternating rounds\n",
		rate, d, workers, maxD, rounds)
	fmt.Printf("%-8s %-8s %9s %9s %9s %9s %8s %10s\n", "config", "target", "p50", "p90", "p99", "max", "errors", "max req/s")
	for _, name := range configs {
		gw, stop, err := startGateway(ctx, name, emu.URL(), redisAddr)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		direct := target{name: "direct", url: emu.URL() + "/v1/chat/completions", auth: "Bearer sk-emulator"}
		via := target{name: "gateway", url: gw + "/v1/chat/completions", auth: "Bearer " + secret}
		warm(client, direct, via)
		res := openLoop(client, rate, d, direct, via)
		// Direct and gateway alternate in short rounds, so that both see the same machine
		// (shared with other work); the ratio is the median of the rounds' ratios.
		thr := map[string]float64{}
		var ratios []float64
		for range rounds {
			dr := closedLoop(client, direct, workers, maxD/time.Duration(rounds))
			gr := closedLoop(client, via, workers, maxD/time.Duration(rounds))
			thr["direct"] += dr / float64(rounds)
			thr["gateway"] += gr / float64(rounds)
			ratios = append(ratios, gr/dr)
		}
		slices.Sort(ratios)
		ratio := ratios[len(ratios)/2]
		stop()
		for _, t := range []string{"direct", "gateway"} {
			r := res[t]
			fmt.Printf("%-8s %-8s %9s %9s %9s %9s %8d %10.0f\n", name, t, ms(r.pct(50)), ms(r.pct(90)), ms(r.pct(99)),
				ms(r.pct(100)), r.errors, thr[t])
		}
		g, dd := res["gateway"], res["direct"]
		fmt.Printf("%-8s %-8s %9s %9s %9s   (gateway minus direct; throughput ratio, median of %d rounds: %.2f, rounds %.2f)\n", name, "added",
			ms(g.pct(50)-dd.pct(50)), ms(g.pct(90)-dd.pct(90)), ms(g.pct(99)-dd.pct(99)), rounds, ratio, ratios)
	}
	return nil
}

func ms(d time.Duration) string { return fmt.Sprintf("%.3fms", float64(d)/float64(time.Millisecond)) }

type target struct{ name, url, auth string }

type result struct {
	lat    []time.Duration
	errors int
}

func (r *result) pct(p float64) time.Duration {
	if len(r.lat) == 0 {
		return 0
	}
	slices.Sort(r.lat)
	i := int(p / 100 * float64(len(r.lat)-1))
	return r.lat[i]
}

func send(c *http.Client, t target) error {
	req, _ := http.NewRequest("POST", t.url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", t.auth)
	req.Header.Set("X-Session-Id", "load")
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return err
	}
	if resp.StatusCode != 200 {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}

func warm(c *http.Client, ts ...target) {
	for range 200 {
		for _, t := range ts {
			_ = send(c, t)
		}
	}
}

// openLoop sends to each target at rate per second, interleaved, whatever the answers'
// latency (no coordinated omission: latency counts from the scheduled instant).
func openLoop(c *http.Client, rate int, d time.Duration, ts ...target) map[string]*result {
	n := int(d.Seconds() * float64(rate))
	res := map[string]*result{}
	for _, t := range ts {
		res[t.name] = &result{lat: make([]time.Duration, 0, n)}
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	interval := time.Second / time.Duration(rate*len(ts))
	start := time.Now()
	for i := range n * len(ts) {
		at := start.Add(time.Duration(i) * interval)
		if w := time.Until(at); w > 0 {
			time.Sleep(w)
		}
		t := ts[i%len(ts)]
		wg.Go(func() {
			err := send(c, t)
			lat := time.Since(at)
			mu.Lock()
			r := res[t.name]
			if err != nil {
				r.errors++
			} else {
				r.lat = append(r.lat, lat)
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	return res
}

func closedLoop(c *http.Client, t target, workers int, d time.Duration) float64 {
	var done atomic.Int64
	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				if send(c, t) == nil {
					done.Add(1)
				}
			}
		})
	}
	wg.Wait()
	return float64(done.Load()) / d.Seconds()
}

// startGateway starts a gateway in this process over the emulator with the named policies.
func startGateway(ctx context.Context, name, upstream, redisAddr string) (string, func(), error) {
	var rules quota.Rules
	var store quota.Store
	var cleanup []func()
	if name != "off" {
		rules = quota.Rules{
			{Name: "rpm", Scope: quota.Labels{Model: quota.Each}, Unit: quota.Requests, Limit: 1 << 40, Window: quota.PerMinute()},
			{Name: "tpm", Scope: quota.Labels{Model: quota.Each}, Unit: quota.Tokens, Limit: 1 << 50, Window: quota.PerMinute()},
			{Name: "concurrency", Unit: quota.Concurrent, Limit: 1 << 20, Window: quota.Leased()},
			{Name: "session-usd", Scope: quota.Labels{Session: quota.Each}, Unit: quota.MicroUSD, Limit: 1 << 62, Window: quota.Forever()},
			{Name: "daily-usd", Scope: quota.Labels{Tenant: quota.Each}, Unit: quota.MicroUSD, Limit: 1 << 62, Window: quota.Daily(time.UTC)},
		}
	}
	if name == "redis" {
		addr := redisAddr
		if addr == "" {
			dir, err := os.MkdirTemp("", "tollgate-load-redis")
			if err != nil {
				return "", nil, err
			}
			srv, err := redistest.StartProcess(dir)
			if err != nil {
				return "", nil, err
			}
			addr = srv.Addr()
			cleanup = append(cleanup, srv.Stop, func() { os.RemoveAll(dir) })
		}
		rc := redis.NewClient(&redis.Options{Addr: addr, PoolSize: 256})
		cleanup = append(cleanup, func() { rc.Close() })
		s, err := redisstore.New(rc, redisstore.Config{Timeout: time.Second})
		if err != nil {
			return "", nil, err
		}
		store = s
	} else if name != "off" && name != "memory" {
		return "", nil, fmt.Errorf("unknown configuration %q (want off, memory or redis)", name)
	}
	up, err := openai.New(openai.Config{BaseURL: upstream + "/v1", APIKey: "sk-emulator"})
	if err != nil {
		return "", nil, err
	}
	eng, err := engine.New(engine.Config{Providers: map[string]llm.Provider{"openai": up}, Rules: rules, Store: store,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return "", nil, err
	}
	// Without a Store the registry holds this key alone and runs nothing to close.
	reg, err := keys.Open(ctx, keys.Config{Static: []keys.Key{{ID: "load", Tenant: "load", Hash: keys.HashSecret(secret)}}})
	if err != nil {
		return "", nil, err
	}
	gw, err := gateway.New(gateway.Config{Engine: eng, Logger: slog.New(slog.DiscardHandler), Keys: reg})
	if err != nil {
		return "", nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	gctx, stop := context.WithCancel(ctx)
	served := make(chan struct{})
	go func() { _ = gw.Serve(gctx, ln); close(served) }()
	return "http://" + ln.Addr().String(), func() {
		stop()
		<-served
		eng.Close()
		for _, f := range slices.Backward(cleanup) {
			f()
		}
	}, nil
}
