package config

import (
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/tollgate/tollgate/quota"
)

func TestParseDollars(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    int64
		wantErr bool
	}{
		{"0", 0, false},
		{"1", 1_000_000, false},
		{"12.50", 12_500_000, false},
		{"0.1", 100_000, false}, // exact: float64 0.1 is not
		{"0.000001", 1, false},
		{"$3.25", 3_250_000, false},
		{"1_000", 1_000_000_000, false},
		{".5", 500_000, false},
		{"5.", 5_000_000, false},
		{"+2", 2_000_000, false},
		{"0.0000010", 1, false}, // trailing zeros are not precision
		{"1000000000", 1_000_000_000_000_000, false},
		{"1000000001", 0, true},
		{"0.0000001", 0, true},
		{"-1", 0, true},
		{"", 0, true},
		{".", 0, true},
		{"1e3", 0, true},
		{"1.2.3", 0, true},
		{"twelve", 0, true},
		{"$", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseDollars(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("ParseDollars(%q) error = %v, want error %v", tt.in, err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("ParseDollars(%q) = %d, want %d", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseAmount(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, unit string
		want     int64
		wantErr  bool
	}{
		{"500", "requests", 500, false},
		{"2_000_000", "tokens", 2_000_000, false},
		{"12.50", "usd", 12_500_000, false},
		{"12", "usd", 12_000_000, false},
		{"1500", "micro_usd", 1500, false}, // micro_usd is written as an integer count
		{"1.5", "micro_usd", 0, true},
		{"1.5", "requests", 0, true},
		{"-3", "tokens", 0, true},
		{"99999999999999999999", "tokens", 0, true},
		{"10", "concurrent", 10, false},
	}
	for _, tt := range tests {
		t.Run(tt.unit+"/"+tt.in, func(t *testing.T) {
			got, err := ParseAmount(tt.in, tt.unit)
			if (err != nil) != tt.wantErr {
				t.Fatalf("ParseAmount(%q, %q) error = %v, want error %v", tt.in, tt.unit, err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("ParseAmount(%q, %q) = %d, want %d", tt.in, tt.unit, got, tt.want)
			}
		})
	}
}

func TestParseWindow(t *testing.T) {
	t.Parallel()
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		in      string
		want    quota.Window
		wantErr bool
	}{
		{"minute", quota.Rolling(time.Minute), false},
		{"1m", quota.Rolling(time.Minute), false},
		{"Minute", quota.Rolling(time.Minute), false},
		{"second", quota.Rolling(time.Second), false},
		{"hour", quota.Rolling(time.Hour), false},
		{"1h", quota.Rolling(time.Hour), false},
		{"10s", quota.Rolling(10 * time.Second), false},
		{"day", quota.Daily(paris), false},
		{"month", quota.Monthly(paris), false},
		{"lifetime", quota.Forever(), false},
		{"lease", quota.Leased(), false},
		{"", quota.Window{}, true},
		{"0s", quota.Window{}, true},
		{"-1m", quota.Window{}, true},
		{"weekly", quota.Window{}, true},
		{"60", quota.Window{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseWindow(tt.in, paris)
			if (err != nil) != tt.wantErr {
				t.Fatalf("ParseWindow(%q) error = %v, want error %v", tt.in, err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("ParseWindow(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
		})
	}
}

// decodeScalar decodes "v: <text>" into a struct with one field of type T.
func decodeScalar[T any](text string) (T, error) {
	var out struct {
		V T `yaml:"v"`
	}
	err := yaml.Unmarshal([]byte("v: "+text), &out)
	return out.V, err
}

func TestDuration(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    time.Duration
		wantErr bool
	}{
		{"30s", 30 * time.Second, false},
		{"1m30s", 90 * time.Second, false},
		{"250ms", 250 * time.Millisecond, false},
		{"0", 0, false},
		{"-1s", -time.Second, false}, // the validator decides where negative is allowed
		{"30", 0, true},              // a bare number's unit would be a guess
		{"1d", 0, true},
		{"[1s]", 0, true},
		{"soon", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := decodeScalar[Duration](tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("decode %q error = %v, want error %v", tt.in, err, tt.wantErr)
			}
			if got.D() != tt.want {
				t.Errorf("decode %q = %v, want %v", tt.in, got.D(), tt.want)
			}
		})
	}
}

func TestSize(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    Size
		wantErr bool
	}{
		{"4MiB", 4 << 20, false},
		{"64MB", 64_000_000, false},
		{"512KiB", 512 << 10, false},
		{"1048576", 1 << 20, false},
		{"1_048_576", 1 << 20, false},
		{"0", 0, false},
		{"-1", 0, true},
		{"lots", 0, true},
		{"{a: 1}", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := decodeScalar[Size](tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("decode %q error = %v, want error %v", tt.in, err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("decode %q = %d, want %d", tt.in, got, tt.want)
			}
		})
	}
}

func TestNumberKeepsText(t *testing.T) {
	t.Parallel()
	// A YAML float must reach ParseDollars as its text: 0.1 would not survive a float64.
	for _, in := range []string{"0.1", `"12.50"`, "500", "1_000"} {
		got, err := decodeScalar[Number](in)
		if err != nil {
			t.Fatalf("decode %s: %v", in, err)
		}
		want := in
		if in[0] == '"' {
			want = in[1 : len(in)-1]
		}
		if string(got) != want {
			t.Errorf("decode %s = %q, want %q", in, got, want)
		}
	}
	for _, in := range []string{"[1]", "{a: 1}", "true", `""`} {
		if _, err := decodeScalar[Number](in); err == nil {
			t.Errorf("decode %s: no error, want one", in)
		}
	}
}
