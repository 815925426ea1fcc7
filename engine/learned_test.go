package engine_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/tollgate/tollgate/emulator"
	"github.com/tollgate/tollgate/engine"
	"github.com/tollgate/tollgate/fallback"
	"github.com/tollgate/tollgate/keys"
	"github.com/tollgate/tollgate/learn"
	"github.com/tollgate/tollgate/llm"
	"github.com/tollgate/tollgate/provider/openai"
	"github.com/tollgate/tollgate/queue"
	"github.com/tollgate/tollgate/quota"
	"github.com/tollgate/tollgate/retry"
)

var _ engine.Quotas = (*keys.Registry)(nil)

// TestLearnedLimits calls the emulator, enforcing a per-minute request limit on a clock
// that stands still (so that nothing refills), through an engine that learns its limits
// with no quota configured. Enforced, the learned limit holds the request past the limit
// in tollgate (the queue refuses at once the wait its deadline cannot cover) instead of
// sending it into a 429; a 429 met while the limit is still unknown (headers hidden; its
// message states the limit) is absorbed by the learned quota and never opens the
// deployment's breaker. Observed, the limits are learned alike but the upstream refuses
// what they would have held back, and its 429 opens the breaker.
func TestLearnedLimits(t *testing.T) {
	t.Parallel()
	frozen := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		limits  emulator.Limits
		observe bool
		calls   int
		// upstream is how many calls reach the emulator, limited how many it refuses.
		upstream, limited int64
		// last is the last call's error: from tollgate's queue, or the breaker's cooldown.
		lastQueue, lastCooldown bool
		breakerOpen             bool
		source                  learn.Source
	}{
		{name: "headers enforced", limits: emulator.Limits{RPM: 3}, calls: 4,
			upstream: 3, limited: 0, lastQueue: true, source: learn.SourceHeaders},
		{name: "headers observed", limits: emulator.Limits{RPM: 3}, observe: true, calls: 4,
			upstream: 4, limited: 1, breakerOpen: true, source: learn.SourceHeaders},
		{name: "hidden enforced", limits: emulator.Limits{RPM: 2, Hidden: true}, calls: 4,
			upstream: 3, limited: 1, lastQueue: true, source: learn.SourceMessage},
		{name: "hidden observed", limits: emulator.Limits{RPM: 2, Hidden: true}, observe: true, calls: 4,
			upstream: 3, limited: 1, lastCooldown: true, breakerOpen: true, source: learn.SourceMessage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			em, err := emulator.New(emulator.Config{Seed: 5, Now: func() time.Time { return frozen }, Limits: tt.limits,
				Output: emulator.Output{MinTokens: 5, MaxTokens: 5}})
			if err != nil {
				t.Fatal(err)
			}
			srv := httptest.NewServer(em)
			t.Cleanup(srv.Close)
			oa, err := openai.New(openai.Config{BaseURL: srv.URL + "/v1", APIKey: "sk-test", HTTPClient: srv.Client()})
			if err != nil {
				t.Fatal(err)
			}
			set, err := learn.New(learn.Config{Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				t.Fatal(err)
			}
			up := learn.Upstream{Provider: "openai", Account: learn.AccountID("sk-test"), Format: llm.OpenAI}
			e := newEngine(t, engine.Config{Providers: map[string]llm.Provider{"openai": oa},
				Retry: retry.Policy{MaxAttempts: 1}, Queue: queue.Config{MaxWait: time.Second},
				Learned: engine.Learned{Set: set, Observe: tt.observe, Upstreams: map[string]learn.Upstream{"openai": up}}})
			var last error
			for i := range tt.calls {
				res, err := e.Do(context.Background(), request("gpt-4o-mini", 50))
				last = err
				if i < tt.calls-1 && err != nil && llm.KindOf(err) != llm.KindRateLimited {
					t.Fatalf("call %d: %v", i+1, err)
				}
				if i == 0 && err == nil && !tt.observe && !hasQuota(res.Statuses, "learned-requests") {
					t.Errorf("call 1 statuses %+v: want the learned quota among them", res.Statuses)
				}
			}
			st := em.Stats().Total
			if st.Requests != tt.upstream || st.RateLimited != tt.limited {
				t.Errorf("emulator got %d calls, refused %d; want %d and %d", st.Requests, st.RateLimited, tt.upstream, tt.limited)
			}
			var we *queue.WaitError
			var qe *quota.ExceededError
			fromQueue := errors.As(last, &we) && errors.As(last, &qe) && qe.Quota.Name == "learned-requests"
			var ce *engine.CooldownError
			cooldown := errors.As(last, &ce)
			if fromQueue != tt.lastQueue || cooldown != tt.lastCooldown {
				t.Errorf("last call: %v; want refused by the learned quota %v, by the cooldown %v", last, tt.lastQueue, tt.lastCooldown)
			}
			if open := e.Cooldowns().State("openai/gpt-4o-mini", time.Now()) == fallback.Open; open != tt.breakerOpen {
				t.Errorf("breaker open = %v, want %v", open, tt.breakerOpen)
			}
			rows := set.Status()
			if len(rows) == 0 || rows[0].Dim != learn.Requests || rows[0].Source != tt.source || rows[0].Limit != int64(tt.limits.RPM) {
				t.Errorf("learned %+v; want requests at %d from %s", rows, tt.limits.RPM, tt.source)
			}
		})
	}
}

func hasQuota(sts []quota.Status, name string) bool {
	for i := range sts {
		if sts[i].Quota.Name == name {
			return true
		}
	}
	return false
}
