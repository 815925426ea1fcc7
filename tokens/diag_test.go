package tokens

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/tiktoken-go/tokenizer"
)

func TestDiag(t *testing.T) {
	o200, _ := tokenizer.Get(tokenizer.O200kBase)
	b, _ := os.ReadFile(os.Getenv("F"))
	for _, l := range strings.SplitAfter(string(b), "\n") {
		o, _ := o200.Count(l)
		e := Text(l)
		if e-o >= 3 || o-e >= 2 {
			ids, _, _ := o200.Encode(l)
			var parts []string
			for _, id := range ids {
				d, _ := o200.Decode([]uint{id})
				parts = append(parts, fmt.Sprintf("%q", d))
			}
			fmt.Printf("o=%d e=%d %q\n   %s\n", o, e, l, strings.Join(parts, " "))
		}
	}
}
