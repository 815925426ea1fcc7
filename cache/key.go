package cache

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/tidwall/gjson"
	"github.com/tollgate/tollgate/llm"
)

// Key identifies a cacheable request: the sha256 of a canonical encoding of what decides the
// answer. The zero Key is never produced by [NewKey] for a valid request. A Key is a plain
// value: comparable, usable as a map key, and, through String, as a Redis key.
type Key [sha256.Size]byte

// String returns the key in lower-case hex.
func (k Key) String() string { return hex.EncodeToString(k[:]) }

// ErrInvalidRequest is returned by NewKey for a request that cannot be keyed.
var ErrInvalidRequest = errors.New("cache: invalid request")

// keyVersion changes whenever the canonical encoding changes, so that a shared (Redis) cache
// written by an older tollgate is never read with a different meaning.
const keyVersion = 1

// ignoredFields are top-level body fields that do not change the answer. Every other field
// stays in the key: an unknown field may change the answer (n, logprobs, reasoning_effort,
// thinking, ...), and a needless miss is cheap while a wrong hit serves the wrong answer.
// "model" is replaced by the family the caller passes.
var ignoredFields = map[string]bool{
	"model":             true,
	"stream":            true,
	"stream_options":    true,
	"user":              true,
	"metadata":          true,
	"store":             true,
	"service_tier":      true,
	"prompt_cache_key":  true,
	"safety_identifier": true,
}

// NewKey returns the cache key of r for the model family (e.g. "gpt-4o" for
// "gpt-4o-2024-08-06"; the caller resolves it so that dated snapshots share answers while
// families never do).
//
// The key covers the family, r.Format (a cached Body is in that wire format), the system
// prompt, each message's role, content and Opaque flag, and either the parameters of
// r.Body (every top-level field except those that do not change the answer: model, stream,
// stream_options, user, metadata, store, service_tier, prompt_cache_key, safety_identifier)
// or, when Body is nil, r.MaxTokens and r.Temperature. The body's own messages stay in the
// key so that opaque parts (images, tool calls) tell requests apart. JSON key order,
// insignificant whitespace and number spelling (1, 1.0, 1e0) do not change the key.
//
// NewKey fails with an error wrapping ErrInvalidRequest when r is nil, family is empty or
// r.Body is not a JSON object.
func NewKey(family string, r *llm.Request) (Key, error) {
	if r == nil {
		return Key{}, fmt.Errorf("%w: nil request", ErrInvalidRequest)
	}
	if family == "" {
		return Key{}, fmt.Errorf("%w: empty model family", ErrInvalidRequest)
	}
	size := 64 + len(family) + len(r.System) + len(r.Body)
	for _, m := range r.Messages {
		size += len(m.Role) + len(m.Content) + 8
	}
	e := encoder{b: make([]byte, 0, size)}
	e.uint(keyVersion)
	e.str(family)
	e.str(string(r.Format))
	e.str(r.System)
	e.uint(uint64(len(r.Messages)))
	for _, m := range r.Messages {
		e.str(m.Role)
		e.str(m.Content)
		e.bool(m.Opaque)
	}
	if r.Body != nil {
		e.tag('B')
		if err := e.appendBody(r.Body); err != nil {
			return Key{}, err
		}
	} else {
		e.tag('N')
		e.uint(uint64(max(r.MaxTokens, 0)))
		if r.Temperature != nil {
			e.tag('t')
			e.float(*r.Temperature)
		} else {
			e.tag('-')
		}
	}
	return sha256.Sum256(e.b), nil
}

// appendBody encodes the JSON object body minus ignoredFields. It uses gjson, which walks
// the JSON in place, instead of encoding/json into map[string]any: NewKey runs on every
// request, and BenchmarkNewKey showed the tree decode costing several times more in time and
// allocations (see the commit that introduced it).
func (e *encoder) appendBody(body []byte) error {
	if tooDeep(body) {
		return fmt.Errorf("%w: body nests deeper than %d", ErrInvalidRequest, maxDepth)
	}
	if !gjson.ValidBytes(body) {
		return fmt.Errorf("%w: body is not valid JSON", ErrInvalidRequest)
	}
	root := gjson.ParseBytes(body)
	if !root.IsObject() {
		return fmt.Errorf("%w: body is not a JSON object", ErrInvalidRequest)
	}
	e.object(root, true)
	return nil
}

