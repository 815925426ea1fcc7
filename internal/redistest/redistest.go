// Package redistest starts a real redis-server for tests: the Redis store is tested against
// Redis itself, never a fake. Each Server is a child process on a free port with no
// persistence, killed when the test ends.
package redistest

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"
)

// EnvURL names the environment variable that points the tests at an existing server
// (redis://host:port/db) instead of starting one; its DB is flushed once per process.
const EnvURL = "TOLLGATE_TEST_REDIS_URL"

// Server is a redis-server for one test. Its methods are not safe for concurrent use.
type Server struct {
	addr string
	db   int
	dir  string
	cmd  *exec.Cmd
	done chan struct{}
	ext  bool
	// cluster runs the server as a one-node Redis Cluster owning every slot; clusterOK is
	// closed when its log says the cluster state is ok.
	cluster   bool
	clusterOK chan struct{}
}

var flushOnce sync.Once

// Start returns a running server: the one named by TOLLGATE_TEST_REDIS_URL if set, else a
// new redis-server process stopped in t.Cleanup. It fails the test (never skips it) when
// redis-server is not installed.
func Start(t testing.TB) *Server {
	t.Helper()
	if u := os.Getenv(EnvURL); u != "" {
		s, err := external(u)
		if err != nil {
			t.Fatalf("redistest: %s: %v", EnvURL, err)
		}
		return s
	}
	return StartLocal(t)
}

// StartLocal always starts a new redis-server process, for tests that stop and restart it.
func StartLocal(t testing.TB) *Server {
	t.Helper()
	s, err := StartProcess(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s
}

// StartCluster starts a one-node Redis Cluster that owns all 16384 slots, so that a
// redis.ClusterClient talks to it with Cluster's rules (slot routing, cross-slot checks).
func StartCluster(t testing.TB) *Server {
	t.Helper()
	s, err := startProcess(t.TempDir(), true)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	c := redis.NewClient(&redis.Options{Addr: s.addr})
	defer c.Close()
	if err := c.Do(context.Background(), "CLUSTER", "ADDSLOTSRANGE", 0, 16383).Err(); err != nil {
		t.Fatalf("redistest: CLUSTER ADDSLOTSRANGE: %v", err)
	}
	// The node turns writable a moment later (Redis waits before a master rejoins); its log
	// says when, which needs no polling.
	<-s.clusterOK
	return s
}

// StartProcess starts a redis-server with its files in dir, for a TestMain that has no
// testing.T. The caller must Stop it.
func StartProcess(dir string) (*Server, error) { return startProcess(dir, false) }

func startProcess(dir string, cluster bool) (*Server, error) {
	if _, err := exec.LookPath("redis-server"); err != nil {
		return nil, fmt.Errorf("redistest: redis-server not found on PATH (install it, e.g. apt-get install redis-server): %w", err)
	}
	s := &Server{dir: dir, cluster: cluster}
	var err error
	// The port is free when chosen but may be taken before redis binds it: try a few.
	for range 5 {
		var port int
		if port, err = freePort(); err != nil {
			return nil, err
		}
		s.addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		if err = s.start(); err == nil {
			return s, nil
		}
	}
	return nil, err
}

func external(raw string) (*Server, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, err
	}
	s := &Server{addr: u.Host, ext: true}
	if p := strings.Trim(u.Path, "/"); p != "" {
		if s.db, err = strconv.Atoi(p); err != nil {
			return nil, fmt.Errorf("bad db %q: %w", p, err)
		}
	}
	flushOnce.Do(func() {
		c := redis.NewClient(&redis.Options{Addr: s.addr, DB: s.db})
		defer c.Close()
		err = c.FlushDB(context.Background()).Err()
	})
	return s, err
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// start runs redis-server on s.addr and returns once it accepts connections: its log line
// says so, which needs no polling.
func (s *Server) start() error {
	_, port, _ := net.SplitHostPort(s.addr)
	args := []string{"--port", port, "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", s.dir, "--logfile", "", "--daemonize", "no"}
	if s.cluster {
		args = append(args, "--cluster-enabled", "yes", "--cluster-config-file", "nodes-"+port+".conf")
	}
	cmd := exec.Command("redis-server", args...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("redistest: start redis-server: %w", err)
	}
	ready := make(chan struct{})
	clusterOK := make(chan struct{})
	s.clusterOK = clusterOK
	var log strings.Builder
	go func() {
		sc := bufio.NewScanner(out)
		signalled, ok := false, false
		for sc.Scan() {
			if !signalled {
				log.WriteString(sc.Text() + "\n")
				if strings.Contains(sc.Text(), "Ready to accept connections") {
					signalled = true
					close(ready)
				}
			}
			if !ok && strings.Contains(sc.Text(), "Cluster state changed: ok") {
				ok = true
				close(clusterOK)
			}
		}
		_, _ = io.Copy(io.Discard, out)
		if !signalled {
			close(ready)
		}
		if !ok {
			close(clusterOK)
		}
	}()
	<-ready
	if !strings.Contains(log.String(), "Ready to accept connections") {
		_ = cmd.Wait()
		return fmt.Errorf("redistest: redis-server on %s did not start:\n%s", s.addr, log.String())
	}
	s.cmd = cmd
	s.done = make(chan struct{})
	go func() { _ = cmd.Wait(); close(s.done) }()
	c := redis.NewClient(&redis.Options{Addr: s.addr})
	defer c.Close()
	if err := c.Ping(context.Background()).Err(); err != nil {
		s.Stop()
		return fmt.Errorf("redistest: PING %s: %w", s.addr, err)
	}
	return nil
}

// Addr returns the server's host:port.
func (s *Server) Addr() string { return s.addr }

// DB returns the database number to use.
func (s *Server) DB() int { return s.db }

// Options returns go-redis options for the server, with context deadlines honoured.
func (s *Server) Options() *redis.Options {
	return &redis.Options{Addr: s.addr, DB: s.db, ContextTimeoutEnabled: true}
}

// Stop kills the server and waits for it to exit. Stopping a stopped server does nothing;
// an external server cannot be stopped.
func (s *Server) Stop() {
	if s.ext || s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	<-s.done
	s.cmd = nil
}

// Restart stops the server if it runs and starts a new one on the same address, empty.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	if s.ext {
		t.Fatalf("redistest: cannot restart the external server of %s; use StartLocal", EnvURL)
	}
	s.Stop()
	if err := s.start(); err != nil {
		t.Fatal(err)
	}
}
