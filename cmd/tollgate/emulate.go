package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/tollgate/tollgate/emulator"
)

// runEmulate serves the emulator until ctx is done (SIGINT or SIGTERM), then shuts down
// gracefully and prints the counters. While it runs, GET /emulator/bill lists the
// per-request bills and GET /emulator/stats the counters, as JSON.
func runEmulate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("emulate", stderr)
	listen := fs.String("listen", "127.0.0.1:8081", "address to listen on")
	configPath := fs.String("config", "", "YAML or JSON emulator config file (default: no limits, no faults, no latency)")
	seed := fs.Uint64("seed", 0, "random seed; overrides the config's seed when set")
	verbose := fs.Bool("v", false, "log every refused request")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	var cfg emulator.Config
	if *configPath != "" {
		var err error
		if cfg, err = emulator.LoadConfig(*configPath); err != nil {
			return err
		}
	}
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "seed" {
			cfg.Seed = *seed
		}
	})
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	cfg.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	srv, err := emulator.Start(context.WithoutCancel(ctx), cfg, *listen)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "emulator listening on %s (OpenAI base URL %s/v1, Anthropic base URL %s); bills at %s/emulator/bill, counters at %s/emulator/stats, limits at %s/emulator/limits/{model} (GET, PUT)\n",
		srv.URL(), srv.URL(), srv.URL(), srv.URL(), srv.URL(), srv.URL())
	<-ctx.Done()
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		_ = srv.Close()
		return err
	}
	st := srv.Stats().Total
	fmt.Fprintf(stdout, "emulator stopped: %d requests, %d served, %d billed, refused %v, tokens in %d (cache read %d, written %d) out %d (reasoning %d), list cost %d micro-USD\n",
		st.Requests, st.Served, st.Billed, st.Refused, st.InputTokens, st.CachedInputTokens, st.CacheWriteTokens,
		st.OutputTokens, st.ReasoningTokens, st.CostMicroUSD)
	return nil
}
