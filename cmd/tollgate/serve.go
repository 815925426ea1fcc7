package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
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

// runServe runs the gateway (and the admin listener, when configured) until ctx is done
// (SIGINT or SIGTERM), then drains in-flight requests for up to shutdown_timeout, settles
// them, flushes the ledger and returns nil. SIGHUP reloads the configuration file.
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
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	return serve(ctx, serveConfig{path: *path, logger: logger, reload: hup})
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

// serveConfig is what serve runs.
type serveConfig struct {
	path   string
	logger *slog.Logger
	// reload delivers a signal for each reload of the file (SIGHUP); nil means none.
	reload <-chan os.Signal
	// ready, when set, is called with the listeners' addresses once they accept
	// connections (admin is nil without an admin listener); tests listen on port 0.
	ready func(gateway, admin net.Addr)
}

// adminShutdown bounds the admin listener's shutdown, after the gateway's drain: its
// requests are short reads of state.
const adminShutdown = 5 * time.Second

// serve loads and builds the configuration at sc.path and serves it until ctx is done.
func serve(ctx context.Context, sc serveConfig) (err error) {
	logger := sc.logger
	cfg, err := config.Load(sc.path)
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
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", b.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	var adminAddr net.Addr
	var adminDone chan error
	if b.Admin != nil {
		aln, err := lc.Listen(ctx, "tcp", b.AdminListen)
		if err != nil {
			ln.Close()
			return fmt.Errorf("admin.listen: %w", err)
		}
		adminAddr = aln.Addr()
		srv := &http.Server{Handler: b.Admin, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute,
			IdleTimeout: 2 * time.Minute, ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn)}
		adminDone = make(chan error, 1)
		// Serve returns at Shutdown, or when the listener fails (then logged by the server).
		go func() { adminDone <- srv.Serve(aln) }()
		defer func() {
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), adminShutdown)
			defer cancel()
			if srv.Shutdown(sctx) != nil {
				_ = srv.Close()
			}
			<-adminDone
		}()
	}
	sum := cfg.Summary()
	attrs := []any{"addr", ln.Addr().String(), "config", sc.path, "summary", sum.String(),
		"upstreams", strings.Join(sum.UpstreamList, ", "), "secrets", sum.SecretsString(), "budgets_restored", len(b.Restored)}
	if adminAddr != nil {
		attrs = append(attrs, "admin", adminAddr.String())
	}
	logger.Info("tollgate: listening", attrs...)
	if adminAddr != nil {
		logger.Info("tollgate: admin listening: the dashboard is at http://"+adminAddr.String()+"/admin/", "admin", adminAddr.String())
	}
	if sum.Metrics == "" {
		logger.Warn("tollgate: GET /metrics is served nowhere: metrics.listener is admin and there is no admin section")
	}
	for _, r := range b.NotRestored {
		logger.Warn("tollgate: budget not restored from the ledger; it starts from zero", "rule", r)
	}
	if sc.ready != nil {
		sc.ready(ln.Addr(), adminAddr)
	}
	reloadCtx, stopReload := context.WithCancel(ctx)
	reloaded := make(chan struct{})
	go func() {
		defer close(reloaded)
		reloadLoop(reloadCtx, sc, b)
	}()
	// No reload may start once the parts begin to close.
	defer func() {
		stopReload()
		<-reloaded
	}()
	return b.Server.Serve(ctx, ln)
}

// reloadLoop reloads the configuration file at each signal of sc.reload until ctx is done.
func reloadLoop(ctx context.Context, sc serveConfig, b *config.Built) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-sc.reload:
			reload(sc.path, sc.logger, b)
		}
	}
}

// reload reads the file at path and applies it to b, logging every problem of a file that
// cannot be applied (the running configuration then stays), what was applied, and every
// change that waits for a restart.
func reload(path string, logger *slog.Logger, b *config.Built) {
	logger.Info("tollgate: reloading the configuration", "config", path)
	next, err := config.Load(path)
	var r config.Reloaded
	if err == nil {
		r, err = b.Reload(next)
	}
	if err != nil {
		var ps config.Problems
		if errors.As(err, &ps) {
			for _, p := range ps {
				logger.Error("tollgate: configuration problem", "problem", p.String())
			}
			logger.Error("tollgate: reload refused: the running configuration stays", "config", path, "problems", len(ps))
			return
		}
		logger.Error("tollgate: reload refused: the running configuration stays", "config", path, "err", err)
		return
	}
	for _, f := range r.Restart {
		logger.Warn("tollgate: configuration change needs a restart; the running value stays until then", "field", f)
	}
	logger.Info("tollgate: configuration reloaded", "config", path, "applied", strings.Join(r.Applied, ", "),
		"needs_restart", strings.Join(r.Restart, ", "))
}
