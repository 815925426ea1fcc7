package emulator

import (
	"encoding/json"
	"strconv"
	"time"
)

// The emulator writes its responses with append-style builders rather than encoding/json:
// the shapes are fixed, and this is the benchmark upstream, where reflection-based encoding
// would dominate the cost of a request.

// appendString appends s as a JSON string.
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c >= 0x7f {
			q, _ := json.Marshal(s) // rare: escape properly
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

func appendInt(b []byte, n int64) []byte { return strconv.AppendInt(b, n, 10) }

// formatWait formats a duration the way OpenAI's x-ratelimit-reset-* headers and messages
// do: "20ms" below a second, else Go's form rounded to the millisecond ("2.4s", "6m0s").
func formatWait(d time.Duration) string {
	if d <= 0 {
		return "0s"
	}
	if d < time.Second {
		return strconv.FormatInt(int64((d+time.Millisecond-1)/time.Millisecond), 10) + "ms"
	}
	return d.Round(time.Millisecond).String()
}

// seconds rounds a wait up to whole seconds, for retry-after.
func seconds(d time.Duration) int64 {
	return int64((d + time.Second - 1) / time.Second)
}

// thousands formats n with comma separators, as Anthropic's messages do.
func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	if n < 0 {
		return s
	}
	out := make([]byte, 0, len(s)+len(s)/3)
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	return string(out)
}
