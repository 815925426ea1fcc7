package openai

import (
	"errors"

	"github.com/tollgate/tollgate/llm"
	"github.com/tollgate/tollgate/provider/translate"
)

var _ llm.Supporter = (*Provider)(nil)

// Supports reports whether p can serve req, without calling the upstream. Chat
// Completions, Responses and embeddings requests go to their own endpoints and are
// supported (a request that continues stored state may still be refused by an upstream
// that does not hold it: OpenAI's 400 previous_response_not_found). An Anthropic request
// is translated to Chat Completions to find the *llm.UntranslatableError it would meet,
// as Do will translate it again; a body that its own format would refuse is left to Do.
func (p *Provider) Supports(req *llm.Request) error {
	if req == nil || req.Format != llm.Anthropic || req.Body == nil {
		return nil
	}
	_, err := translate.ToOpenAI(req.Body, translate.Target{Model: req.Model})
	var ue *llm.UntranslatableError
	if errors.As(err, &ue) {
		return ue
	}
	return nil
}
