package cache

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/tollgate/tollgate/llm"
)

func f64(v float64) *float64 { return &v }

func oai(body string) *llm.Request {
	return &llm.Request{Format: llm.OpenAI, Body: []byte(body),
		Messages: []llm.Message{{Role: "user", Content: "hi"}}}
}

func ant(body string) *llm.Request {
	return &llm.Request{Format: llm.Anthropic, Body: []byte(body), System: "be brief",
		Messages: []llm.Message{{Role: "user", Content: "hi"}}}
}

func mustKey(t *testing.T, family string, r *llm.Request) Key {
	t.Helper()
	k, err := NewKey(family, r)
	if err != nil {
		t.Fatalf("NewKey(%q) error: %v", family, err)
	}
	return k
}

func TestNewKeyNormalization(t *testing.T) {
	t.Parallel()
	const base = `{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"temperature":0.2,"max_tokens":100}`
	const antBase = `{"model":"claude-3-5-haiku","system":"be brief","messages":[{"role":"user","content":"hi"}],"max_tokens":100,"temperature":0.2}`
	tests := []struct {
		name       string
		famA, famB string
		a, b       *llm.Request
		wantSame   bool
	}{
		{"identical", "gpt-4o", "gpt-4o", oai(base), oai(base), true},
		{"key order", "gpt-4o", "gpt-4o", oai(base),
			oai(`{"max_tokens":100,"temperature":0.2,"messages":[{"content":"hi","role":"user"}],"model":"gpt-4o"}`), true},
		{"whitespace", "gpt-4o", "gpt-4o", oai(base),
			oai("{ \"model\" : \"gpt-4o\",\n \"messages\":[{\"role\":\"user\",\"content\":\"hi\"}], \"temperature\": 0.2, \"max_tokens\": 100 }"), true},
		{"number spelling", "gpt-4o", "gpt-4o", oai(base),
			oai(`{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"temperature":2e-1,"max_tokens":100.0}`), true},
		{"model snapshot ignored, family decides", "gpt-4o", "gpt-4o", oai(base),
			oai(`{"model":"gpt-4o-2024-08-06","messages":[{"role":"user","content":"hi"}],"temperature":0.2,"max_tokens":100}`), true},
		{"ignored user metadata stream", "gpt-4o", "gpt-4o", oai(base),
			oai(`{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"temperature":0.2,"max_tokens":100,` +
				`"user":"u1","metadata":{"run":"7"},"stream":true,"stream_options":{"include_usage":true},"store":true,"service_tier":"auto"}`), true},
		{"anthropic metadata and stream ignored", "claude-3-5-haiku", "claude-3-5-haiku", ant(antBase),
			ant(`{"model":"claude-3-5-haiku-20241022","system":"be brief","messages":[{"role":"user","content":"hi"}],"max_tokens":100,"temperature":0.2,"metadata":{"user_id":"x"},"stream":true}`), true},
		{"escaped key and string", "gpt-4o", "gpt-4o",
			oai(`{"messages":[],"stop":"ab"}`), oai(`{"messages":[],"\u0073top":"a\u0062"}`), true},
		{"duplicate keys: last wins", "gpt-4o", "gpt-4o",
			oai(`{"messages":[],"temperature":1,"temperature":0.5}`), oai(`{"messages":[],"temperature":0.5}`), true},
		{"nested key order", "gpt-4o", "gpt-4o",
			oai(`{"response_format":{"type":"json_schema","json_schema":{"name":"a","strict":true}}}`),
			oai(`{"response_format":{"json_schema":{"strict":true,"name":"a"},"type":"json_schema"}}`), true},
		{"ignored only at top level", "gpt-4o", "gpt-4o",
			oai(`{"tools":[{"type":"function","function":{"name":"a","metadata":1}}]}`),
			oai(`{"tools":[{"type":"function","function":{"name":"a"}}]}`), false},
		{"array vs nested array", "gpt-4o", "gpt-4o", oai(`{"stop":[["a"],"b"]}`), oai(`{"stop":[["a","b"]]}`), false},
		{"different family", "gpt-4o", "gpt-4o-mini", oai(base), oai(base), false},
		{"different temperature", "gpt-4o", "gpt-4o", oai(base),
			oai(`{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"temperature":0.3,"max_tokens":100}`), false},
		{"temperature absent", "gpt-4o", "gpt-4o", oai(base),
			oai(`{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"max_tokens":100}`), false},
		{"different max_tokens", "gpt-4o", "gpt-4o", oai(base),
			oai(`{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"temperature":0.2,"max_tokens":101}`), false},
		{"top_p", "gpt-4o", "gpt-4o", oai(base),
			oai(`{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"temperature":0.2,"max_tokens":100,"top_p":0.9}`), false},
		{"stop", "gpt-4o", "gpt-4o", oai(base),
			oai(`{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"temperature":0.2,"max_tokens":100,"stop":["\n"]}`), false},
		{"seed", "gpt-4o", "gpt-4o",
			oai(`{"messages":[],"seed":9007199254740993}`), oai(`{"messages":[],"seed":9007199254740992}`), false},
		{"response_format", "gpt-4o", "gpt-4o", oai(base),
			oai(`{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"temperature":0.2,"max_tokens":100,"response_format":{"type":"json_object"}}`), false},
		{"tools", "gpt-4o", "gpt-4o",
			oai(`{"messages":[],"tools":[{"type":"function","function":{"name":"a"}}]}`),
			oai(`{"messages":[],"tools":[{"type":"function","function":{"name":"b"}}]}`), false},
		{"unknown field kept", "gpt-4o", "gpt-4o", oai(base),
			oai(`{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"temperature":0.2,"max_tokens":100,"n":2}`), false},
		{"opaque body parts differ", "gpt-4o", "gpt-4o",
			oai(`{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"a.png"}}]}]}`),
			oai(`{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"b.png"}}]}]}`), false},
		{"same body, other format", "x", "x", oai(`{"max_tokens":5}`),
			&llm.Request{Format: llm.Anthropic, Body: []byte(`{"max_tokens":5}`), Messages: oai("").Messages}, false},
		{"system differs", "claude-3-5-haiku", "claude-3-5-haiku", ant(antBase),
			func() *llm.Request { r := ant(antBase); r.System = "be long"; return r }(), false},
		{"opaque flag differs", "gpt-4o", "gpt-4o", oai(base),
			func() *llm.Request {
				r := oai(base)
				r.Messages = []llm.Message{{Role: "user", Content: "hi", Opaque: true}}
				return r
			}(), false},
		{"role differs", "gpt-4o", "gpt-4o", oai(base),
			func() *llm.Request {
				r := oai(base)
				r.Messages = []llm.Message{{Role: "assistant", Content: "hi"}}
				return r
			}(), false},
		{"message boundaries", "gpt-4o", "gpt-4o",
			&llm.Request{Messages: []llm.Message{{Role: "user", Content: "ab"}, {Role: "user", Content: "c"}}},
			&llm.Request{Messages: []llm.Message{{Role: "user", Content: "a"}, {Role: "user", Content: "bc"}}}, false},
		{"neutral fields equal", "gpt-4o", "gpt-4o",
			&llm.Request{MaxTokens: 10, Temperature: f64(0.5), Stream: true, Identity: llm.Identity{Agent: "a"}},
			&llm.Request{MaxTokens: 10, Temperature: f64(0.5), Identity: llm.Identity{Agent: "b"}}, true},
		{"neutral temperature differs", "gpt-4o", "gpt-4o",
			&llm.Request{MaxTokens: 10, Temperature: f64(0.5)}, &llm.Request{MaxTokens: 10, Temperature: f64(0.6)}, false},
		{"neutral temperature unset vs zero", "gpt-4o", "gpt-4o",
			&llm.Request{MaxTokens: 10}, &llm.Request{MaxTokens: 10, Temperature: f64(0)}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a, b := mustKey(t, tt.famA, tt.a), mustKey(t, tt.famB, tt.b)
			if got := a == b; got != tt.wantSame {
				t.Errorf("NewKey equal = %v, want %v (a=%v b=%v)", got, tt.wantSame, a, b)
			}
		})
	}
}

func TestNewKeyErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		family string
		r      *llm.Request
	}{
		{"nil request", "gpt-4o", nil},
		{"empty family", "", oai(`{}`)},
		{"broken json", "gpt-4o", oai(`{"a":`)},
		{"not an object", "gpt-4o", oai(`[1,2]`)},
		{"trailing data", "gpt-4o", oai(`{} {}`)},
		{"too deep", "gpt-4o", oai(`{"a":` + strings.Repeat("[", 5_000_000) + strings.Repeat("]", 5_000_000) + `}`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := NewKey(tt.family, tt.r)
			if !errors.Is(err, ErrInvalidRequest) {
				t.Errorf("NewKey() error = %v, want ErrInvalidRequest", err)
			}
		})
	}
}

func TestNewKeyDepthLimit(t *testing.T) {
	t.Parallel()
	nest := func(n int) string { return `{"a":` + strings.Repeat("[", n) + strings.Repeat("]", n) + `}` }
	if _, err := NewKey("f", oai(nest(maxDepth-1))); err != nil {
		t.Errorf("NewKey(depth %d) error: %v", maxDepth, err)
	}
	if _, err := NewKey("f", oai(nest(maxDepth))); !errors.Is(err, ErrInvalidRequest) {
		t.Errorf("NewKey(depth %d) error = %v, want ErrInvalidRequest", maxDepth+1, err)
	}
	// Brackets inside strings, escaped quotes included, do not count.
	s := `{"a":"\"` + strings.Repeat("[", 2*maxDepth) + `"}`
	if _, err := NewKey("f", oai(s)); err != nil {
		t.Errorf("NewKey(brackets in a string) error: %v", err)
	}
}

