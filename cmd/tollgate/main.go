// Command tollgate is the CLI of tollgate: the gateway, the demo, the provider emulator and
// the configuration and usage tools, one subcommand each.
//
// Usage:
//
//	tollgate <command> [flags]
//	tollgate help [command]
//
// Exit codes: 0 success, 1 failure, 2 usage error.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"syscall"
)

// command is one subcommand. run parses its own flags from args (with a flag.FlagSet built
// by newFlags) and returns errUsage, wrapped or not, for a usage error.
type command struct {
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

// commands lists the subcommands. Adding one is one entry here and its own file.
var commands = map[string]command{
	"demo":    {"see tollgate work: a swarm of agents calling the gateway over the emulator, with a report", runDemo},
	"emulate": {"run a fake OpenAI/Anthropic API with real limits, latency and faults", runEmulate},
	"usage":   {"print the spend the ledger recorded, grouped by session, agent, model or day", runUsage},
	"serve":   {"run the gateway: tollgate serve --config tollgate.yaml", runServe},
	"config":  {"check a configuration file: tollgate config check FILE", runConfig},
	"status":  {"print a running gateway's state from its admin API: spend, budgets, queue, breakers", runStatus},
}

// errUsage marks a usage error: exit status 2. flag.ErrHelp also exits 2 after the usage text.
var errUsage = errors.New("usage error")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run dispatches to a subcommand and maps its error to an exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	name, rest := args[0], args[1:]
	switch name {
	case "help", "-h", "-help", "--help":
		if len(rest) > 0 {
			if _, ok := commands[rest[0]]; ok {
				return run(ctx, []string{rest[0], "-h"}, stdout, stderr)
			}
			fmt.Fprintf(stderr, "tollgate: unknown command %q\n", rest[0])
			return 2
		}
		usage(stdout)
		return 0
	}
	cmd, ok := commands[name]
	if !ok {
		fmt.Fprintf(stderr, "tollgate: unknown command %q\n\n", name)
		usage(stderr)
		return 2
	}
	err := cmd.run(ctx, rest, stdout, stderr)
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		fmt.Fprintf(stderr, "tollgate %s: %v\n", name, err)
		return 2
	default:
		fmt.Fprintf(stderr, "tollgate %s: %v\n", name, err)
		return 1
	}
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: tollgate <command> [flags]\n\ncommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w, "\nRun 'tollgate help <command>' for its flags.")
}

// newFlags returns a FlagSet for a subcommand that reports errors instead of exiting and
// prints its usage to stderr.
func newFlags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("tollgate "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// parseFlags parses args and turns flag errors into usage errors; -h returns flag.ErrHelp.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected arguments %q", errUsage, fs.Args())
	}
	return nil
}
