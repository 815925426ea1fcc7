package config

import (
	"os"
	"testing"
)

// BenchmarkParseValidate measures loading the sample configuration: what `config check`
// and a gateway's start pay once.
func BenchmarkParseValidate(b *testing.B) {
	data, err := os.ReadFile("../../tollgate.yaml")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		c, err := Parse("tollgate.yaml", data)
		if err != nil {
			b.Fatal(err)
		}
		if ps := c.Validate(); len(ps) > 0 {
			b.Fatal(ps)
		}
	}
}
