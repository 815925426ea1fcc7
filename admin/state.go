package admin

import (
	"cmp"
	"context"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tollgate/tollgate/keys"
	"github.com/tollgate/tollgate/ledger"
	"github.com/tollgate/tollgate/quota"
)

// QuotaState is one quota instance at one instant: its definition and its use.
type QuotaState struct {
	// Rule is the rule's name (keys.BudgetRule for a key's own budget) and QuotaKey the
	// instance's state key.
	Rule     string `json:"rule"`
	QuotaKey string `json:"quota_key"`
	// Scope is the instance's labels: {"tenant": "alpha"}; {} for a global quota.
	Scope map[string]string `json:"scope"`
	// Unit is what it counts: requests, input_tokens, output_tokens, tokens, usd (in
	// micro-USD) or concurrent.
	Unit string `json:"unit"`
	// Window is rate, day, month, lifetime or lease; PeriodSeconds is a rate's period.
	Window        string  `json:"window"`
	PeriodSeconds float64 `json:"period_seconds,omitempty"`
	// Limit is in Unit; Overridden says that it comes from a budget override.
	Limit      int64 `json:"limit"`
	Overridden bool  `json:"overridden"`
	// Used is Spent plus Held: settled use and what open reservations hold at their worst
	// case. For a rate, Used is the part of the burst not yet refilled.
	Used      int64 `json:"used"`
	Spent     int64 `json:"spent"`
	Held      int64 `json:"held"`
	Remaining int64 `json:"remaining"`
	// Fraction is Used / Limit.
	Fraction float64 `json:"fraction"`
	// ResetsAt is when a day or month window ends, or when a rate is fully refilled;
	// absent for lifetime budgets and leases.
	ResetsAt *time.Time `json:"resets_at"`
}

// scopeMap is l's non-empty labels.
func scopeMap(l quota.Labels) map[string]string {
	m := map[string]string{}
	for _, kv := range []struct{ k, v string }{{"provider", l.Provider}, {"model", l.Model}, {"tenant", l.Tenant},
		{"key", l.Key}, {"agent", l.Agent}, {"session", l.Session}} {
		if kv.v != "" {
			m[kv.k] = kv.v
		}
	}
	return m
}

func labelsOf(tenant, key, agent, session string) quota.Labels {
	return quota.Labels{Tenant: tenant, Key: key, Agent: agent, Session: session}
}

// states reads the state of qs in one Status call. Without a quota store, every quota is
// shown unused.
func (h *Handler) states(ctx context.Context, qs []quota.Quota) ([]QuotaState, error) {
	out := make([]QuotaState, 0, len(qs))
	if len(qs) == 0 {
		return out, nil
	}
	var sts []quota.Status
	if h.cfg.Quotas != nil {
		var err error
		if sts, err = h.cfg.Quotas.Status(ctx, qs, make([]quota.Status, 0, len(qs))); err != nil {
			return nil, err
		}
	}
	overridden := map[string]bool{}
	for _, o := range h.cfg.Keys.Overrides() {
		overridden[o.QuotaKey] = true
	}
	for i, q := range qs {
		st := quota.Status{Quota: &qs[i], Remaining: q.Limit}
		if i < len(sts) {
			st = sts[i]
		}
		s := QuotaState{Rule: q.Name, QuotaKey: q.Key, Scope: scopeMap(q.Scope), Unit: q.Unit.String(),
			Window: q.Window.Kind.String(), Limit: q.Limit, Overridden: overridden[q.Key], Used: st.Used,
			Spent: st.Used - st.Held, Held: st.Held, Remaining: st.Remaining, ResetsAt: timePtr(st.ResetAt)}
		if q.Window.Kind == quota.Rate {
			s.PeriodSeconds = q.Window.Period.Seconds()
		}
		if q.Limit > 0 {
			s.Fraction = float64(st.Used) / float64(q.Limit)
		}
		out = append(out, s)
	}
	return out, nil
}