func TestKeyString(t *testing.T) {
	t.Parallel()
	k := mustKey(t, "gpt-4o", oai(`{}`))
	if got := len(k.String()); got != 64 {
		t.Errorf("len(Key.String()) = %d, want 64", got)
	}
	if k == (Key{}) {
		t.Errorf("NewKey() = zero Key")
	}
}

// FuzzNewKey checks that any body either fails cleanly or keys deterministically, and that
// re-encoding the same JSON with a different key order never changes the key.
func FuzzNewKey(f *testing.F) {
	for _, s := range []string{
		`{}`, `{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"temperature":0.2}`,
		`{"seed":1e400}`, `{"a":1,"a":2}`, `{"\u0061":"\ud83d\ude00"}`, `{"x":[[],{}]}`, `{"a":[1,2.5,-0,"x",null,true,{"b":{}}]}`, `[]`, `{"a":`, `null`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		r := &llm.Request{Format: llm.OpenAI, Body: []byte(body)}
		k1, err := NewKey("fam", r)
		if err != nil {
			if !errors.Is(err, ErrInvalidRequest) {
				t.Fatalf("NewKey() error = %v, want ErrInvalidRequest", err)
			}
			return
		}
		k2, err := NewKey("fam", r)
		if err != nil || k1 != k2 {
			t.Fatalf("NewKey() not deterministic: %v %v %v", k1, k2, err)
		}
		// encoding/json re-marshals with sorted keys, no whitespace and its own string
		// escaping; the key must not notice. It rewrites invalid UTF-8, so skip that.
		if !utf8.ValidString(body) {
			return
		}
		d := json.NewDecoder(strings.NewReader(body))
		d.UseNumber()
		var v any
		if err := d.Decode(&v); err != nil {
			t.Fatalf("NewKey accepted %q, encoding/json refused it: %v", body, err)
		}
		again, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		k3, err := NewKey("fam", &llm.Request{Format: llm.OpenAI, Body: again})
		if err != nil || k3 != k1 {
			t.Fatalf("NewKey(%q) != NewKey(%q): %v", body, again, err)
		}
	})
}

func BenchmarkNewKey(b *testing.B) {
	r := &llm.Request{Format: llm.OpenAI,
		Body: []byte(`{"model":"gpt-4o","messages":[{"role":"system","content":"You are a helpful assistant."},` +
			`{"role":"user","content":"Summarize the following paragraph in one sentence: the quick brown fox jumps over the lazy dog."}],` +
			`"temperature":0.2,"max_tokens":256,"user":"agent-7","stream":true}`),
		System: "You are a helpful assistant.",
		Messages: []llm.Message{{Role: "user",
			Content: "Summarize the following paragraph in one sentence: the quick brown fox jumps over the lazy dog."}}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := NewKey("gpt-4o", r); err != nil {
			b.Fatal(err)
		}
	}
}
