package redisstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"
)

// ConversationTTL is how long a conversation's bound is kept: OpenAI keeps a stored
// response for 30 days (https://platform.openai.com/docs/guides/your-data, "Responses
// API: 30 days"), past which a continuation of it is refused upstream anyway.
const ConversationTTL = 30 * 24 * time.Hour

// ConversationsConfig configures Conversations. The zero value is ready to use.
type ConversationsConfig struct {
	// Namespace begins every key: "<namespace>:v:<response id>". Empty means "tg". It must
	// not contain '{' or '}' (each operation touches one key, which a Cluster may put on
	// any slot).
	Namespace string
	// Timeout bounds each round trip. Zero means 50ms.
	Timeout time.Duration
	// ProbeInterval is the least time between attempts to reach Redis while it is down;
	// meanwhile Size answers unknown and Remember fails at once. Zero means 1 second.
	ProbeInterval time.Duration
	// Logger receives one line per transition to and from degraded mode. Nil means
	// slog.Default().
	Logger *slog.Logger
}

// Conversations shares among a fleet's engines the bound of each conversation that a
// stored Responses answer left (llm.Response.Conversation), by response id: it is
// engine.Config.SharedConversations. Each bound is one string key, "<tokens> <model>",
// kept ConversationTTL. Remember and Size are one round trip each, bounded by Timeout
// and ctx; after an outage Conversations skips Redis, trying it at most every
// ProbeInterval, so that an outage costs requests no latency (their continuations are
// reserved at the context window meanwhile). Safe for concurrent use; it starts no
// goroutines.
type Conversations struct {
	l      *link
	prefix string
}

// NewConversations returns Conversations over client.
func NewConversations(client Client, cfg ConversationsConfig) (*Conversations, error) {
	switch {
	case client == nil:
		return nil, errors.New("redisstore: nil client")
	case strings.ContainsAny(cfg.Namespace, "{}"):
		return nil, fmt.Errorf("redisstore: ConversationsConfig.Namespace must not contain '{' or '}', got %q", cfg.Namespace)
	case cfg.Timeout < 0 || cfg.ProbeInterval < 0:
		return nil, fmt.Errorf("redisstore: ConversationsConfig: Timeout and ProbeInterval must not be negative")
	}
	if cfg.Namespace == "" {
		cfg.Namespace = "tg"
	}
	v := &Conversations{l: newLink(client, cfg.Timeout, cfg.ProbeInterval, cfg.Logger, "redis conversation sizes"),
		prefix: cfg.Namespace + ":v:"}
	v.l.load(cacheGetScript, cachePutScript)
	return v, nil
}

// Remember records that response id, served by model, left a conversation of at most
// tokens tokens. It returns an error wrapping ErrUnavailable when Redis did not take it.
func (v *Conversations) Remember(ctx context.Context, id, model string, tokens int64) error {
	if !v.l.useRedis() {
		return fmt.Errorf("redisstore: conversation: %w", ErrUnavailable)
	}
	val := strconv.FormatInt(tokens, 10) + " " + model
	if _, err := v.l.run(ctx, cachePutScript, []string{v.prefix + id}, []any{val, ConversationTTL.Milliseconds()}); err != nil {
		err = fmt.Errorf("redisstore: conversation: %w: %w", ErrUnavailable, err)
		v.l.failed(ctx, err)
		return err
	}
	v.l.ok()
	return nil
}

// Size returns the bound recorded for response id; ok is false when none was, or when it
// was counted by another model. While Redis is down it answers unknown without an error.
func (v *Conversations) Size(ctx context.Context, id, model string) (int64, bool, error) {
	if !v.l.useRedis() {
		return 0, false, nil
	}
	r, err := v.l.run(ctx, cacheGetScript, []string{v.prefix + id}, nil)
	if err != nil {
		err = fmt.Errorf("redisstore: conversation: %w: %w", ErrUnavailable, err)
		v.l.failed(ctx, err)
		return 0, false, err
	}
	v.l.ok()
	s, _ := r.(string)
	n, m, found := strings.Cut(s, " ")
	tokens, perr := strconv.ParseInt(n, 10, 64)
	if !found || perr != nil || tokens <= 0 || m != model {
		return 0, false, nil
	}
	return tokens, true, nil
}