// quotaStates is the state of every quota a request labelled l counts against, but the
// global ones (shown by the overview), with overrides and the key's own budget.
func (h *Handler) quotaStates(ctx context.Context, l quota.Labels) ([]QuotaState, error) {
	qs := h.cfg.Keys.For(nil, h.cfg.Rules(), l)
	qs = slices.DeleteFunc(qs, func(q quota.Quota) bool { return q.Scope == quota.Labels{} })
	return h.states(ctx, qs)
}

// SpendJSON is the ledger's sum of a set of records.
type SpendJSON struct {
	// Since is the start of the period summed: today's midnight in the budgets' zone, or
	// absent for all time.
	Since             *time.Time `json:"since"`
	Requests          int64      `json:"requests"`
	InputTokens       int64      `json:"input_tokens"`
	CachedInputTokens int64      `json:"cached_input_tokens"`
	OutputTokens      int64      `json:"output_tokens"`
	MicroUSD          int64      `json:"micro_usd"`
}

func spendJSON(since time.Time, s ledger.Sum) SpendJSON {
	return SpendJSON{Since: timePtr(since), Requests: s.Requests, InputTokens: s.InputTokens,
		CachedInputTokens: s.CachedInputTokens, OutputTokens: s.OutputTokens, MicroUSD: s.MicroUSD}
}

type spendQuery = ledger.Query

// midnight is the start of today in the budgets' zone.
func (h *Handler) midnight() time.Time {
	y, m, d := h.cfg.Now().In(h.cfg.Location).Date()
	return time.Date(y, m, d, 0, 0, 0, 0, h.cfg.Location)
}

// spendToday sums today's records that filter selects.
func (h *Handler) spendToday(r *http.Request, filter func(*spendQuery)) (SpendJSON, error) {
	return h.spend(r.Context(), h.midnight(), filter)
}

func (h *Handler) spend(ctx context.Context, since time.Time, filter func(*spendQuery)) (SpendJSON, error) {
	if h.cfg.Spend == nil {
		return spendJSON(since, ledger.Sum{}), nil
	}
	q := ledger.Query{Since: since}
	filter(&q)
	rows, err := h.cfg.Spend.Query(ctx, q)
	if err != nil {
		return SpendJSON{}, err
	}
	var s ledger.Sum
	if len(rows) > 0 {
		s = rows[0].Sum
	}
	return spendJSON(since, s), nil
}

// TenantState is one tenant: its keys, today's spend, and the quotas scoped to it.
type TenantState struct {
	Tenant string       `json:"tenant"`
	Keys   []string     `json:"keys"`
	Today  SpendJSON    `json:"today"`
	Quotas []QuotaState `json:"quotas"`
}

// tenants returns the state of every tenant that has a valid key or spent today, by name.
func (h *Handler) tenants(ctx context.Context) ([]TenantState, error) {
	since := h.midnight()
	byTenant := map[string]*TenantState{}
	get := func(t string) *TenantState {
		s := byTenant[t]
		if s == nil {
			s = &TenantState{Tenant: t, Keys: []string{}, Today: spendJSON(since, ledger.Sum{})}
			byTenant[t] = s
		}
		return s
	}
	for _, k := range h.cfg.Keys.Keys() {
		if k.Active() {
			s := get(k.Tenant)
			s.Keys = append(s.Keys, k.ID)
		}
	}
	if h.cfg.Spend != nil {
		rows, err := h.cfg.Spend.Query(ctx, ledger.Query{By: ledger.ByTenant, Since: since})
		if err != nil {
			return nil, err
		}
		for _, row := range rows {
			get(row.Group).Today = spendJSON(since, row.Sum)
		}
	}
	names := make([]string, 0, len(byTenant))
	for t := range byTenant {
		names = append(names, t)
	}
	slices.Sort(names)
	// One Status call for every tenant's quotas.
	rules := h.cfg.Rules()
	var qs []quota.Quota
	bounds := make([]int, 0, len(names)+1)
	for _, t := range names {
		bounds = append(bounds, len(qs))
		for i := range rules {
			if rules[i].Scope.Tenant == "" {
				continue
			}
			if q, ok := rules[i].For(quota.Labels{Tenant: t}); ok {
				qs = append(qs, q)
			}
		}
	}
	bounds = append(bounds, len(qs))
	h.cfg.Keys.Apply(qs)
	sts, err := h.states(ctx, qs)
	if err != nil {
		return nil, err
	}
	out := make([]TenantState, len(names))
	for i, t := range names {
		out[i] = *byTenant[t]
		out[i].Quotas = sts[bounds[i]:bounds[i+1]]
	}
	return out, nil
}

