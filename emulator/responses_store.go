package emulator

import (
	"slices"
	"sync"
)

// DefaultStoredResponses is the number of responses kept for previous_response_id when
// Config.StoredResponses is 0.
const DefaultStoredResponses = 1000

// storedResponse is what a later request that names a response in previous_response_id
// reads from it: its conversation (its input, its own previous conversation, its output)
// as a token count and as the state of the prompt hasher after it, so that the follow-up
// is billed the conversation as input and reads its prefix from the prompt cache.
type storedResponse struct {
	id, key string
	// head is the hash of the tools and instructions the response was made with; h, n
	// and marks the hasher after them and the conversation (see prefixHasher).
	head       uint64
	h          hasher
	n          int
	marks      []uint64
	convTokens int
	calls      []string // the call ids of its function calls, which a follow-up must answer
}

// responseStore keeps the latest stored responses, at most size, oldest out first. A
// response belongs to the API key that made it: another key's lookup finds nothing, as
// another organization's would.
type responseStore struct {
	mu    sync.Mutex
	byID  map[string]*storedResponse
	ring  []string
	next  int
	size  int
	count int
}

func (s *responseStore) get(key, id string) *storedResponse {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r := s.byID[id]; r != nil && r.key == key {
		return r
	}
	return nil
}

func (s *responseStore) put(r *storedResponse) {
	if s.size <= 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.byID == nil {
		s.byID = make(map[string]*storedResponse)
		s.ring = make([]string, s.size)
	}
	if s.count == s.size {
		delete(s.byID, s.ring[s.next])
	} else {
		s.count++
	}
	s.ring[s.next] = r.id
	s.next = (s.next + 1) % s.size
	s.byID[r.id] = r
}

// item hashes one input item as the model reads it: a message's role and content, a
// call's name and arguments, a call output's content; the framing tokens first.
func (p *prefixHasher) item(it *respItem) {
	switch it.kind {
	case itemNone:
		return
	case itemMessage:
		p.tok("\x00start")
		p.tok(it.role)
	case itemCall:
		p.tok("\x00start")
		p.tok("\x00function_call")
	case itemCallOutput:
		p.tok("\x00start")
		p.tok("\x00function_call_output")
	}
	p.tok("\x00message")
	if it.kind == itemCall {
		p.text(it.name)
	}
	p.text(it.text)
	for i := range it.parts {
		q := &it.parts[i]
		switch q.Type {
		case "image_url", "input_image", "image":
			n, _ := q.tokens()
			p.image(q.imageIdentity(), n)
		default:
			n, _ := q.tokens()
			if CountTokens(q.Text) == n {
				p.text(q.Text)
			} else { // a part counted otherwise (a file): stand-in tokens
				p.image(q.Type, n)
			}
		}
	}
}

// skip stands for n tokens of a conversation hashed as h under other tools or
// instructions: its prefixes cannot match those of the original (the real cache matches
// from the first token), but are the same for every request that reads the same stored
// conversation under the same new head.
func (p *prefixHasher) skip(h hasher, n int) {
	for k := p.n/openAIBlock + 1; k*openAIBlock <= p.n+n; k++ {
		p.marks = append(p.marks, mix64(uint64(p.h)^mix64(uint64(h))^uint64(k)))
	}
	p.n += n
	p.h = (p.h ^ hasher(mix64(uint64(h)))) * fnvPrime
}

// respPrompt hashes the prompt of a Responses request: its tools and instructions, the
// stored conversation it continues, its input items. It returns the hash of the head
// (tools and instructions).
func (c *call) respPrompt(x *respRequest, prev *storedResponse) (prefixHasher, uint64) {
	var p prefixHasher
	p.h = fnvOffset
	for i := range x.tools {
		t := &x.tools[i]
		p.text(t.Name)
		p.text(t.Description)
		p.text(string(t.InputSchema))
	}
	for i := range x.instructions {
		p.item(&x.instructions[i])
	}
	head := uint64(p.h)
	if prev != nil {
		if prev.head == head {
			p.h, p.n = prev.h, prev.n
			p.marks = slices.Clip(prev.marks) // appends copy: the stored marks stay as they are
		} else {
			p.skip(prev.h, prev.convTokens)
		}
	}
	for i := range x.items {
		p.item(&x.items[i])
	}
	return p, head
}
