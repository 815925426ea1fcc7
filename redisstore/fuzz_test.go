package redisstore

import "testing"

// FuzzParsePolicy checks that any configuration string either parses to a policy that
// prints back to itself, or fails.
func FuzzParsePolicy(f *testing.F) {
	for _, s := range []string{"", "fail_closed", "fail_open_local", "fail_open", "FAIL_CLOSED"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePolicy(s)
		if err != nil {
			return
		}
		if back, err := ParsePolicy(p.String()); err != nil || back != p {
			t.Errorf("ParsePolicy(%q) = %v, which prints %q and parses back to %v, %v", s, p, p.String(), back, err)
		}
	})
}