// listTenants: GET /admin/v1/tenants.
func (h *Handler) listTenants(w http.ResponseWriter, r *http.Request) error {
	ts, err := h.tenants(r.Context())
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, struct {
		Tenants []TenantState `json:"tenants"`
	}{ts})
}

// getTenant: GET /admin/v1/tenants/{tenant}: every quota a request of the tenant counts
// against apart from per-key, per-session and global ones, whether or not it has keys.
func (h *Handler) getTenant(w http.ResponseWriter, r *http.Request) error {
	t := r.PathValue("tenant")
	st := TenantState{Tenant: t, Keys: []string{}}
	for _, k := range h.cfg.Keys.Keys() {
		if k.Tenant == t && k.Active() {
			st.Keys = append(st.Keys, k.ID)
		}
	}
	var err error
	if st.Today, err = h.spendToday(r, func(q *spendQuery) { q.Tenant = t }); err != nil {
		return err
	}
	if st.Quotas, err = h.quotaStates(r.Context(), quota.Labels{Tenant: t}); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, st)
}

// SessionSpend is one session's spend in a period.
type SessionSpend struct {
	Session string    `json:"session"`
	Spend   SpendJSON `json:"spend"`
}

// topSessions returns the n sessions that spent most since since.
func (h *Handler) topSessionsSince(ctx context.Context, since time.Time, n int) ([]SessionSpend, error) {
	out := []SessionSpend{}
	if h.cfg.Spend == nil {
		return out, nil
	}
	// One more than asked: requests without a session are one group, "".
	rows, err := h.cfg.Spend.Query(ctx, ledger.Query{By: ledger.BySession, Since: since, Limit: n + 1})
	if err != nil {
		return nil, err
	}
	for _, row := range rows {
		if row.Group != "" && len(out) < n {
			out = append(out, SessionSpend{Session: row.Group, Spend: spendJSON(since, row.Sum)})
		}
	}
	return out, nil
}

// topSessions: GET /admin/v1/sessions[?limit=N][&since=RFC3339].
func (h *Handler) topSessions(w http.ResponseWriter, r *http.Request) error {
	n := h.cfg.TopSessions
	if v := r.URL.Query().Get("limit"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1 || n > 1000 {
			return &apiError{http.StatusBadRequest, "invalid", "limit: want 1 to 1000"}
		}
	}
	since := h.midnight()
	if v := r.URL.Query().Get("since"); v != "" {
		var err error
		if since, err = time.Parse(time.RFC3339, v); err != nil {
			return &apiError{http.StatusBadRequest, "invalid", "since: want an RFC 3339 time such as 2026-11-27T00:00:00Z"}
		}
	}
	ss, err := h.topSessionsSince(r.Context(), since, n)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, struct {
		Since    time.Time      `json:"since"`
		Sessions []SessionSpend `json:"sessions"`
	}{since, ss})
}

// SessionState is GET /admin/v1/sessions/{session}.
type SessionState struct {
	Session string `json:"session"`
	// Today and Total are the session's spend today and over the whole ledger.
	Today  SpendJSON    `json:"today"`
	Total  SpendJSON    `json:"total"`
	Quotas []QuotaState `json:"quotas"`
}

