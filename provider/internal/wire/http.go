package wire

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/tollgate/tollgate/llm"
)

// MaxBody bounds how much of a non-streaming upstream body is read: far above any real
// completion, low enough that a broken upstream cannot exhaust memory.
const MaxBody = 64 << 20

// ClientRequestIDHeader carries tollgate's request id to the upstream (llm.Call.RequestID):
// OpenAI documents it ("X-Client-Request-Id", up to 512 ASCII characters, logged with the
// call and quoted by its support); Anthropic ignores headers it does not know, and the
// emulator files its bill under it.
const ClientRequestIDHeader = "X-Client-Request-Id"

// NewClient returns an HTTP client tuned for a gateway that keeps many calls in flight to
// one upstream host: large keep-alive pools, HTTP/2 when offered, and no overall timeout
// (streams last as long as they last; the caller's context bounds each call).
func NewClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 1024
	t.MaxIdleConnsPerHost = 256
	t.IdleConnTimeout = 90 * time.Second
	t.ResponseHeaderTimeout = 0
	t.ForceAttemptHTTP2 = true
	return &http.Client{Transport: t}
}

// MaxEmbeddingsBody bounds an embeddings answer, which can be far larger than a
// completion: 2048 inputs of 3072 dimensions written as JSON numbers reach about 130 MB.
const MaxEmbeddingsBody = 256 << 20

// ReadBody reads a whole non-streaming body, at most MaxBody bytes.
func ReadBody(r io.Reader) ([]byte, error) { return ReadBodyLimit(r, MaxBody) }

// ReadBodyLimit reads a whole non-streaming body, at most limit bytes.
func ReadBodyLimit(r io.Reader, limit int) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, int64(limit)+1))
	if err != nil {
		return nil, err
	}
	if len(b) > limit {
		return nil, fmt.Errorf("upstream body larger than %d bytes", limit)
	}
	return b, nil
}

// Redact removes secret from s, so that no error text ever carries a credential even when
// an upstream or a transport error echoes it.
func Redact(s, secret string) string {
	if secret == "" || !strings.Contains(s, secret) {
		return s
	}
	return strings.ReplaceAll(s, secret, "[redacted]")
}

// redactedError keeps the chain of an error while redacting its text.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// TransportError classifies a failure to get (or to keep reading) a response: the caller's
// cancellation passes through wrapped, so that errors.Is(err, context.Canceled) holds and
// the engine does not count it against the upstream; deadlines and timeouts become
// KindTimeout; everything else KindConnection.
func TransportError(ctx context.Context, provider, secret string, err error) error {
	if errors.Is(ctx.Err(), context.Canceled) || errors.Is(err, context.Canceled) {
		return fmt.Errorf("%s: call canceled: %w", provider, context.Canceled)
	}
	if secret != "" && strings.Contains(err.Error(), secret) {
		err = &redactedError{msg: Redact(err.Error(), secret), err: err}
	}
	kind := llm.KindConnection
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout() {
		kind = llm.KindTimeout
	}
	return &llm.Error{Kind: kind, Provider: provider, Err: err}
}

// StatusKind is the classification of an HTTP status alone, before a provider looks at
// the body to refine it.
func StatusKind(status int) llm.Kind {
	switch {
	case status == http.StatusTooManyRequests:
		return llm.KindRateLimited
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return llm.KindAuth
	case status == http.StatusRequestTimeout:
		return llm.KindTimeout
	case status == http.StatusPaymentRequired:
		return llm.KindQuotaExhausted
	case status == http.StatusRequestEntityTooLarge:
		return llm.KindTooLarge
	case status == http.StatusServiceUnavailable || status == 529:
		return llm.KindOverloaded
	case status == http.StatusConflict: // lock contention upstream; the SDKs retry it too
		return llm.KindServer
	case status >= 500:
		return llm.KindServer
	case status >= 400:
		return llm.KindBadRequest
	}
	return llm.KindUnknown
}
