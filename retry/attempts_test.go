package retry

import "testing"

func TestAttempts(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		max  int
		want int // attempts granted
	}{
		{"zero is the default", 0, DefaultChainAttempts},
		{"one", 1, 1},
		{"seven", 7, 7},
		{"negative grants none", -2, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a := Attempts{Max: tt.max}
			if got := a.Left(); got != tt.want {
				t.Errorf("Left() before any Take = %d, want %d", got, tt.want)
			}
			got := 0
			for a.Take() {
				got++
				if got > 100 {
					break
				}
			}
			if got != tt.want || a.Used() != tt.want || a.Left() != 0 {
				t.Errorf("Take granted %d, Used %d, Left %d; want %d, %d, 0", got, a.Used(), a.Left(), tt.want, tt.want)
			}
		})
	}
}