// getSession: GET /admin/v1/sessions/{session}[?tenant=][&key=][&agent=]: the labels a
// request of the session would carry besides its id; the key's tenant when only the key
// is given.
func (h *Handler) getSession(w http.ResponseWriter, r *http.Request) error {
	s, qv := r.PathValue("session"), r.URL.Query()
	l := labelsOf(qv.Get("tenant"), qv.Get("key"), qv.Get("agent"), s)
	if l.Key != "" && l.Tenant == "" {
		if k, ok := h.cfg.Keys.Get(l.Key); ok {
			l.Tenant = k.Tenant
		}
	}
	st := SessionState{Session: s}
	var err error
	bySession := func(q *spendQuery) { q.Session = s }
	if st.Today, err = h.spendToday(r, bySession); err != nil {
		return err
	}
	if st.Total, err = h.spend(r.Context(), time.Time{}, bySession); err != nil {
		return err
	}
	if st.Quotas, err = h.quotaStates(r.Context(), l); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, st)
}

// maxEnumerated bounds the quota instances the overview lists, so that a fleet of
// thousands of keys does not make each refresh of the dashboard a huge Status call.
const maxEnumerated = 2000

// enumerate returns the quota instances the overview can name without a request: every
// rule whose labels are fixed values, or "*" over tenants and keys (from the keys) and
// providers and models (from Deployments), and every valid key's own budget; with
// overrides applied, each instance once. Rules with "*" over agents or sessions are left
// out: their instances exist only in requests.
func (h *Handler) enumerate() (qs []quota.Quota, truncated bool) {
	type pair struct{ a, b string }
	var active []keys.Key
	tenants := map[string]bool{}
	for _, k := range h.cfg.Keys.Keys() {
		if k.Active() {
			active = append(active, k)
			tenants[k.Tenant] = true
		}
	}
	var deps []pair
	for _, d := range h.cfg.Deployments() {
		if p, m, ok := strings.Cut(d, "/"); ok {
			deps = append(deps, pair{p, m})
		}
	}
	seen := map[string]bool{}
	add := func(q quota.Quota) {
		if !seen[q.Key] && len(qs) < maxEnumerated {
			seen[q.Key] = true
			qs = append(qs, q)
		}
		truncated = truncated || len(qs) >= maxEnumerated
	}
	for _, rule := range h.cfg.Rules() {
		sc := rule.Scope
		if sc.Agent == quota.Each || sc.Session == quota.Each {
			continue
		}
		// Who: (tenant, key) pairs; what: (provider, model) pairs.
		who := []pair{{sc.Tenant, sc.Key}}
		switch {
		case sc.Key == quota.Each:
			who = who[:0]
			for _, k := range active {
				who = append(who, pair{k.Tenant, k.ID})
			}
		case sc.Tenant == quota.Each:
			who = who[:0]
			for t := range tenants {
				who = append(who, pair{t, sc.Key})
			}
		}
		what := []pair{{sc.Provider, sc.Model}}
		if sc.Provider == quota.Each || sc.Model == quota.Each {
			what = deps
		}
		for _, w := range who {
			for _, x := range what {
				if q, ok := rule.For(quota.Labels{Tenant: w.a, Key: w.b, Provider: x.a, Model: x.b,
					Agent: sc.Agent, Session: sc.Session}); ok {
					add(q)
				}
			}
		}
	}
	for _, k := range active {
		for _, q := range h.cfg.Keys.For(nil, nil, quota.Labels{Key: k.ID}) {
			add(q)
		}
	}
	h.cfg.Keys.Apply(qs)
	slices.SortFunc(qs, func(a, b quota.Quota) int { return cmp.Compare(a.Key, b.Key) })
	return qs, truncated
}
