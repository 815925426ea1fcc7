package openai

import (
	"github.com/tollgate/tollgate/llm"
	"github.com/tollgate/tollgate/provider/internal/wire"
)

// upstreamError classifies a non-2xx status and its body, or (status 0) an error event
// received inside a 200 stream. The body may come from OpenAI or from any server that
// speaks its format (Azure OpenAI, vLLM, SGLang, llama.cpp, Ollama, LM Studio, hosted
// OpenAI-compatible APIs, GitHub Copilot); wire.Classify knows their codes and messages.
// Every field taken from the body is redacted of the API key.
func (p *Provider) upstreamError(status int, body []byte) *llm.Error {
	return wire.UpstreamError(p.name, status, body, p.key)
}
