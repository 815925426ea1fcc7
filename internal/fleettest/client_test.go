package fleettest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"strings"
	"testing"
	"time"
)

// newClient returns an HTTP client for many concurrent requests to a few gateways: one
// connection per request in flight, kept for reuse. Nothing retries: every request sent is
// a request counted.
func newClient(t testing.TB) *http.Client {
	tr := &http.Transport{MaxIdleConns: 4096, MaxIdleConnsPerHost: 4096, IdleConnTimeout: time.Minute}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// result is what a chat request got back.
type result struct {
	status  int
	header  http.Header
	body    []byte
	elapsed time.Duration
	err     error // transport error; status is 0
}

// errorBody is the OpenAI error JSON that tollgate answers with.
type errorBody struct {
	Error struct {
		Message string `json:"message"`
		Type    string `json:"type"`
		Code    string `json:"code"`
	} `json:"error"`
}

func (r *result) apiError() errorBody {
	var e errorBody
	_ = json.Unmarshal(r.body, &e)
	return e
}

// isBudgetRefusal reports whether r is tollgate's budget refusal: 429 (or 402), a distinct
// code, and x-should-retry: false so that the official SDKs do not retry it.
func (r *result) isBudgetRefusal() bool {
	if r.status != http.StatusTooManyRequests && r.status != http.StatusPaymentRequired {
		return false
	}
	return r.apiError().Error.Code == "insufficient_quota" && strings.EqualFold(r.header.Get("X-Should-Retry"), "false")
}

func (r *result) String() string {
	if r.err != nil {
		return r.err.Error()
	}
	return fmt.Sprintf("%d %s", r.status, bytes.TrimSpace(r.body))
}

// chat sends one non-streaming chat completion with the fleet's virtual key.
func chat(ctx context.Context, c *http.Client, baseURL, model string, maxTokens int) result {
	body := fmt.Sprintf(`{"model":%q,"max_tokens":%d,"messages":[{"role":"user","content":"Say something about fleets of gateways."}]}`,
		model, maxTokens)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, baseURL+"/chat/completions", strings.NewReader(body))
	if err != nil {
		return result{err: err}
	}
	req.Header.Set("Authorization", "Bearer "+virtualKey)
	req.Header.Set("Content-Type", "application/json")
	start := time.Now()
	resp, err := c.Do(req)
	if err != nil {
		return result{err: err, elapsed: time.Since(start)}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return result{status: resp.StatusCode, header: resp.Header, body: b, err: err, elapsed: time.Since(start)}
}

// get fetches path from a gateway's root (not under /v1).
func get(ctx context.Context, c *http.Client, g *gateway, path string) result {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+g.addr+path, nil)
	if err != nil {
		return result{err: err}
	}
	resp, err := c.Do(req)
	if err != nil {
		return result{err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return result{status: resp.StatusCode, header: resp.Header, body: b, err: err}
}

// budgetRemaining parses X-Tollgate-Budget-Remaining ("0.42 usd; quota=..."): the amount
// left, in micro-USD for a usd budget, converted exactly from its decimal text.
func budgetRemaining(h http.Header) (int64, error) {
	v := h.Get("X-Tollgate-Budget-Remaining")
	amount, unit, ok := strings.Cut(strings.TrimSpace(strings.Split(v, ";")[0]), " ")
	if !ok || unit != "usd" {
		return 0, fmt.Errorf("X-Tollgate-Budget-Remaining %q: want \"<dollars> usd; ...\"", v)
	}
	r, ok := new(big.Rat).SetString(amount)
	if !ok {
		return 0, fmt.Errorf("X-Tollgate-Budget-Remaining %q: bad amount", v)
	}
	r.Mul(r, big.NewRat(1_000_000, 1))
	if !r.IsInt() {
		return 0, fmt.Errorf("X-Tollgate-Budget-Remaining %q: finer than a micro-dollar", v)
	}
	return r.Num().Int64(), nil
}
