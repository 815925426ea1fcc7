// Package pgtest gives tests a real PostgreSQL: the PostgreSQL ledger is tested against
// PostgreSQL itself, never a fake. One server is started per test binary, on first use, by
// initdb and postgres from the machine's PostgreSQL installation (/usr/lib/postgresql/*/bin
// or PATH), on a free loopback port with its files in a temporary directory; every test
// gets a database of its own on it. The server is a child process of the test binary,
// stopped when the tests end (and, on Linux, killed with the binary if it dies first).
//
// When TOLLGATE_TEST_POSTGRES_URL is set, tests use that server instead and create their
// databases on it (the URL's user needs CREATEDB).
//
// A test that needs PostgreSQL fails, never skips, when it is not installed.
//
// Use it from TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }
//
// and in a test:
//
//	url := pgtest.Database(t) // postgres://...; an empty database for this test
package pgtest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvURL names the environment variable that points the tests at an existing server
// (postgres://user:password@host:port/db) instead of starting one.
const EnvURL = "TOLLGATE_TEST_POSTGRES_URL"

// Server is a running PostgreSQL. Its methods are safe for concurrent use.
type Server struct {
	admin string // URL of a database to connect to for CREATE DATABASE
	dir   string // the data directory of a server we started; "" for an external one
	cmd   *exec.Cmd
	done  chan struct{}
	seq   atomic.Int64
}

// The per-binary server: started by the first Database call inside Main, stopped by Main.
var (
	mainActive atomic.Bool
	startOnce  sync.Once
	shared     *Server
	startErr   error
)

// Main runs the tests of m and then stops the server if a test started one. It returns
// m.Run's exit code, for os.Exit.
func Main(m *testing.M) int {
	mainActive.Store(true)
	code := m.Run()
	if shared != nil {
		shared.Stop()
	}
	return code
}

// Database returns the URL of a new, empty database for t on the binary's server, which is
// started on first use. It fails t when PostgreSQL cannot be started (for example when it
// is not installed), and when the test binary's TestMain does not call Main.
func Database(t testing.TB) string {
	t.Helper()
	s := Shared(t)
	u, err := s.NewDatabase(context.Background())
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	if s.dir == "" {
		// An external server outlives the test: leave nothing behind on it.
		t.Cleanup(func() {
			if err := s.dropDatabase(context.Background(), u); err != nil {
				t.Errorf("pgtest: %v", err)
			}
		})
	}
	return u
}

// Shared returns the binary's server, starting it on first use. It fails t as Database
// does.
func Shared(t testing.TB) *Server {
	t.Helper()
	if !mainActive.Load() {
		t.Fatal("pgtest: the package's TestMain must call pgtest.Main, which stops the server")
	}
	startOnce.Do(func() {
		if u := os.Getenv(EnvURL); u != "" {
			shared, startErr = external(u)
			return
		}
		shared, startErr = Start()
	})
	if startErr != nil {
		t.Fatalf("pgtest: %v", startErr)
	}
	return shared
}

func external(raw string) (*Server, error) {
	if _, err := pgx.ParseConfig(raw); err != nil {
		return nil, fmt.Errorf("%s: %w", EnvURL, err)
	}
	return &Server{admin: raw}, nil
}

// Start starts a new server in a new temporary directory, for callers outside Main (a
// benchmark program). The caller must Stop it.
func Start() (*Server, error) {
	bin, err := binDir()
	if err != nil {
		return nil, err
	}
	cred, err := credential()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "tollgate-pgtest-")
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*Server, error) {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	data := filepath.Join(dir, "data")
	if cred != nil {
		// initdb refuses to run as root: the server runs as an unprivileged user, who must
		// own the directory.
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			return fail(err)
		}
	}
	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", data, "-U", "postgres", "--auth=trust",
		"--encoding=UTF8", "--locale=C", "--no-sync", "--no-instructions")
	initdb.Dir = dir
	initdb.SysProcAttr = procAttr(cred)
	initdb.Env = childEnv(dir)
	if out, err := initdb.CombinedOutput(); err != nil {
		return fail(fmt.Errorf("initdb: %w\n%s", err, out))
	}
	s := &Server{dir: dir}
	// The port is free when chosen but may be taken before postgres binds it: try a few.
	for range 5 {
		var port int
		if port, err = freePort(); err != nil {
			return fail(err)
		}
		if err = s.start(bin, data, port, cred); err == nil {
			return s, nil
		}
	}
	return fail(err)
}

// binDir finds the directory of initdb and postgres: the newest version under
// /usr/lib/postgresql (Debian and Ubuntu), else PATH.
func binDir() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(dirs, func(a, b string) int { return version(b) - version(a) })
	for _, d := range dirs {
		if isExec(filepath.Join(d, "initdb")) && isExec(filepath.Join(d, "postgres")) {
			return d, nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		if d := filepath.Dir(p); isExec(filepath.Join(d, "postgres")) {
			return d, nil
		}
	}
	return "", errors.New("PostgreSQL not found under /usr/lib/postgresql/*/bin nor on PATH (install it, e.g. apt-get install postgresql; or set " + EnvURL + ")")
}

