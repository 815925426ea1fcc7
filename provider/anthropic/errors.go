package anthropic

import (
	"github.com/tollgate/tollgate/llm"
	"github.com/tollgate/tollgate/provider/internal/wire"
)

// upstreamError classifies a non-2xx status and its body
// ({"type":"error","error":{"type":"...","message":"..."},"request_id":"..."}), or (status
// 0) an error event received inside a 200 stream: overloaded_error is KindOverloaded, a
// spend limit or a low credit balance KindQuotaExhausted whatever its status, "prompt is
// too long" KindContextLength (see wire.Classify). Every field taken from the body is
// redacted of the API key.
func (p *Provider) upstreamError(status int, body []byte) *llm.Error {
	return wire.UpstreamError(p.name, status, body, p.key)
}
