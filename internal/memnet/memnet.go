// Package memnet is an in-memory network for tests: a net.Listener whose connections are
// net.Pipe pairs, so that a real net/http server and client talk over real HTTP inside a
// testing/synctest bubble, where goroutines blocked on a socket would keep the bubble's
// clock from advancing.
package memnet

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync"
)

// Listener is an in-memory net.Listener. Dial connects to it. It is safe for concurrent
// use.
type Listener struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

// Listen returns a new Listener.
func Listen() *Listener {
	return &Listener{conns: make(chan net.Conn), done: make(chan struct{})}
}

// Accept waits for the next connection.
func (l *Listener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

// Close stops the listener; waiting Accept and Dial calls fail.
func (l *Listener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

// Addr returns a placeholder address.
func (l *Listener) Addr() net.Addr { return addr{} }

// Dial connects to the listener, whatever network and address say; it has the signature
// of http.Transport.DialContext.
func (l *Listener) Dial(ctx context.Context, _, _ string) (net.Conn, error) {
	client, server := net.Pipe()
	select {
	case l.conns <- server:
		return client, nil
	case <-l.done:
		return nil, errors.New("memnet: listener closed")
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Serve serves h on a new Listener and returns a client for it, whose requests to any
// http:// URL reach h. Close stops both; call it before the synctest bubble ends.
func Serve(h http.Handler) (*http.Client, func()) {
	l := Listen()
	srv := &http.Server{Handler: h}
	go func() { _ = srv.Serve(l) }()
	tr := &http.Transport{DialContext: l.Dial}
	return &http.Client{Transport: tr}, func() {
		_ = srv.Close()
		tr.CloseIdleConnections()
	}
}

type addr struct{}

func (addr) Network() string { return "memnet" }
func (addr) String() string  { return "memnet" }
