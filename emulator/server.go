package emulator

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"
)

// Server is an Emulator listening on a TCP address. It owns its serving goroutine, which
// Close or Shutdown stops and waits for. Its methods are safe for concurrent use.
type Server struct {
	*Emulator
	ln       net.Listener
	srv      *http.Server
	stopCtx  func() bool
	done     chan struct{}
	serveErr error
	once     sync.Once
}

// Start listens on addr ("127.0.0.1:0" picks a free loopback port) and serves an Emulator
// built from cfg until ctx is done or Close or Shutdown is called.
func Start(ctx context.Context, cfg Config, addr string) (*Server, error) {
	e, err := New(cfg)
	if err != nil {
		return nil, err
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("emulator: listen: %w", err)
	}
	s := &Server{Emulator: e, ln: ln, done: make(chan struct{}),
		srv: &http.Server{Handler: e.Handler(), ReadHeaderTimeout: 10 * time.Second}}
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			s.serveErr = fmt.Errorf("emulator: serve: %w", err)
		}
	}()
	s.stopCtx = context.AfterFunc(ctx, func() { _ = s.srv.Close() })
	return s, nil
}

// URL returns the base URL, "http://host:port", without a trailing slash: OpenAI clients
// take URL()+"/v1/", Anthropic clients URL().
func (s *Server) URL() string { return "http://" + s.ln.Addr().String() }

// Shutdown stops accepting requests and waits for those in flight, until ctx is done.
func (s *Server) Shutdown(ctx context.Context) error {
	s.stopCtx()
	if err := s.srv.Shutdown(ctx); err != nil {
		return fmt.Errorf("emulator: shutdown: %w", err)
	}
	<-s.done
	return s.serveErr
}

// Close stops the server at once, dropping requests in flight, and waits for its
// goroutine. It is safe to call more than once.
func (s *Server) Close() error {
	s.stopCtx()
	_ = s.srv.Close()
	<-s.done
	return s.serveErr
}
