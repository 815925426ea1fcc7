package emulator

import (
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"time"
)

// promptCache holds the cached prefixes of both providers: a key is the hash of a
// (scope, prefix) pair, where the scope is the API key and model (and OpenAI's
// prompt_cache_key), so that nothing is shared across keys or models. The value is when
// the entry expires and the TTL that a read renews.
type promptCache struct {
	mu      sync.Mutex
	entries map[uint64]cacheEntry
	max     int
}

type cacheEntry struct {
	expires int64 // Unix nanoseconds
	ttl     time.Duration
}

const defaultCacheEntries = 100_000

// read reports whether key is cached and alive at now, and renews it.
func (p *promptCache) read(now time.Time, key uint64) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	e, ok := p.entries[key]
	if !ok {
		return false
	}
	if e.expires <= now.UnixNano() {
		delete(p.entries, key)
		return false
	}
	e.expires = now.Add(e.ttl).UnixNano()
	p.entries[key] = e
	return true
}

// write caches key for ttl from now (or renews it, keeping the longer of the two).
func (p *promptCache) write(now time.Time, key uint64, ttl time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.entries == nil {
		p.entries = make(map[uint64]cacheEntry)
	}
	exp := now.Add(ttl).UnixNano()
	if e, ok := p.entries[key]; ok {
		if e.expires > exp {
			return
		}
		p.entries[key] = cacheEntry{expires: exp, ttl: max(ttl, e.ttl)}
		return
	}
	if len(p.entries) >= p.max {
		p.evict(now)
	}
	p.entries[key] = cacheEntry{expires: exp, ttl: ttl}
}

// evict removes the expired entries, then, if the cache is still full, the eighth that
// expires soonest: deterministic, unlike dropping whatever a map iteration yields first.
func (p *promptCache) evict(now time.Time) {
	t := now.UnixNano()
	for k, e := range p.entries {
		if e.expires <= t {
			delete(p.entries, k)
		}
	}
	if len(p.entries) < p.max {
		return
	}
	type ke struct {
		k uint64
		e int64
	}
	all := make([]ke, 0, len(p.entries))
	for k, e := range p.entries {
		all = append(all, ke{k, e.expires})
	}
	slices.SortFunc(all, func(a, b ke) int {
		if a.e != b.e {
			return compare(a.e, b.e)
		}
		return compare(a.k, b.k)
	})
	for _, x := range all[:max(len(all)/8, 1)] {
		delete(p.entries, x.k)
	}
}

func compare[T int64 | uint64](a, b T) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// hasher is FNV-1a, 64 bits: prefixes are compared by hash, token by token.
type hasher uint64

const (
	fnvOffset hasher = 14695981039346656037
	fnvPrime         = 1099511628211
)

func (h hasher) add(s string) hasher {
	for i := 0; i < len(s); i++ {
		h = (h ^ hasher(s[i])) * fnvPrime
	}
	return h
}

// token adds one token and its end: "ab" and "a","b" must differ.
func (h hasher) token(s string) hasher { return (h.add(s) ^ 0xff) * fnvPrime }

// scopeHash names a cache scope: key, model and, for OpenAI, prompt_cache_key.
func scopeHash(parts ...string) uint64 {
	h := fnvOffset
	for _, p := range parts {
		h = h.token(p)
	}
	return uint64(h)
}

func entryKey(scope, prefix uint64) uint64 { return mix64(scope ^ mix64(prefix)) }

// openAIBlock is the granularity of OpenAI's cache hits, and openAIMinCache the shortest
// cached prefix: "cache hits occur in increments of 128 tokens" from 1024.
const openAIBlock = 128

