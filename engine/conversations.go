package engine

import (
	"context"
	"sync"
	"time"

	"github.com/tollgate/tollgate/llm"
)

// Conversations is a store of stored-conversation bounds shared by a fleet's engines
// (Config.SharedConversations). Both methods are safe for concurrent use and bounded in
// time by the store; an error or an unknown id makes the engine reserve a continuation at
// the model's context window, as it does for an id it never saw.
type Conversations interface {
	// Remember records that response id, served by model, left a conversation of at most
	// tokens tokens.
	Remember(ctx context.Context, id, model string, tokens int64) error
	// Size returns what Remember recorded for id; ok is false when nothing was, or when
	// it was counted by another model.
	Size(ctx context.Context, id, model string) (tokens int64, ok bool, err error)
}

// sharedWait bounds a write to the shared conversations store, which runs after the
// answer, in a goroutine of its own that Close waits for.
const sharedWait = 5 * time.Second

// maxConversations bounds the stored responses whose size the engine remembers: about
// 80 bytes each, 5 MB at most. Past it the oldest are forgotten, and a request continuing
// one is reserved as if unknown.
const maxConversations = 1 << 16

// conversations remembers the size of the conversations stored at an OpenAI upstream by
// the responses this engine served, by response id. A later request that continues one
// (previous_response_id) brings that conversation as input, which its body does not
// show: knowing its size, the engine reserves it instead of the model's whole context
// window, so that a follow-up fits a token quota smaller than the window. A response
// served by another replica is found in Config.SharedConversations when there is one; one
// unknown there too (before a restart, forgotten, the store unreachable) is reserved at
// the window, as before. Safe for concurrent use.
type conversations struct {
	mu   sync.Mutex
	m    map[string]conversation
	ring []string // ids in the order remembered; next is the oldest once full
	next int
}

// conversation is a stored conversation's size, in tokens of the model that counted it.
type conversation struct {
	tokens int64
	model  string
}

// remember records that response id, served by model, left a conversation of n tokens.
func (c *conversations) remember(id, model string, n int64) {
	if id == "" {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = make(map[string]conversation)
	}
	if _, ok := c.m[id]; !ok {
		if len(c.ring) < maxConversations {
			c.ring = append(c.ring, id)
		} else {
			delete(c.m, c.ring[c.next])
			c.ring[c.next] = id
			c.next = (c.next + 1) % maxConversations
		}
	}
	c.m[id] = conversation{tokens: n, model: model}
}

// size returns the size of the conversation response id left, when it is known and was
// counted by model: another model's tokenizer may count the same text as more tokens.
func (c *conversations) size(id, model string) (int64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.m[id]
	if !ok || v.model != model {
		return 0, false
	}
	return v.tokens, true
}

// stored remembers that the Responses answer id of this attempt left a stored
// conversation of at most n tokens (llm.Response.Conversation), when the caller asked for
// it to be stored.
func (a *attempt) stored(id string, n int64) {
	r := a.r
	if r.req.Format != llm.Responses || !r.req.State.Store || n <= 0 {
		return
	}
	e := r.e
	e.convs.remember(id, a.model.Name, n)
	if sh := e.cfg.SharedConversations; sh != nil {
		// Off the answer's path: a continuation that reaches another replica before
		// this lands is reserved at the window, which is safe.
		model := a.model.Name
		e.calls.add()
		go func() {
			defer e.calls.done()
			ctx, cancel := context.WithTimeout(context.Background(), sharedWait)
			defer cancel()
			if err := sh.Remember(ctx, id, model, n); err != nil {
				e.log.Warn("shared conversation size not recorded; a continuation on another replica is reserved at the context window",
					"response", id, "err", err)
			}
		}()
	}
}

// conversationSize returns the bound of the conversation that response id left, counted
// by model: from this engine's memory, else from the shared store.
func (r *run) conversationSize(ctx context.Context, id, model string) (int64, bool) {
	e := r.e
	if n, ok := e.convs.size(id, model); ok {
		return n, true
	}
	sh := e.cfg.SharedConversations
	if sh == nil {
		return 0, false
	}
	n, ok, err := sh.Size(ctx, id, model)
	if err != nil {
		e.log.Warn("shared conversation size not read; the continuation is reserved at the context window",
			"request", r.id, "response", id, "err", err)
		return 0, false
	}
	if ok {
		e.convs.remember(id, model, n)
	}
	return n, ok
}
