package fallback

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/tollgate/tollgate/llm"
)

func TestOutcomeRecord(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		attempts     []Attempt
		wantServed   string
		wantReason   string
		wantFellBack bool
		wantString   string
	}{
		{"first serves", []Attempt{{Model: "gpt-4o", Provider: "openai", Result: Served}},
			"gpt-4o", "", false, "served=gpt-4o stale=false clamped=0 attempts=[openai/gpt-4o served]"},
		{"cooldown then fallback", []Attempt{
			{Model: "gpt-4o", Provider: "openai", Result: Skipped, Reason: "cooldown until 12:00:03"},
			{Model: "gpt-4o-mini", Provider: "openai", Result: Served}},
			"gpt-4o-mini", "openai/gpt-4o: cooldown until 12:00:03", true,
			`served=gpt-4o-mini stale=false clamped=0 fallback="openai/gpt-4o: cooldown until 12:00:03" ` +
				`attempts=[openai/gpt-4o skipped (cooldown until 12:00:03); openai/gpt-4o-mini served]`},
		{"failure reason from error", []Attempt{
			{Model: "gpt-4o", Provider: "openai", Result: Failed, Err: kindErr(llm.KindBadRequest)},
			{Model: "claude-3-5-haiku", Provider: "anthropic", Result: Failed, Reason: "overloaded"},
			{Model: "cached", Result: Served}},
			"cached", "openai/gpt-4o: openai: bad_request", true,
			`served=cached stale=false clamped=0 fallback="openai/gpt-4o: openai: bad_request" ` +
				`attempts=[openai/gpt-4o failed (openai: bad_request); anthropic/claude-3-5-haiku failed (overloaded); cached served]`},
		{"nothing served", []Attempt{{Model: "gpt-4o", Result: Skipped}},
			"", "gpt-4o: skipped", false,
			`served=none stale=false clamped=0 fallback="gpt-4o: skipped" attempts=[gpt-4o skipped]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var o Outcome
			for _, a := range tt.attempts {
				o.Record(a)
			}
			if o.Served != tt.wantServed || o.FallbackReason != tt.wantReason || o.FellBack() != tt.wantFellBack {
				t.Errorf("Outcome = served %q reason %q fellBack %v, want %q %q %v",
					o.Served, o.FallbackReason, o.FellBack(), tt.wantServed, tt.wantReason, tt.wantFellBack)
			}
			if got := o.String(); got != tt.wantString {
				t.Errorf("String() = %s\nwant       %s", got, tt.wantString)
			}
		})
	}
}

func TestOutcomeLogValue(t *testing.T) {
	t.Parallel()
	o := &Outcome{Stale: true, Clamped: 512}
	o.Record(Attempt{Model: "gpt-4o", Provider: "openai", Result: Failed, Reason: "429 after 3 attempts"})
	o.Record(Attempt{Model: "cached", Result: Served})
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	})).Info("request", "outcome", o)
	want := `level=INFO msg=request outcome.served=cached outcome.stale=true ` +
		`outcome.fallback_reason="openai/gpt-4o: 429 after 3 attempts" outcome.clamped=512 outcome.attempts=2 ` +
		`outcome.chain="openai/gpt-4o failed (429 after 3 attempts); cached served"`
	if got := strings.TrimSpace(buf.String()); got != want {
		t.Errorf("log line = %s\nwant       %s", got, want)
	}
}