// openAIPrefixes hashes the prompt of a chat completions body as the model reads it
// (tools, then each message's role and content), and returns the hash of every prefix of
// a multiple of 128 tokens: prefixes[k-1] covers the first 128k tokens.
func openAIPrefixes(body []byte) ([]uint64, error) {
	var w struct {
		Tools    []wireTool `json:"tools"`
		Messages []struct {
			Role      string          `json:"role"`
			Content   json.RawMessage `json:"content"`
			ToolCalls []struct {
				Function struct {
					Name      string `json:"name"`
					Arguments string `json:"arguments"`
				} `json:"function"`
			} `json:"tool_calls"`
		} `json:"messages"`
	}
	if err := json.Unmarshal(body, &w); err != nil {
		return nil, err
	}
	var p prefixHasher
	p.h = fnvOffset
	for i := range w.Tools {
		t := &w.Tools[i]
		name, desc, schema := t.Name, t.Description, t.InputSchema
		if f := t.Function; f != nil {
			name, desc, schema = f.Name, f.Description, f.Parameters
		}
		p.text(name)
		p.text(desc)
		p.text(string(schema))
	}
	for _, m := range w.Messages {
		// The message's framing: tokensPerMessage tokens, the role among them.
		p.tok("\x00start")
		p.tok(m.Role)
		p.tok("\x00message")
		if err := p.content(m.Content); err != nil {
			return nil, err
		}
		for _, c := range m.ToolCalls {
			p.text(c.Function.Name)
			p.text(c.Function.Arguments)
		}
	}
	return p.marks, nil
}

// prefixHasher hashes a token stream and marks the hash at every 128 tokens.
type prefixHasher struct {
	h     hasher
	n     int
	marks []uint64
}

func (p *prefixHasher) tok(t string) {
	p.h = p.h.token(t)
	p.n++
	if p.n%openAIBlock == 0 {
		p.marks = append(p.marks, uint64(p.h))
	}
}

func (p *prefixHasher) text(s string) { forTokens(s, p.tok) }

func (p *prefixHasher) content(raw json.RawMessage) error {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return err
		}
		p.text(s)
		return nil
	}
	var parts []contentPart
	if err := json.Unmarshal(raw, &parts); err != nil {
		return err
	}
	for i := range parts {
		switch q := &parts[i]; q.Type {
		case "tool_use":
			p.text(q.Name)
			p.text(string(q.Input))
		case "tool_result":
			if err := p.content(q.Content); err != nil {
				return err
			}
		case "thinking", "redacted_thinking":
		case "image_url", "input_image", "image":
			n, _ := q.tokens()
			p.image(q.imageIdentity(), n)
		default:
			p.text(q.Text)
		}
	}
	return nil
}

// image hashes an image of n tokens: its identity, then n-1 tokens that stand for its
// pixels, so that the token count matches the prompt's.
func (p *prefixHasher) image(identity string, n int) {
	p.tok(identity)
	for range n - 1 {
		p.tok("\x00px")
	}
}

// openAICache reads and writes the OpenAI cache for a request whose prompt is at least
// 1024 tokens: it returns the cached tokens, a multiple of 128 of at least 1024, and
// caches every 128-token prefix of the prompt.
func (c *call) openAICache() (int, error) {
	e := c.e
	if e.cfg.PromptCache.Disabled || c.req.prompt < c.m.minCache {
		return 0, nil
	}
	marks, err := openAIPrefixes(c.body)
	if err != nil {
		return 0, err
	}
	return c.openAICacheMarks(marks), nil
}

// openAICacheMarks reads and writes the OpenAI cache for a prompt whose 128-token prefixes
// hash to marks, and returns the cached tokens.
func (c *call) openAICacheMarks(marks []uint64) int {
	e := c.e
	if e.cfg.PromptCache.Disabled || c.req.prompt < c.m.minCache {
		return 0
	}
	scope := scopeHash(c.key, c.m.id, c.req.cacheKey)
	minBlocks := (c.m.minCache + openAIBlock - 1) / openAIBlock
	cached := 0
	for k := len(marks); k >= minBlocks; k-- {
		if e.cache.read(c.now, entryKey(scope, marks[k-1])) {
			cached = k * openAIBlock
			break
		}
	}
	ttl := e.openAITTL()
	for k := minBlocks; k <= len(marks); k++ {
		e.cache.write(c.now, entryKey(scope, marks[k-1]), ttl)
	}
	return cached
}

