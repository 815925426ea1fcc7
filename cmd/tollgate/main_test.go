package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRunExitCodes(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte("limits: {rpm: -1}"), 0o600); err != nil {
		t.Fatal(err)
	}
	done, cancel := context.WithCancel(context.Background())
	cancel() // emulate serves until ctx is done: a done ctx starts and stops it at once
	cases := []struct {
		name   string
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{"no args", nil, 2, "", "usage: tollgate"},
		{"help", []string{"help"}, 0, "emulate", ""},
		{"help command", []string{"help", "emulate"}, 0, "", "-listen"},
		{"help unknown", []string{"help", "nope"}, 2, "", `unknown command "nope"`},
		{"unknown command", []string{"nope"}, 2, "", `unknown command "nope"`},
		{"bad flag", []string{"emulate", "--bogus"}, 2, "", "flag provided but not defined"},
		{"extra args", []string{"emulate", "extra"}, 2, "", "unexpected arguments"},
		{"bad config", []string{"emulate", "--config", bad}, 1, "", "Limits: negative limit"},
		{"missing config", []string{"emulate", "--config", bad + ".missing"}, 1, "", "no such file"},
		{"emulate", []string{"emulate", "--listen", "127.0.0.1:0", "--seed", "5"}, 0, "emulator stopped: 0 requests", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(done, tc.args, &stdout, &stderr)
			if code != tc.code || !strings.Contains(stdout.String(), tc.stdout) || !strings.Contains(stderr.String(), tc.stderr) {
				t.Errorf("run(%q) = %d, stdout %q, stderr %q; want %d, stdout containing %q, stderr containing %q",
					tc.args, code, stdout.String(), stderr.String(), tc.code, tc.stdout, tc.stderr)
			}
		})
	}
}

func TestAdminURL(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"127.0.0.1:9091", "http://127.0.0.1:9091"},
		{"0.0.0.0:9091", "http://127.0.0.1:9091"},
		{":9091", "http://127.0.0.1:9091"},
		{"[::]:9091", "http://127.0.0.1:9091"},
		{"10.0.0.5:9091", "http://10.0.0.5:9091"},
		{"https://admin.example.com/", "https://admin.example.com"},
	} {
		if got := adminURL(tt.in); got != tt.want {
			t.Errorf("adminURL(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
