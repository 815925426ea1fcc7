package learn

import (
	"math"
	"testing"
	"time"
)

// step is one event of a control-law table, at a time since the table's start, with the
// limit expected after it (a negative want is not checked).
type step struct {
	ev   event
	at   time.Duration // Now
	sent time.Duration // Sent; 0 means at
	want float64
}

func TestLaw(t *testing.T) {
	t.Parallel()
	cfg := Config{}.withDefaults()
	const s = time.Second
	stated := func(n int64, src Source) event { return event{Kind: evStated, Dim: Requests, Limit: n, Source: src} }
	accepted := func(n float64) event { return event{Kind: evAccepted, Dim: Requests, Amount: n} }
	refused := event{Kind: evRefused, Dim: Requests, Amount: 1}
	probe := func(binding bool) event { return event{Kind: evProbe, Dim: Requests, Binding: binding} }
	tests := []struct {
		name  string
		steps []step
	}{
		{"headers state the limit, which follows them", []step{
			{ev: stated(120, SourceHeaders), at: 0, want: 120},
			{ev: stated(120, SourceHeaders), at: s, want: 120},
			{ev: stated(60, SourceHeaders), at: 2 * s, want: 60},
			{ev: stated(200, SourceHeaders), at: 3 * s, want: 200},
		}},
		{"first refusal: one bucket plus the refill since the first call", []step{
			{ev: accepted(60), at: 2 * s, sent: 1 * s, want: 0},
			{ev: accepted(72), at: 7 * s, sent: 6 * s, want: 0},
			// 132 accepted over 6s since the first call: a bucket of 120 plus 6s of refill.
			{ev: refused, at: 7 * s, sent: 7 * s, want: 120},
			// An answer to a call sent before the refusal, observed after it, counts.
			{ev: accepted(11), at: 8 * s, sent: 6 * s, want: 130},
			// One sent after it does not.
			{ev: accepted(50), at: 9 * s, sent: 8 * s, want: 130},
		}},
		{"a stated limit holds through refusals: they say its window is spent", []step{
			{ev: stated(120, SourceHeaders), at: 0, want: 120},
			// A fleet's startup burst, sent before the limit was known, and refusals of
			// calls sent after it (replicas that had not learned it yet).
			{ev: refused, at: 1 * s, sent: 0, want: 120},
			{ev: refused, at: 2 * s, sent: 1 * s, want: 120},
			{ev: refused, at: 20 * s, sent: 19 * s, want: 120},
			{ev: probe(true), at: 30 * s, want: 120},
			// A refusal whose message states the limit again.
			{ev: stated(120, SourceMessage), at: 40 * s, want: 120},
			{ev: refused, at: 40 * s, want: 120},
			// A limit that changes is followed, and holds in turn.
			{ev: stated(60, SourceHeaders), at: 50 * s, want: 60},
			{ev: refused, at: 51 * s, want: 60},
			{ev: stated(200, SourceHeaders), at: 60 * s, want: 200},
			{ev: refused, at: 70 * s, want: 200},
			// Headers are read on every answer and follow a raise: no probe above them.
			{ev: probe(true), at: 5 * time.Minute, want: 200},
			{ev: probe(true), at: 5*time.Minute + 10*s, want: 200},
			{ev: probe(true), at: 5*time.Minute + 20*s, want: 200},
		}},
		{"a limit stated only in a refusal's message is held, then probed above", []step{
			{ev: accepted(130), at: 1 * s, want: 0},
			{ev: stated(120, SourceMessage), at: 1 * s, want: 120},
			{ev: refused, at: 1 * s, want: 120},
			{ev: probe(true), at: 11 * s, want: 120}, // refused since the last check
			{ev: probe(true), at: 21 * s, want: 120}, // held from the refusal at 1s
			// Nothing would state a raise: once held, it is probed like an unstated limit.
			{ev: probe(true), at: 1*s + 3*time.Minute, want: 120 * 1.02},
			{ev: probe(true), at: 11*s + 3*time.Minute, want: 120 * 1.02 * 1.04},
			// Refused above it: cut back, no lower than the statement (the stretch since
			// 1s measures 120.0 a minute; 0.98 of it and the multiplicative cut are lower).
			{ev: refused, at: 16*s + 3*time.Minute, want: 120},
			{ev: probe(true), at: 31*s + 3*time.Minute, want: 120},
			{ev: probe(true), at: 41*s + 3*time.Minute, want: 120}, // held again from the cut
			// Only a new statement brings it lower, or higher.
			{ev: stated(60, SourceMessage), at: 4 * time.Minute, want: 60},
			{ev: refused, at: 4*time.Minute + 10*s, want: 60},
			{ev: stated(200, SourceMessage), at: 5 * time.Minute, want: 200},
		}},
		{"a limit stated only in a refusal's message holds too", []step{
			{ev: accepted(130), at: 1 * s, want: 0},
			{ev: stated(120, SourceMessage), at: 1 * s, want: 120},
			{ev: refused, at: 1 * s, want: 120},
			{ev: refused, at: 30 * s, want: 120},
		}},
		{"one overload is one cut", []step{
			// Learned from a first refusal: 100 accepted, none of them refilled.
			{ev: accepted(100), at: 0, want: 0},
			{ev: refused, at: 0, want: 100},
			{ev: refused, at: 10 * s, sent: 10 * s, want: 90},
			// Sent after the cut: another overload. The 9s since the cut are too short to
			// measure the provider within 10%, so the cut is the multiplicative one.
			{ev: refused, at: 20 * s, sent: 19 * s, want: 81},
			// Sent before the cut at 20s: the same overload.
			{ev: refused, at: 21 * s, sent: 20 * s, want: 81},
			{ev: refused, at: 21 * s, sent: 15 * s, want: 81},
		}},
		{"a long stretch measures the provider: the estimate sets the plateau", []step{
			{ev: accepted(100), at: 0, want: 0},
			{ev: refused, at: 0, want: 100},
			{ev: refused, at: 1 * s, sent: 1 * s, want: 90},
			// From the cut at 1s the quota let through 90 a minute for 30s: 45 calls. The
			// provider refused the 45th: it refilled 44 in 30s, 88 a minute. The cut is
			// the multiplicative one (81 < 88 × 0.98); the climb back stops at 86.24.
			{ev: refused, at: 31 * s, sent: 31 * s, want: 81},
			// The check after a refusal does not raise: a refusal came since the last one.
			{ev: probe(true), at: 41 * s, want: 81},
			{ev: probe(true), at: 51 * s, want: 81 + (86.24-81)/2},
			{ev: probe(true), at: 55 * s, want: 81 + (86.24-81)/2},  // one check per interval
			{ev: probe(false), at: 61 * s, want: 81 + (86.24-81)/2}, // not binding
			{ev: probe(true), at: 71 * s, want: 83.62 * 1.02},
			{ev: probe(true), at: 81 * s, want: 86.24},
			{ev: probe(true), at: 91 * s, want: 86.24}, // holds from the cut at 31s
			{ev: probe(true), at: 31*s + 3*time.Minute, want: 86.24 * 1.02},
			{ev: probe(true), at: 31*s + 3*time.Minute + 10*s, want: 86.24 * 1.02 * 1.04},
			{ev: probe(true), at: 31*s + 3*time.Minute + 20*s, want: 86.24 * 1.02 * 1.04 * 1.08},
			{ev: probe(true), at: 31*s + 3*time.Minute + 30*s, want: 86.24 * 1.02 * 1.04 * 1.08 * 1.16},
			{ev: probe(true), at: 31*s + 3*time.Minute + 40*s, want: 86.24 * 1.02 * 1.04 * 1.08 * 1.16 * 1.16}, // MaxIncrease
		}},
		{"a stated limit is exact: late answers to the first refusal do not raise it", []step{
			{ev: accepted(100), at: 0, want: 0},
			{ev: refused, at: 0, want: 100},
			{ev: stated(95, SourceMessage), at: 1 * s, want: 95},
			{ev: accepted(20), at: 2 * s, sent: 0, want: 95},
			{ev: probe(true), at: 4 * time.Minute, want: 95},
		}},
		{"without a stated limit, probing has no ceiling", []step{
			{ev: accepted(600), at: 10 * s, sent: 9 * s, want: 0},
			{ev: refused, at: 10 * s, sent: 10 * s, want: 600 / (1 + 1.0/60)},
			{ev: probe(true), at: 20 * s, want: 600 / (1 + 1.0/60)}, // refused since the last check
			{ev: probe(true), at: 30 * s, want: 600 / (1 + 1.0/60) * 1.02},
			{ev: probe(true), at: 40 * s, want: 600 / (1 + 1.0/60) * 1.02 * 1.04},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var st state
			var prev float64
			for i, sp := range tt.steps {
				ev := sp.ev
				ev.Now = t0.Add(sp.at).UnixNano()
				ev.Sent = ev.Now
				if sp.sent != 0 {
					ev.Sent = t0.Add(sp.sent).UnixNano()
				}
				st.apply(&cfg, &ev)
				got := st.Dims[Requests].Limit
				if sp.want >= 0 && math.Abs(got-sp.want) > 1e-6 {
					t.Fatalf("step %d (%v at %v): limit %.4f, want %.4f", i, ev.Kind, sp.at, got, sp.want)
				}
				if sp.want < 0 && i > 0 && got > prev {
					t.Fatalf("step %d (%v at %v): limit rose from %.4f to %.4f", i, ev.Kind, sp.at, prev, got)
				}
				prev = got
			}
		})
	}
}