func (e *Emulator) openAITTL() time.Duration {
	if d := e.cfg.PromptCache.OpenAITTL; d > 0 {
		return d
	}
	return 5 * time.Minute
}

// anthropicBlock is one block of an Anthropic prompt, in the order the model reads them:
// tools, system, messages.
type anthropicBlock struct {
	cum  int    // prompt tokens up to and including this block
	hash uint64 // of the prompt up to and including this block
	ttl  time.Duration
	path string // of the block with cache_control, for error messages
}

// anthropicBlocks splits the prompt of a messages body into its blocks and notes the
// cache breakpoints. toolPrompt is the tool-use system prompt, read before the tools.
func anthropicBlocks(body []byte, toolPrompt int) ([]anthropicBlock, error) {
	var w struct {
		Tools        []wireTool      `json:"tools"`
		System       json.RawMessage `json:"system"`
		CacheControl *cacheControl   `json:"cache_control"`
		Messages     []struct {
			Role    string          `json:"role"`
			Content json.RawMessage `json:"content"`
		} `json:"messages"`
	}
	if err := json.Unmarshal(body, &w); err != nil {
		return nil, err
	}
	var out []anthropicBlock
	h, cum := fnvOffset, toolPrompt
	add := func(tokens int, hh hasher, cc *cacheControl, path string) error {
		cum += tokens
		h = (h ^ hasher(mix64(uint64(hh)))) * fnvPrime
		b := anthropicBlock{cum: cum, hash: uint64(h)}
		if cc != nil {
			ttl, err := cc.duration(path)
			if err != nil {
				return err
			}
			b.ttl, b.path = ttl, path
		}
		out = append(out, b)
		return nil
	}
	for i := range w.Tools {
		t := w.Tools[i].tool()
		hh := fnvOffset.token("tool").token(t.name).token(string(t.schema)).token(w.Tools[i].Description)
		if err := add(t.tokens, hh, w.Tools[i].CacheControl, fmt.Sprintf("tools.%d", i)); err != nil {
			return nil, err
		}
	}
	if err := blocksOf(w.System, "system", 0, "system", add); err != nil {
		return nil, err
	}
	for i, m := range w.Messages {
		if err := blocksOf(m.Content, m.Role, tokensPerMessage, fmt.Sprintf("messages.%d.content", i), add); err != nil {
			return nil, err
		}
	}
	if w.CacheControl != nil && len(out) > 0 {
		// Automatic caching: the breakpoint is on the last block.
		ttl, err := w.CacheControl.duration("cache_control")
		if err != nil {
			return nil, err
		}
		out[len(out)-1].ttl, out[len(out)-1].path = ttl, "cache_control"
	}
	return out, nil
}

// blocksOf adds the blocks of one content: a string is one block, an array one per
// element; framing tokens go to the first block, with the role.
func blocksOf(raw json.RawMessage, role string, framing int, path string,
	add func(int, hasher, *cacheControl, string) error) error {
	if len(raw) == 0 || string(raw) == "null" {
		if framing > 0 {
			return add(framing, fnvOffset.token(role), nil, path)
		}
		return nil
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return err
		}
		return add(framing+CountTokens(s), fnvOffset.token(role).token(s), nil, path)
	}
	var parts []contentPart
	if err := json.Unmarshal(raw, &parts); err != nil {
		return err
	}
	if len(parts) == 0 && framing > 0 {
		return add(framing, fnvOffset.token(role), nil, path)
	}
	for i := range parts {
		q := &parts[i]
		n, err := q.tokens()
		if err != nil {
			return err
		}
		hh := fnvOffset.token(q.Type).token(q.Text).token(q.Name).token(string(q.Input)).token(string(q.Content)).token(q.imageIdentity())
		if i == 0 {
			n += framing
			hh = hh.token(role)
		}
		if err := add(n, hh, q.CacheControl, fmt.Sprintf("%s.%d", path, i)); err != nil {
			return err
		}
	}
	return nil
}

