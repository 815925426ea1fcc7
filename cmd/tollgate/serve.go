package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	// The gateway's day and month budgets may name any IANA zone; embedding the database
	// (about 450 KB) keeps that working on hosts and containers without /usr/share/zoneinfo.
	_ "time/tzdata"

	"github.com/tollgate/tollgate/internal/config"
)

// closeTimeout bounds the ledger's final commits after the gateway has drained.
const closeTimeout = 30 * time.Second

// runServe runs the gateway until ctx is done (SIGINT or SIGTERM), then drains in-flight
// requests for up to shutdown_timeout, settles them, flushes the ledger and returns nil.
func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("serve", stderr)
	path := fs.String("config", "tollgate.yaml", "configuration `FILE`")
	format := fs.String("log-format", "text", "log format: text or json")
	level := fs.String("log-level", "info", "log level: debug, info, warn or error")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	logger, err := newLogger(stderr, *format, *level)
	if err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	// The first SIGINT or SIGTERM starts a graceful drain of up to shutdown_timeout; a
	// second one should not have to wait for it. Restoring the default handling once the
	// first has arrived makes the second end the process at once.
	stop := context.AfterFunc(ctx, func() {
		logger.Info("tollgate: draining; send the signal again to stop at once")
		signal.Reset(os.Interrupt, syscall.SIGTERM)
	})
	defer stop()
	return serve(ctx, *path, logger, nil)
}

// newLogger returns a slog logger writing text or JSON to w at level.
func newLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("-log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch strings.ToLower(format) {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("-log-format %q: want text or json", format)
}

// serve loads and builds the configuration at path and serves it until ctx is done. ready,
// when not nil, is called with the listening address once the gateway accepts connections
// (tests listen on port 0).
func serve(ctx context.Context, path string, logger *slog.Logger, ready func(net.Addr)) (err error) {
	cfg, err := config.Load(path)
	if err != nil {
		return err
	}
	b, err := cfg.Build(ctx, logger)
	if err != nil {
		return err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), closeTimeout)
		defer cancel()
		if cerr := b.Close(cctx); cerr != nil {
			err = errors.Join(err, cerr)
			return
		}
		st := b.Ledger.Stats()
		logger.Info("tollgate: stopped", "ledger_records", st.Committed, "ledger_pending", st.Pending)
	}()
	gw := b.Server
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", b.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	sum := cfg.Summary()
	logger.Info("tollgate: listening", "addr", ln.Addr().String(), "config", path, "summary", sum.String(),
		"upstreams", strings.Join(sum.UpstreamList, ", "), "secrets", sum.SecretsString(), "budgets_restored", len(b.Restored))
	for _, r := range b.NotRestored {
		logger.Warn("tollgate: budget not restored from the ledger; it starts from zero", "rule", r)
	}
	if ready != nil {
		ready(ln.Addr())
	}
	if err := gw.Serve(ctx, ln); err != nil {
		return err
	}
	return nil
}
