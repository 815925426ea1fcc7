package engine

import (
	"sync"

	"github.com/tollgate/tollgate/llm"
)

// maxConversations bounds the stored responses whose size the engine remembers: about
// 80 bytes each, 5 MB at most. Past it the oldest are forgotten, and a request continuing
// one is reserved as if unknown.
const maxConversations = 1 << 16

// conversations remembers the size of the conversations stored at an OpenAI upstream by
// the responses this engine served, by response id. A later request that continues one
// (previous_response_id) brings that conversation as input, which its body does not
// show: knowing its size, the engine reserves it instead of the model's whole context
// window, so that a follow-up fits a token quota smaller than the window. A response
// served by another replica, before a restart, or forgotten is unknown here and reserved
// at the window, as before. Safe for concurrent use.
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
	r.e.convs.remember(id, a.model.Name, n)
}
