package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"golang.org/x/term"

	"github.com/tollgate/tollgate/internal/demo"
)

// runDemo runs the demo: the emulator, the engine over the real provider adapters, the
// gateway over the engine and a swarm of agents calling it with the official OpenAI SDK
// (with -direct, calling the engine in-process), with live progress and a report. It fails (exit 1) when an invariant of
// the report breaks, after saying which.
func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("demo", stderr)
	duration := fs.Duration("duration", demo.DefaultDuration, "how long agents keep starting requests")
	agents := fs.Int("agents", 40, "number of simulated agents")
	sessions := fs.Int("sessions", 8, "number of sessions (each with its own budget) the agents share")
	seed := fs.Uint64("seed", 1, "random seed for the emulator and the agents")
	html := fs.String("html", filepath.Join(os.TempDir(), "tollgate-demo.html"), `path of the HTML report; "" writes none`)
	quiet := fs.Bool("quiet", false, "no live progress, only the final report")
	direct := fs.Bool("direct", false, "agents call the engine in-process instead of the gateway over HTTP")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *duration <= 0 || *agents <= 0 || *sessions <= 0 {
		return fmt.Errorf("%w: -duration, -agents and -sessions must be positive", errUsage)
	}
	if *html != "" {
		abs, err := filepath.Abs(*html)
		if err != nil {
			return fmt.Errorf("%w: -html: %w", errUsage, err)
		}
		*html = abs
	}
	terminal, width := false, 0
	if f, ok := stdout.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		terminal = true
		width, _, _ = term.GetSize(int(f.Fd()))
	}
	rep, err := demo.Run(ctx, demo.Config{Duration: *duration, Agents: *agents, Sessions: *sessions, Seed: *seed,
		Out: stdout, HTML: *html, Terminal: terminal, Width: width, Quiet: *quiet, Direct: *direct})
	if err != nil {
		return err
	}
	if err := rep.Check(); err != nil {
		return fmt.Errorf("invariant broken:\n%w", err)
	}
	if rep.Interrupted {
		return fmt.Errorf("interrupted: %w", context.Cause(ctx))
	}
	return nil
}
