package ledger

import (
	"strings"
	"testing"
	_ "time/tzdata" // the zones below, whatever the machine has installed
)

func TestParseDim(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    Dim
		wantErr bool
	}{
		{"session", BySession, false},
		{" Agent ", ByAgent, false},
		{"model", ByModel, false},
		{"day", ByDay, false},
		{"tenant", ByTenant, false},
		{"key", ByKey, false},
		{"route", ByRoute, false},
		{"provider", ByProvider, false},
		{"none", ByNone, false},
		{"", ByNone, false},
		{"ts", "", true},
		{"colour", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseDim(tt.in)
			if got != tt.want || (err != nil) != tt.wantErr {
				t.Errorf("ParseDim(%q) = %q, %v, want %q, error %v", tt.in, got, err, tt.want, tt.wantErr)
			}
			if err != nil && !strings.Contains(err.Error(), "unknown dimension") {
				t.Errorf("ParseDim(%q) error = %v, want it to say unknown dimension", tt.in, err)
			}
		})
	}
}

// FuzzParseDim: ParseDim reads a command-line flag. Whatever it accepts must be a known
// dimension that Query can group by.
func FuzzParseDim(f *testing.F) {
	for _, s := range []string{"session", "DAY", " agent", "none", "", "ts", "key_id", "tenant;drop"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDim(s)
		if err != nil {
			return
		}
		if _, ok := d.column(); !ok {
			t.Fatalf("ParseDim(%q) = %q, which has no column", s, d)
		}
		if again, err := ParseDim(string(d)); err != nil || again != d {
			t.Fatalf("ParseDim(ParseDim(%q) = %q) = %q, %v", s, d, again, err)
		}
	})
}
