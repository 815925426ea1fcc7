package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/tollgate/tollgate/internal/config"
)

// runConfig dispatches `tollgate config <subcommand>`; check is the only one.
func runConfig(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "usage: tollgate config check FILE")
		return fmt.Errorf("%w: want a subcommand: check", errUsage)
	}
	switch args[0] {
	case "check":
		return runConfigCheck(args[1:], stdout, stderr)
	case "-h", "-help", "--help":
		fmt.Fprintln(stderr, "usage: tollgate config check FILE\n\nValidates a configuration file and prints every problem, one per line,\nas FILE:LINE:COL: path: message; exits 1 when there is any.")
		return flag.ErrHelp
	}
	return fmt.Errorf("%w: unknown subcommand %q (want check)", errUsage, args[0])
}

// runConfigCheck validates FILE: every problem on stdout, one per line, and exit status 1;
// or a summary and status 0. Secrets are reported as set or missing, never shown.
func runConfigCheck(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("config check", stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: tollgate config check FILE\n\nValidates a configuration file and prints every problem, one per line,\nas FILE:LINE:COL: path: message; exits 1 when there is any.")
	}
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return err
		}
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("%w: want exactly one FILE, got %d arguments", errUsage, fs.NArg())
	}
	file := fs.Arg(0)
	n, err := config.Check(stdout, file, nil)
	if err != nil {
		return err
	}
	if n > 0 {
		return fmt.Errorf("%s: %d %s", file, n, map[bool]string{true: "problem", false: "problems"}[n == 1])
	}
	return nil
}
