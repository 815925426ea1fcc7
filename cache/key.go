package cache

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"math"
	"slices"
	"strconv"

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
	h := sha256.New()
	e := encoder{h: h}
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
		params, err := bodyParams(r.Body)
		if err != nil {
			return Key{}, err
		}
		e.tag('B')
		e.value(params)
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
	var k Key
	h.Sum(k[:0])
	return k, nil
}

func bodyParams(body []byte) (map[string]any, error) {
	d := json.NewDecoder(bytes.NewReader(body))
	// Numbers are kept as text and canonicalized below: float64 would merge seeds that
	// differ only past 2^53, and the raw text would split 1 from 1.0.
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, fmt.Errorf("%w: body: %w", ErrInvalidRequest, err)
	}
	if d.More() {
		return nil, fmt.Errorf("%w: body: trailing data after the JSON object", ErrInvalidRequest)
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%w: body is not a JSON object", ErrInvalidRequest)
	}
	for f := range obj {
		if ignoredFields[f] {
			delete(obj, f)
		}
	}
	return obj, nil
}

// encoder writes an unambiguous, tagged, length-prefixed encoding straight into the hash,
// so that no two different values share an encoding and no canonical JSON is built.
type encoder struct {
	h   hash.Hash
	buf [binary.MaxVarintLen64 + 1]byte
}

func (e *encoder) tag(t byte) { e.buf[0] = t; e.h.Write(e.buf[:1]) }

func (e *encoder) uint(n uint64) {
	b := binary.AppendUvarint(e.buf[:0], n)
	e.h.Write(b)
}

func (e *encoder) str(s string) {
	e.uint(uint64(len(s)))
	e.h.Write([]byte(s))
}

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
	b := binary.BigEndian.AppendUint64(e.buf[:0], math.Float64bits(f))
	e.h.Write(b)
}

func (e *encoder) value(v any) {
	switch v := v.(type) {
	case nil:
		e.tag('z')
	case bool:
		e.tag('b')
		e.bool(v)
	case string:
		e.tag('s')
		e.str(v)
	case json.Number:
		e.number(v)
	case []any:
		e.tag('a')
		e.uint(uint64(len(v)))
		for _, x := range v {
			e.value(x)
		}
	case map[string]any:
		e.tag('o')
		e.uint(uint64(len(v)))
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			e.str(k)
			e.value(v[k])
		}
	default:
		// The decoder only produces the types above.
		panic(fmt.Sprintf("cache: unexpected JSON value %T", v))
	}
}

// number encodes integers that fit int64 exactly and every other number by its float64
// value, so that 1, 1.0 and 1e0 are one number while large seeds stay distinct.
func (e *encoder) number(n json.Number) {
	if i, err := strconv.ParseInt(string(n), 10, 64); err == nil {
		e.tag('i')
		b := binary.AppendVarint(e.buf[:0], i)
		e.h.Write(b)
		return
	}
	f, err := strconv.ParseFloat(string(n), 64)
	if err != nil {
		// Out of float64 range: keep the spelling, still unambiguous.
		e.tag('n')
		e.str(string(n))
		return
	}
	if f == math.Trunc(f) && f >= math.MinInt64 && f < math.MaxInt64 {
		e.tag('i')
		b := binary.AppendVarint(e.buf[:0], int64(f))
		e.h.Write(b)
		return
	}
	e.float(f)
}