// maxDepth is encoding/json's nesting limit. gjson recurses without one, and a body of a
// few million '[' would exhaust the goroutine stack and kill the process.
const maxDepth = 10000

// tooDeep reports whether the JSON in b nests deeper than maxDepth, outside strings.
func tooDeep(b []byte) bool {
	depth := 0
	inString := false
	for i := 0; i < len(b); i++ {
		c := b[i]
		if inString {
			switch c {
			case '\\':
				i++
			case '"':
				inString = false
			}
			continue
		}
		switch c {
		case '"':
			inString = true
		case '[', '{':
			depth++
			if depth > maxDepth {
				return true
			}
		case ']', '}':
			depth--
		}
	}
	return false
}

// encoder builds an unambiguous, tagged, length-prefixed encoding that is hashed once: no
// two different values share an encoding, and no canonical JSON is built.
type encoder struct {
	b []byte
}

func (e *encoder) tag(t byte)    { e.b = append(e.b, t) }
func (e *encoder) uint(n uint64) { e.b = binary.AppendUvarint(e.b, n) }
func (e *encoder) str(s string)  { e.uint(uint64(len(s))); e.b = append(e.b, s...) }
func (e *encoder) bool(b bool) {
	if b {
		e.tag('1')
	} else {
		e.tag('0')
	}
}

func (e *encoder) float(f float64) {
	if f == 0 {
		f = 0 // -0 and 0 ask for the same thing
	}
	e.tag('f')
	e.b = binary.BigEndian.AppendUint64(e.b, math.Float64bits(f))
}

func (e *encoder) value(v gjson.Result) {
	switch v.Type {
	case gjson.Null:
		e.tag('z')
	case gjson.False:
		e.tag('b')
		e.bool(false)
	case gjson.True:
		e.tag('b')
		e.bool(true)
	case gjson.String:
		e.tag('s')
		e.str(v.Str)
	case gjson.Number:
		e.number(v.Raw)
	default:
		if v.IsObject() {
			e.object(v, false)
			return
		}
		// An array ends with a marker that no value starts with, so no count is needed.
		e.tag('a')
		v.ForEach(func(_, x gjson.Result) bool {
			e.value(x)
			return true
		})
		e.tag(']')
	}
}

type member struct {
	key string
	val gjson.Result
}

// object encodes members sorted by key; of duplicate keys the last wins, as in
// encoding/json. top drops the fields that do not change the answer.
func (e *encoder) object(v gjson.Result, top bool) {
	var stack [16]member
	ms := stack[:0]
	v.ForEach(func(k, x gjson.Result) bool {
		if !top || !ignoredFields[k.Str] {
			ms = append(ms, member{k.Str, x})
		}
		return true
	})
	slices.SortStableFunc(ms, func(a, b member) int { return strings.Compare(a.key, b.key) })
	n := 0
	for i := range ms {
		if i+1 < len(ms) && ms[i+1].key == ms[i].key {
			continue
		}
		ms[n] = ms[i]
		n++
	}
	e.tag('o')
	e.uint(uint64(n))
	for _, m := range ms[:n] {
		e.str(m.key)
		e.value(m.val)
	}
}

// number encodes integers that fit int64 exactly and every other number by its float64
// value, so that 1, 1.0 and 1e0 are one number while large seeds stay distinct.
func (e *encoder) number(n string) {
	if i, err := strconv.ParseInt(n, 10, 64); err == nil {
		e.tag('i')
		e.b = binary.AppendVarint(e.b, i)
		return
	}
	f, err := strconv.ParseFloat(n, 64)
	if err != nil {
		// Out of float64 range: keep the spelling, still unambiguous.
		e.tag('n')
		e.str(n)
		return
	}
	if f == math.Trunc(f) && f >= math.MinInt64 && f < math.MaxInt64 {
		e.tag('i')
		e.b = binary.AppendVarint(e.b, int64(f))
		return
	}
	e.float(f)
}
