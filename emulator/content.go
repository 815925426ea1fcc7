package emulator

import "strings"

// vocabulary is what answers are made of. Every word is one token under CountTokens, so the
// usage an answer reports is exactly its number of words.
var vocabulary = strings.Fields(`the a rate limit token budget agent model request answer
fleet quota window minute second gateway upstream retry queue priority fallback cache stream
usage cost price tenant session key replica bucket refill burst spend ledger provider error
signal capacity headroom latency server client header reset deadline policy chain cooldown
learn grow cut reserve settle release fair order`)

// corpus is a long precomputed text; an answer of n tokens is a substring of it starting at
// a word boundary, so serving one allocates nothing for its content.
type corpus struct {
	text   string
	starts []int32 // starts[i] is the offset of word i; starts[len] == len(text)+1
}

func newCorpus(seed uint64, words int) *corpus {
	r := newRNG(seed, 0x636f72707573)
	var b strings.Builder
	starts := make([]int32, 0, words+1)
	for i := range words {
		if i > 0 {
			b.WriteByte(' ')
		}
		starts = append(starts, int32(b.Len()))
		b.WriteString(vocabulary[r.intn(len(vocabulary))])
	}
	starts = append(starts, int32(b.Len()+1))
	return &corpus{text: b.String(), starts: starts}
}

// words returns n words starting at word i: the text, without trailing space.
func (c *corpus) words(i, n int) string {
	if n == 0 {
		return ""
	}
	return c.text[c.starts[i] : c.starts[i+n]-1]
}

// CountTokens is the emulator's tokenizer: a token is a run of letters or digits (any
// non-ASCII byte counts as a letter), or any other single non-space character. It is a rough
// stand-in for the providers' tokenizers that is cheap and that the emulator applies
// identically to prompts and to its own answers.
func CountTokens(s string) int {
	n := 0
	inWord := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c >= 0x80:
			if !inWord {
				n++
				inWord = true
			}
		case c == ' ' || c == '\n' || c == '\t' || c == '\r':
			inWord = false
		default:
			n++
			inWord = false
		}
	}
	return n
}

// Per-message overheads in prompt counts, after OpenAI's documented chat accounting: each
// message costs a few tokens of framing and the reply is primed with a few more.
const (
	tokensPerMessage = 3
	tokensPerPrompt  = 3
)

// isWordByte reports whether c belongs to a run of letters or digits under CountTokens.
func isWordByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c >= 0x80
}

func isSpace(c byte) bool { return c == ' ' || c == '\n' || c == '\t' || c == '\r' }

// cutTokens returns the byte offset just after the first k tokens of s under CountTokens,
// or len(s) when s has no more than k tokens (trailing spaces included), so that
// CountTokens(s[:i]) + CountTokens(s[i:]) == CountTokens(s).
func cutTokens(s string, k int) int {
	i := 0
	for n := 0; i < len(s); {
		c := s[i]
		switch {
		case isSpace(c):
			i++
			continue
		case n == k:
			return i
		case isWordByte(c):
			for i < len(s) && isWordByte(s[i]) {
				i++
			}
		default:
			i++
		}
		n++
	}
	return len(s)
}

// forTokens calls f with each token of s under CountTokens, in order.
func forTokens(s string, f func(tok string)) {
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case isSpace(c):
			i++
		case isWordByte(c):
			j := i
			for j < len(s) && isWordByte(s[j]) {
				j++
			}
			f(s[i:j])
			i = j
		default:
			f(s[i : i+1])
			i++
		}
	}
}
