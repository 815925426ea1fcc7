package gateway

import (
	"context"
	"net/http"
	"strconv"

	"github.com/tollgate/tollgate/engine"
	"github.com/tollgate/tollgate/llm"
	"github.com/tollgate/tollgate/provider/anthropic"
	"github.com/tollgate/tollgate/provider/openai"
)

// Render writes what engine.Engine.Do returned, an answer or a refusal, to a caller of one
// wire format, as the gateway's endpoints answer: the same status, body and headers (see
// the package documentation's Answers and Errors). It is the one copy of that rendering:
// the gateway's handlers use it, and so does the SDK middleware of package tollgate, so
// that a refusal reads the same to an agent in-process as over HTTP.
//
// A Render is a value describing one request; it holds no state and its methods may run
// concurrently. The caller sets the headers that name the request (SetRequestID,
// HeaderRoute) on w itself, before calling a method.
type Render struct {
	// Format is the caller's wire format; an answer of another format (a cross-provider
	// fallback, the cache, a static step) is re-encoded in it.
	Format llm.Format
	// Stream says that the caller asked for a stream: an answer that came whole (from the
	// cache or a static step) is then replayed as a stream.
	Stream bool
	// IncludeUsage says that an OpenAI stream re-encoded from another format ends with a
	// usage chunk: the caller's stream_options.include_usage.
	IncludeUsage bool
	// BudgetStatus is the status of a budget refusal, as Config.BudgetStatus: 0 (429) or
	// 402.
	BudgetStatus int
}

// Rendered says what a Render wrote, for the request's log line and metrics.
type Rendered struct {
	// Status is the HTTP status sent: 200 for an answer (also for a stream that ended in
	// an error event), the refusal's status, or 499 when the caller went away before the
	// answer was written.
	Status int
	// Outcome labels the request in the log and the requests metric: ok, fallback,
	// cached, static for answers; budget_exceeded, rate_limited, queue_full, upstream_error,
	// stream_error, cancelled and the others of the package documentation for failures.
	Outcome string
	// Source is who refused a failed request, as HeaderErrorSource says: "tollgate" or
	// "upstream"; empty for an answer.
	Source string
	// Err is the message the caller got for a refusal, or the error that ended a stream;
	// empty for an answer.
	Err string
}

// Result writes what Do returned: the refusal of err (with what res says of the chain:
// a budget's final refusal wins over a later transient failure, and a route none of whose
// steps reached an upstream failed in tollgate), or the answer of res with the headers of
// the package documentation's Answers.
//
// A streamed answer is relayed event by event as it arrives, each flushed when w is an
// http.Flusher; its status waits for the first event, so that an upstream that fails
// before it is still answered with an HTTP error, and a failure after it ends the stream
// with an error event in the caller's format. The stream is closed on every path, which
// settles its reservation; Result returns when it has ended or a write to w failed (the
// caller went away). ctx is the request's: its end is reported in preference to the read
// error that it caused upstream.
func (r Render) Result(ctx context.Context, w http.ResponseWriter, res *engine.Result, err error) Rendered {
	if err != nil {
		return r.refuse(w, classifyResult(err, res))
	}
	resp := res.Response
	// The model that served as the upstream reports it (a dated id), or the cached or
	// static answer's.
	model := resp.Model
	out := Rendered{Status: http.StatusOK, Outcome: successOutcome(res)}
	h := w.Header()
	answerHeaders(h, res, model)
	switch {
	case resp.Stream != nil:
		r.relay(ctx, w, resp, model, &out)
	case r.Stream:
		r.replay(w, resp, model, &out)
	default:
		b := resp.Body
		if resp.Format != r.Format || len(b) == 0 {
			b = encodeAnswer(r.Format, resp, model)
		}
		h[headerContentType] = valueJSON
		h[headerContentLength] = []string{strconv.Itoa(len(b))}
		w.WriteHeader(http.StatusOK)
		w.Write(b)
	}
	return out
}

// Error writes the refusal of an error that came before Do, such as a body that does not
// parse (400 invalid_request_error with the parser's message), or from it without a Result.
func (r Render) Error(w http.ResponseWriter, err error) Rendered {
	return r.refuse(w, classify(err))
}

// refuse writes e in the caller's format.
func (r Render) refuse(w http.ResponseWriter, e *apiError) Rendered {
	writeError(w, r.Format, e, r.BudgetStatus)
	return Rendered{Status: e.statusFor(r.Format, r.BudgetStatus), Outcome: e.outcome, Source: e.source(), Err: e.msg}
}

// encodeAnswer encodes a whole answer in format f. An embeddings answer is never
// re-encoded: only an embedding model answers one, in its own format.
func encodeAnswer(f llm.Format, resp *llm.Response, model string) []byte {
	switch f {
	case llm.Anthropic:
		return anthropic.EncodeResponse(resp, model)
	case llm.Responses:
		return openai.EncodeResponsesResponse(resp, model)
	}
	return openai.EncodeResponse(resp, model)
}
