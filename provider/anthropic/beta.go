package anthropic

import "context"

type betaKey struct{}

// WithBeta returns a context that makes Do send the caller's anthropic-beta header (a
// comma-separated list of beta features, such as a newer prompt-caching or thinking mode)
// with a request forwarded in Anthropic format. A request's body can depend on a beta that
// the header enables, so a gateway must pass it through; a request translated from another
// format uses no beta and does not get it.
func WithBeta(ctx context.Context, beta string) context.Context {
	return context.WithValue(ctx, betaKey{}, beta)
}

func betaFrom(ctx context.Context) string {
	s, _ := ctx.Value(betaKey{}).(string)
	return s
}