func (cc *cacheControl) duration(path string) (time.Duration, error) {
	if cc.Type != "ephemeral" {
		return 0, &parseError{msg: path + ".cache_control.type: Input should be 'ephemeral'"}
	}
	switch cc.TTL {
	case "", "5m":
		return 5 * time.Minute, nil
	case "1h":
		return time.Hour, nil
	}
	return 0, &parseError{msg: path + ".cache_control.ttl: Input should be '5m' or '1h'"}
}

// anthropicCacheUse is what one request read from and wrote to the Anthropic cache.
type anthropicCacheUse struct {
	read, write5m, write1h int
}

// maxBreakpoints and lookback are Anthropic's limits: "up to 4 cache breakpoints", and
// hits are checked "at most 20 blocks before" each breakpoint.
const (
	maxBreakpoints = 4
	lookback       = 20
)

// anthropicBreakpoints splits the prompt of a request with cache_control into blocks and
// checks its breakpoints as Anthropic does: at most 4, and no 1-hour TTL after a 5-minute
// one. It returns the blocks and the indexes of the breakpoints.
func (c *call) anthropicBreakpoints(toolPrompt int) ([]anthropicBlock, []int, error) {
	blocks, err := anthropicBlocks(c.body, toolPrompt)
	if err != nil {
		return nil, nil, err
	}
	var marks []int
	var last time.Duration
	for i := range blocks {
		b := &blocks[i]
		if b.ttl == 0 {
			continue
		}
		marks = append(marks, i)
		if b.ttl > last && last != 0 {
			return nil, nil, &parseError{msg: b.path + ".cache_control.ttl: a ttl='1h' cache_control block must not come after a ttl='5m' cache_control block. Note that blocks are processed in the following order: `tools`, `system`, `messages`."}
		}
		last = b.ttl
	}
	if len(marks) > maxBreakpoints {
		return nil, nil, &parseError{msg: fmt.Sprintf("A maximum of %d blocks with cache_control may be provided. Found %d.", maxBreakpoints, len(marks))}
	}
	return blocks, marks, nil
}

// anthropicCache reads and writes the Anthropic cache for an accepted request.
func (c *call) anthropicCache(blocks []anthropicBlock, marks []int) anthropicCacheUse {
	e := c.e
	if e.cfg.PromptCache.Disabled || len(marks) == 0 {
		return anthropicCacheUse{}
	}
	scope := scopeHash(c.key, c.m.id)
	// Read: the longest cached prefix that ends at a breakpoint or within the lookback.
	hit := -1
	for _, m := range slices.Backward(marks) {
		for j := m; j >= 0 && j > m-lookback && j > hit; j-- {
			if blocks[j].cum >= c.m.minCache && e.cache.read(c.now, entryKey(scope, blocks[j].hash)) {
				hit = j
				break
			}
		}
	}
	var use anthropicCacheUse
	done := 0
	if hit >= 0 {
		use.read, done = blocks[hit].cum, blocks[hit].cum
	}
	// Write: each breakpoint past the read that reaches the minimum caches its prefix; the
	// tokens between two such breakpoints are written with the later one's TTL.
	for _, m := range marks {
		b := &blocks[m]
		if m <= hit || b.cum < c.m.minCache {
			continue
		}
		if b.ttl == time.Hour {
			use.write1h += b.cum - done
		} else {
			use.write5m += b.cum - done
		}
		done = b.cum
		e.cache.write(c.now, entryKey(scope, b.hash), b.ttl)
	}
	return use
}