// version reads the major version of /usr/lib/postgresql/NN/bin.
func version(binDir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return v
}

func isExec(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir() && st.Mode()&0o111 != 0
}

// credential returns the unprivileged user to run PostgreSQL as when the tests run as root
// (postgres, else nobody), and nil otherwise.
func credential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}
		uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
		gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
		if err1 != nil || err2 != nil {
			continue
		}
		return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), NoSetGroups: true}, nil
	}
	return nil, errors.New("running as root and no unprivileged user (postgres or nobody) to run PostgreSQL as")
}

// childEnv is the environment of initdb and postgres: the test's, with a HOME they can
// use and the C locale.
func childEnv(dir string) []string {
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool {
		return strings.HasPrefix(kv, "HOME=") || strings.HasPrefix(kv, "LC_") || strings.HasPrefix(kv, "LANG=") ||
			strings.HasPrefix(kv, "PG")
	})
	return append(env, "HOME="+dir, "LC_ALL=C")
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// readyLine is what postgres logs once it accepts connections.
const readyLine = "database system is ready to accept connections"

// start runs postgres on port and returns once it accepts connections: its log says so,
// which needs no polling.
func (s *Server) start(bin, data string, port int, cred *syscall.Credential) error {
	cmd := exec.Command(filepath.Join(bin, "postgres"), "-D", data, "-p", strconv.Itoa(port),
		"-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories="+s.dir,
		"-c", "max_connections=400", "-c", "logging_collector=off", "-c", "log_min_messages=warning",
		"-c", "log_destination=stderr")
	cmd.Dir = s.dir
	cmd.SysProcAttr = procAttr(cred)
	cmd.Env = childEnv(s.dir)
	out, err := cmd.StderrPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start postgres: %w", err)
	}
	ready := make(chan bool, 1)
	var log strings.Builder
	go func() {
		sc := bufio.NewScanner(out)
		signalled := false
		for sc.Scan() {
			if signalled {
				continue
			}
			log.WriteString(sc.Text() + "\n")
			if strings.Contains(sc.Text(), readyLine) {
				signalled = true
				ready <- true
			}
		}
		_, _ = io.Copy(io.Discard, out)
		if !signalled {
			ready <- false
		}
	}()
	if !<-ready {
		_ = cmd.Wait()
		return fmt.Errorf("postgres on port %d did not start:\n%s", port, log.String())
	}
	s.cmd = cmd
	s.done = make(chan struct{})
	go func() { _ = cmd.Wait(); close(s.done) }()
	s.admin = (&url.URL{Scheme: "postgres", User: url.User("postgres"),
		Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), Path: "/postgres", RawQuery: "sslmode=disable"}).String()
	return nil
}

// URL returns the URL of the server's administrative database ("postgres").
func (s *Server) URL() string { return s.admin }

// NewDatabase creates a new, empty database and returns its URL.
func (s *Server) NewDatabase(ctx context.Context) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, s.admin)
	if err != nil {
		return "", fmt.Errorf("connect %s: %w", redact(s.admin), err)
	}
	defer conn.Close(ctx)
	name := fmt.Sprintf("tg_%d_%d", os.Getpid(), s.seq.Add(1))
	// The template is tiny: copying its files is faster than logging them to the WAL.
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name+" STRATEGY FILE_COPY"); err != nil {
		if _, err2 := conn.Exec(ctx, "CREATE DATABASE "+name); err2 != nil {
			return "", fmt.Errorf("create database: %w", err)
		}
	}
	u, err := url.Parse(s.admin)
	if err != nil {
		return "", err
	}
	u.Path = "/" + name
	return u.String(), nil
}

func (s *Server) dropDatabase(ctx context.Context, dbURL string) error {
	u, err := url.Parse(dbURL)
	if err != nil {
		return err
	}
	conn, err := pgx.Connect(ctx, s.admin)
	if err != nil {
		return fmt.Errorf("connect %s: %w", redact(s.admin), err)
	}
	defer conn.Close(ctx)
	name := strings.TrimPrefix(u.Path, "/")
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("drop database %s: %w", name, err)
	}
	return nil
}

// redact hides a URL's password.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

// Stop stops a server that Start started and removes its files; it waits for the exit.
// Stopping an external server, or a stopped one, does nothing.
func (s *Server) Stop() {
	if s.cmd == nil {
		return
	}
	// SIGQUIT is PostgreSQL's immediate shutdown: nothing here needs to survive.
	_ = s.cmd.Process.Signal(syscall.SIGQUIT)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
	s.cmd = nil
	_ = os.RemoveAll(s.dir)
}
