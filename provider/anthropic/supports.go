package anthropic

import (
	"errors"

	"github.com/tollgate/tollgate/llm"
	"github.com/tollgate/tollgate/provider/translate"
)

var _ llm.Supporter = (*Provider)(nil)

// Supports reports whether p can serve req, without calling the upstream: nil, an
// *llm.UnsupportedError for what the Messages API cannot do at all (embeddings, and a
// Responses request that continues a conversation, a response or a prompt stored at
// OpenAI), or the *llm.UntranslatableError that translating the request's body would
// meet (it translates it to find out, as Do will again). A body that its own format
// would refuse is left to Do, which fails it as the caller's bad request.
func (p *Provider) Supports(req *llm.Request) error {
	if req == nil {
		return nil
	}
	if err := unsupported(p.name, req); err != nil {
		return err
	}
	if req.Body == nil {
		return nil
	}
	var err error
	switch req.Format {
	case llm.OpenAI:
		_, err = translate.ToAnthropic(req.Body, translate.Target{Model: req.Model})
	case llm.Responses:
		_, err = translate.ResponsesToAnthropic(req.Body, translate.Target{Model: req.Model})
	}
	var ue *llm.UntranslatableError
	if errors.As(err, &ue) {
		return ue
	}
	return nil
}

// unsupported returns the *llm.UnsupportedError of a request that no Anthropic upstream
// can serve, nil for any other.
func unsupported(provider string, req *llm.Request) error {
	switch {
	case req.Format == llm.Embeddings:
		return &llm.UnsupportedError{Provider: provider, Format: req.Format,
			Reason: "Anthropic has no embeddings API"}
	case req.NeedsStoredState():
		return &llm.UnsupportedError{Provider: provider, Format: req.Format, Field: req.State.Field,
			Reason: "it refers to state stored at an OpenAI upstream, which Anthropic cannot read"}
	}
	return nil
}
