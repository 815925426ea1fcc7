package tollgate

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"

	anoption "github.com/anthropics/anthropic-sdk-go/option"
	oaoption "github.com/openai/openai-go/v3/option"

	"github.com/tollgate/tollgate/engine"
	"github.com/tollgate/tollgate/gateway"
	"github.com/tollgate/tollgate/llm"
	"github.com/tollgate/tollgate/provider/anthropic"
	"github.com/tollgate/tollgate/provider/openai"
)

// OpenAI returns middleware for the official OpenAI Go SDK (github.com/openai/openai-go/v3)
// that runs every chat completion (POST …/chat/completions, streamed or not) through eng,
// in-process, and answers it as the gateway would:
//
//	client := openai.NewClient(
//		option.WithMiddleware(tollgate.OpenAI(eng)),
//		option.WithMaxRetries(0), // tollgate retries and falls back; the SDK must not retry too
//	)
//
// The SDK's other requests (embeddings, the Responses API, files, models, …) pass through
// to the SDK's own transport, to its base URL with its API key, neither metered nor
// limited. eng must not be nil. The middleware is safe for concurrent use, and any number
// of clients may share one engine.
func OpenAI(eng *engine.Engine) oaoption.Middleware {
	if eng == nil {
		panic("tollgate: OpenAI: nil engine")
	}
	return func(req *http.Request, next oaoption.MiddlewareNext) (*http.Response, error) {
		if req.Method != http.MethodPost || !strings.HasSuffix(req.URL.Path, "/chat/completions") {
			return next(req)
		}
		return serve(eng, req, llm.OpenAI)
	}
}

// Anthropic returns middleware for the official Anthropic Go SDK
// (github.com/anthropics/anthropic-sdk-go) that runs every message (POST …/v1/messages,
// streamed or not, beta included) through eng, in-process, and answers it as the gateway
// would:
//
//	client := anthropic.NewClient(
//		option.WithMiddleware(tollgate.Anthropic(eng)),
//		option.WithMaxRetries(0), // tollgate retries and falls back; the SDK must not retry too
//	)
//
// The request's anthropic-beta header goes upstream with it when an Anthropic model
// serves it. The SDK's other requests (count_tokens, batches, files, models, …) pass
// through to the SDK's own transport, to its base URL with its API key, neither metered
// nor limited. eng must not be nil. The middleware is safe for concurrent use, and any
// number of clients may share one engine.
func Anthropic(eng *engine.Engine) anoption.Middleware {
	if eng == nil {
		panic("tollgate: Anthropic: nil engine")
	}
	return func(req *http.Request, next anoption.MiddlewareNext) (*http.Response, error) {
		if req.Method != http.MethodPost || !strings.HasSuffix(req.URL.Path, "/v1/messages") {
			return next(req)
		}
		return serve(eng, req, llm.Anthropic)
	}
}

// serve runs one SDK request of format f through eng and returns the answer that the
// gateway would have sent: whole, or with a streamed body that relays the engine's stream
// as it is read.
func serve(eng *engine.Engine, hr *http.Request, f llm.Format) (*http.Response, error) {
	body, err := readBody(hr)
	if err != nil {
		return nil, fmt.Errorf("tollgate: reading the SDK's request body: %w", err)
	}
	// Every answer, refusals included, names the request as the gateway's do: the SDKs
	// report these headers as the request id of an answer or an error, and the ledger
	// has the same id.
	id := llm.NewRequestID()
	h := http.Header{}
	gateway.SetRequestID(h, f, id)
	r := gateway.Render{Format: f}
	req, includeUsage, hint, err := parse(f, body)
	if err != nil {
		w := &buffered{header: h}
		r.Error(w, err)
		return w.response(hr), nil
	}
	h[gateway.HeaderRoute] = []string{req.Model}
	r.Stream, r.IncludeUsage = req.Stream, includeUsage

	ctx := hr.Context()
	req.ID = id
	req.Identity = IdentityFrom(ctx)
	if req.Identity.Session == "" {
		req.Identity.Session = hint
	}
	if beta := hr.Header.Get("Anthropic-Beta"); beta != "" && f == llm.Anthropic {
		ctx = anthropic.WithBeta(ctx, beta)
	}
	// The request's own context bounds it (its deadline is the request's deadline);
	// cancel also ends a stream whose body the SDK closed before its end.
	ctx, cancel := context.WithCancel(ctx)
	res, err := eng.Do(ctx, req)
	if err != nil || res.Response.Stream == nil {
		defer cancel()
		w := &buffered{header: h}
		r.Result(ctx, w, res, err)
		return w.response(hr), nil
	}
	return relay(ctx, cancel, r, res, h, hr), nil
}

// parse reads an SDK's body: the request, the OpenAI stream_options.include_usage, and
// the body's session hint (OpenAI "user", Anthropic metadata.user_id).
func parse(f llm.Format, body []byte) (req *llm.Request, includeUsage bool, hint string, err error) {
	if f == llm.Anthropic {
		req, info, err := anthropic.ParseRequestInfo(body)
		return req, false, info.SessionHint, err
	}
	req, info, err := openai.ParseRequestInfo(body)
	return req, info.IncludeUsage, info.SessionHint, err
}

func readBody(hr *http.Request) ([]byte, error) {
	if hr.Body == nil {
		return nil, nil
	}
	defer hr.Body.Close()
	return io.ReadAll(hr.Body)
}
