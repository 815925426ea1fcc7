// Package wire holds what both provider adapters need to handle wire bodies: a top-level
// JSON member scanner and splicer, and the HTTP plumbing shared by both upstream clients.
package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// ErrSyntax is returned when a body is not the JSON value the scanner expected.
var ErrSyntax = errors.New("malformed json")

// Member is one member of a JSON object: its decoded key and the byte span of its value.
type Member struct {
	Key        []byte // unescaped; aliases obj unless the key had escapes
	Start, End int    // obj[Start:End] is the raw value
}

// Is reports whether the member's key is key. It does not allocate.
func (m Member) Is(key string) bool { return string(m.Key) == key }

// Members returns the members of the JSON object obj in order (duplicates included) and
// the index of its closing brace. It checks structure only as far as it needs to find the
// members' boundaries; callers that need a valid document check with json.Valid first.
//
// A hand-written scanner rather than encoding/json's Decoder: the adapters must forward
// every member they do not own byte for byte and in order, and finding spans this way
// costs no allocation per member value, where Decoder.Token allocates for every token.
func Members(obj []byte) ([]Member, int, error) {
	i := skipSpace(obj, 0)
	if i >= len(obj) || obj[i] != '{' {
		return nil, 0, fmt.Errorf("%w: not an object", ErrSyntax)
	}
	i = skipSpace(obj, i+1)
	ms := make([]Member, 0, 16)
	if i < len(obj) && obj[i] == '}' {
		return ms, i, nil
	}
	for {
		if i >= len(obj) || obj[i] != '"' {
			return nil, 0, fmt.Errorf("%w: expected a key at offset %d", ErrSyntax, i)
		}
		kend, err := skipString(obj, i)
		if err != nil {
			return nil, 0, err
		}
		key, err := decodeKey(obj[i:kend])
		if err != nil {
			return nil, 0, err
		}
		i = skipSpace(obj, kend)
		if i >= len(obj) || obj[i] != ':' {
			return nil, 0, fmt.Errorf("%w: expected ':' at offset %d", ErrSyntax, i)
		}
		i = skipSpace(obj, i+1)
		vend, err := skipValue(obj, i)
		if err != nil {
			return nil, 0, err
		}
		ms = append(ms, Member{Key: key, Start: i, End: vend})
		i = skipSpace(obj, vend)
		if i >= len(obj) {
			return nil, 0, fmt.Errorf("%w: unterminated object", ErrSyntax)
		}
		switch obj[i] {
		case ',':
			i = skipSpace(obj, i+1)
		case '}':
			return ms, i, nil
		default:
			return nil, 0, fmt.Errorf("%w: unexpected %q at offset %d", ErrSyntax, obj[i], i)
		}
	}
}

// Get returns the raw value of the last member of obj named key, as a JSON parser that
// keeps the last duplicate would see it.
func Get(obj []byte, key string) ([]byte, bool) {
	ms, _, err := Members(obj)
	if err != nil {
		return nil, false
	}
	for j := len(ms) - 1; j >= 0; j-- {
		if ms[j].Is(key) {
			return obj[ms[j].Start:ms[j].End], true
		}
	}
	return nil, false
}

// Set is one member to write: Value is raw JSON.
type Set struct {
	Key   string
	Value []byte
}

// Patch returns a copy of the JSON object obj with the given members set: every member
// whose key matches (duplicates included) gets the new value in place, and members that
// obj lacks are appended at the end in the order given. Everything else is copied byte for
// byte.
func Patch(obj []byte, sets ...Set) ([]byte, error) {
	ms, closing, err := Members(obj)
	if err != nil {
		return nil, err
	}
	return PatchMembers(obj, ms, closing, sets...), nil
}

// PatchMembers is Patch for a caller that already has obj's members and closing brace
// from Members, which saves scanning the body twice.
func PatchMembers(obj []byte, ms []Member, closing int, sets ...Set) []byte {
	size := len(obj)
	for _, s := range sets {
		size += len(s.Key) + len(s.Value) + 4
	}
	out := make([]byte, 0, size)
	found := make([]bool, len(sets))
	last := 0
	for _, m := range ms {
		for k, s := range sets {
			if m.Is(s.Key) {
				out = append(out, obj[last:m.Start]...)
				out = append(out, s.Value...)
				last = m.End
				found[k] = true
				break
			}
		}
	}
	out = append(out, obj[last:closing]...)
	n := len(ms)
	for k, s := range sets {
		if found[k] {
			continue
		}
		if n > 0 {
			out = append(out, ',')
		}
		out = appendKey(out, s.Key)
		out = append(out, ':')
		out = append(out, s.Value...)
		n++
	}
	return append(out, obj[closing:]...)
}

func appendKey(out []byte, key string) []byte {
	b, _ := json.Marshal(key) // a string always marshals
	return append(out, b...)
}

func decodeKey(raw []byte) ([]byte, error) {
	if bytes.IndexByte(raw, '\\') < 0 {
		return raw[1 : len(raw)-1], nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, fmt.Errorf("%w: bad key: %v", ErrSyntax, err)
	}
	return []byte(s), nil
}

func skipSpace(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\r', '\n':
			i++
		default:
			return i
		}
	}
	return i
}

// skipString returns the index just past the string starting at b[i] == '"'.
func skipString(b []byte, i int) (int, error) {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j + 1, nil
		}
	}
	return 0, fmt.Errorf("%w: unterminated string at offset %d", ErrSyntax, i)
}

// Value returns the span b[start:end] of the JSON value that starts at b[i], after any
// spaces. It checks structure only as far as it needs to find the value's end.
func Value(b []byte, i int) (start, end int, err error) {
	start = skipSpace(b, i)
	end, err = skipValue(b, start)
	return start, end, err
}

// skipValue returns the index just past the value starting at b[i].
func skipValue(b []byte, i int) (int, error) {
	if i >= len(b) {
		return 0, fmt.Errorf("%w: missing value at offset %d", ErrSyntax, i)
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				end, err := skipString(b, j)
				if err != nil {
					return 0, err
				}
				j = end - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1, nil
				}
			}
		}
		return 0, fmt.Errorf("%w: unterminated value at offset %d", ErrSyntax, i)
	case ',', '}', ']', ':':
		return 0, fmt.Errorf("%w: missing value at offset %d", ErrSyntax, i)
	default:
		j := i
		for j < len(b) {
			switch b[j] {
			case ',', '}', ']', ' ', '\t', '\r', '\n':
				return j, nil
			}
			j++
		}
		return j, nil
	}
}

// String returns the value of a JSON string literal without decoding it when it holds only
// printable ASCII and no escapes, which is most text; ok is false otherwise and the caller
// decodes it with encoding/json. raw must be a string literal from a valid document.
func String(raw []byte) (s string, ok bool) {
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return "", false
	}
	body := raw[1 : len(raw)-1]
	for _, c := range body {
		if c == '\\' || c < 0x20 || c >= 0x80 {
			return "", false
		}
	}
	return string(body), true
}
