package tokens

import (
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tiktoken-go/tokenizer"
	"github.com/tollgate/tollgate/llm"
)

// The bounds Text honours against o200k_base on every corpus sample, as documented in doc.go.
const (
	minRatio = 1.00 // never under
	maxRatio = 1.30
	// Paragraphs are shorter and noisier than whole samples.
	minParagraphRatio = 0.95
	maxParagraphRatio = 1.60
)

func codec(t testing.TB, enc tokenizer.Encoding) tokenizer.Codec {
	t.Helper()
	c, err := tokenizer.Get(enc)
	if err != nil {
		t.Fatalf("tokenizer.Get(%s): %v", enc, err)
	}
	return c
}

func count(t testing.TB, c tokenizer.Codec, s string) int {
	t.Helper()
	n, err := c.Count(s)
	if err != nil {
		t.Fatalf("Count: %v", err)
	}
	return n
}

func corpus(t testing.TB) map[string]string {
	t.Helper()
	files, err := filepath.Glob("testdata/corpus/*")
	if err != nil || len(files) < 10 {
		t.Fatalf("corpus: %d files, %v; want at least 10", len(files), err)
	}
	m := map[string]string{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		m[filepath.Base(f)] = string(b)
	}
	return m
}

// TestTextAccuracy measures Text against the real o200k_base tokenizer (gpt-4o, gpt-4.1, o3,
// o4-mini, gpt-5) and logs cl100k_base (gpt-3.5-turbo, gpt-4) beside it. Run with -v to see
// the table that doc.go reproduces.
func TestTextAccuracy(t *testing.T) {
	t.Parallel()
	o200, cl100 := codec(t, tokenizer.O200kBase), codec(t, tokenizer.Cl100kBase)
	t.Logf("%-18s %6s %7s %7s %6s %8s %8s", "sample", "bytes", "o200k", "cl100k", "Text", "/o200k", "/cl100k")
	texts := corpus(t)
	for _, name := range slices.Sorted(maps.Keys(texts)) {
		s := texts[name]
		real, cl, got := count(t, o200, s), count(t, cl100, s), Text(s)
		ratio := float64(got) / float64(real)
		t.Logf("%-18s %6d %7d %7d %6d %8.3f %8.3f", name, len(s), real, cl, got, ratio, float64(got)/float64(cl))
		if ratio < minRatio || ratio > maxRatio {
			t.Errorf("%s: Text = %d, o200k_base = %d: ratio %.3f, want within [%.2f, %.2f]", name, got, real, ratio, minRatio, maxRatio)
		}
	}
}

func TestTextAccuracyParagraphs(t *testing.T) {
	t.Parallel()
	o200 := codec(t, tokenizer.O200kBase)
	for name, s := range corpus(t) {
		for i, p := range strings.Split(s, "\n\n") {
			real := count(t, o200, p)
			if real < 30 {
				continue
			}
			got := Text(p)
			if r := float64(got) / float64(real); r < minParagraphRatio || r > maxParagraphRatio {
				t.Errorf("%s paragraph %d: Text = %d, o200k_base = %d: ratio %.3f, want within [%.2f, %.2f]",
					name, i, got, real, r, minParagraphRatio, maxParagraphRatio)
			}
		}
	}
}

// chatTokens is OpenAI's documented count of a chat request's messages (the cookbook's
// num_tokens_from_messages): 3 per message plus role and content, 1 more per name, 3 per
// request.
func chatTokens(t testing.TB, c tokenizer.Codec, msgs []struct{ Role, Name, Content string }) int {
	n := 3
	for _, m := range msgs {
		n += 3 + count(t, c, m.Role) + count(t, c, m.Content)
		if m.Name != "" {
			n += 1 + count(t, c, m.Name)
		}
	}
	return n
}

func TestChatAccuracy(t *testing.T) {
	t.Parallel()
	o200 := codec(t, tokenizer.O200kBase)
	body, err := os.ReadFile("testdata/openai_chat.json")
	if err != nil {
		t.Fatal(err)
	}
	var req struct {
		Messages []struct{ Role, Name, Content string }
	}
	if err := json.Unmarshal(body, &req); err != nil {
		t.Fatal(err)
	}
	real := chatTokens(t, o200, req.Messages)

	got, err := OpenAIChat(body)
	if err != nil {
		t.Fatalf("OpenAIChat error: %v", err)
	}
	var system string
	var msgs []llm.Message
	for _, m := range req.Messages {
		if m.Role == "system" {
			system = m.Content
			continue
		}
		msgs = append(msgs, llm.Message{Role: m.Role, Content: m.Content})
	}
	neutral := Messages(system, msgs)
	anth, err := AnthropicMessages(body) // same shape: role and string content
	if err != nil {
		t.Fatalf("AnthropicMessages error: %v", err)
	}
	t.Logf("chat: o200k_base %d, OpenAIChat %d (%.3f), Messages %d (%.3f), AnthropicMessages %d (%.3f)",
		real, got, float64(got)/float64(real), neutral, float64(neutral)/float64(real), anth, float64(anth)/float64(real))
	for _, c := range []struct {
		name string
		got  int
		max  float64
	}{{"OpenAIChat", got, maxRatio}, {"Messages", neutral, maxRatio}, {"AnthropicMessages", anth, maxRatio * 5 / 4}} {
		if r := float64(c.got) / float64(real); r < minRatio || r > c.max {
			t.Errorf("%s = %d, o200k_base chat count = %d: ratio %.3f, want within [%.2f, %.2f]", c.name, c.got, real, r, minRatio, c.max)
		}
	}
}

// TestToolsAccuracy checks that the tools request is not underestimated: the real count is
// at most the messages' count plus the tool definitions as JSON plus the images' allowance.
func TestToolsAccuracy(t *testing.T) {
	t.Parallel()
	o200 := codec(t, tokenizer.O200kBase)
	body, err := os.ReadFile("testdata/openai_tools.json")
	if err != nil {
		t.Fatal(err)
	}
	var req struct {
		Messages []json.RawMessage
		Tools    json.RawMessage
	}
	if err := json.Unmarshal(body, &req); err != nil {
		t.Fatal(err)
	}
	// An upper bound of the real count: every message's JSON as text, the tools' JSON, and
	// the two images at their real worst case (1,445 for high detail on gpt-4o, 85 for low).
	var msgs []struct{ Role, Name, Content string }
	for _, m := range req.Messages {
		msgs = append(msgs, struct{ Role, Name, Content string }{Role: "x", Content: string(m)})
	}
	bound := chatTokens(t, o200, msgs) + count(t, o200, string(req.Tools)) + 1445 + 85
	got, err := OpenAIChat(body)
	if err != nil {
		t.Fatalf("OpenAIChat error: %v", err)
	}
	t.Logf("tools: OpenAIChat %d, upper bound of the real count %d", got, bound)
	if got < bound*9/10 || got > bound*3/2 {
		t.Errorf("OpenAIChat = %d, want within [0.9, 1.5] of the JSON-text bound %d", got, bound)
	}
}
