package tokens

import (
	"maps"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/tiktoken-go/tokenizer"
)

func TestCounterPieces(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		pieces []string
	}{
		{"none", nil},
		{"empty pieces", []string{"", ""}},
		{"deltas with their leading space", []string{"The", " rate", " limit", " of", " the", " gateway", "."}},
		{"a tool call's arguments in fragments", []string{`{"`, `city`, `":"`, `Paris`, `","`, `unit`, `":"`, `celsius`, `"}`}},
		{"digits in groups", []string{"123", "456", "789"}},
		{"lines", []string{"first line", "\n", "second line", "\n\n", "third"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var c Counter
			for _, p := range tt.pieces {
				c.Add(p)
			}
			if got, want := c.Tokens(), int64(Text(strings.Join(tt.pieces, ""))); got != want {
				t.Errorf("Counter over %q = %d, want Text of the whole = %d", tt.pieces, got, want)
			}
		})
	}
}

func TestCounterAnthropicMargin(t *testing.T) {
	t.Parallel()
	text := "The answer is forty two, and the reason is long enough to count."
	oa, an := ForProvider("openai"), ForProvider("anthropic")
	oa.Add(text)
	an.Add(text)
	// One rounding instead of two: at most one token under rounding Text and then the margin.
	if got, want := an.Tokens(), (int64(Text(text))*AnthropicMargin+3)/4; got < want-1 || got > want {
		t.Errorf("anthropic Counter = %d, want %d or one less (Text x %d/4)", got, want, AnthropicMargin)
	}
	if got, want := oa.Tokens(), int64(Text(text)); got != want {
		t.Errorf("openai Counter = %d, want Text = %d", got, want)
	}
}

// TestCounterStreamedCorpus relays every corpus sample as a provider streams it, one
// o200k_base token per delta (joined with the next while it ends inside a character: the
// APIs send deltas as JSON strings, whole characters only), and holds the count to Text's
// bounds against o200k_base with room for the cuts: counting in pieces loses nothing to
// them.
func TestCounterStreamedCorpus(t *testing.T) {
	t.Parallel()
	o200 := codec(t, tokenizer.O200kBase)
	texts := corpus(t)
	for _, name := range slices.Sorted(maps.Keys(texts)) {
		_, pieces, err := o200.Encode(texts[name])
		if err != nil {
			t.Fatal(err)
		}
		var c Counter
		deltas, pending := 0, ""
		for _, p := range pieces {
			if pending += p; utf8.ValidString(pending) {
				c.Add(pending)
				deltas, pending = deltas+1, ""
			}
		}
		c.Add(pending)
		ratio := float64(c.Tokens()) / float64(len(pieces))
		t.Logf("%-18s %5d deltas %6d o200k %6d Counter %6d Text  %.3f", name, deltas, len(pieces), c.Tokens(), Text(texts[name]), ratio)
		if ratio < minRatio || ratio > maxRatio*1.15 {
			t.Errorf("%s streamed in %d deltas: Counter = %d for %d tokens, ratio %.3f, want within [%.2f, %.2f]",
				name, deltas, c.Tokens(), len(pieces), ratio, minRatio, maxRatio*1.15)
		}
		if whole := int64(Text(texts[name])); c.Tokens() < whole*95/100 {
			t.Errorf("%s: Counter = %d, under 95%% of Text of the whole = %d", name, c.Tokens(), whole)
		}
	}
}

func BenchmarkCounter(b *testing.B) {
	deltas := strings.Fields("the rate limit of the gateway is reached when the fleet of agents asks for more than its budget allows")
	for i := range deltas[1:] {
		deltas[i+1] = " " + deltas[i+1]
	}
	b.ReportAllocs()
	for b.Loop() {
		var c Counter
		for _, d := range deltas {
			c.Add(d)
		}
		_ = c.Tokens()
	}
}
