package admin

import (
	"net/http"
	"time"

	"github.com/tollgate/tollgate/keys"
	"github.com/tollgate/tollgate/quota"
)

// RuleJSON is a quota rule of the configuration.
type RuleJSON struct {
	Name string `json:"name"`
	// Scope is the rule's labels: a value, or "*" for one quota per distinct value.
	Scope         map[string]string `json:"scope"`
	Unit          string            `json:"unit"`
	Limit         int64             `json:"limit"`
	Window        string            `json:"window"`
	PeriodSeconds float64           `json:"period_seconds,omitempty"`
	Burst         int64             `json:"burst,omitempty"`
	// Budget says whether the rule is a budget (day, month or lifetime window), whose
	// instances PUT /admin/v1/budgets can override.
	Budget bool `json:"budget"`
}

// listRules: GET /admin/v1/rules.
func (h *Handler) listRules(w http.ResponseWriter, r *http.Request) error {
	out := struct {
		Rules []RuleJSON `json:"rules"`
	}{Rules: []RuleJSON{}}
	for _, rule := range h.cfg.Rules() {
		j := RuleJSON{Name: rule.Name, Scope: scopeMap(rule.Scope), Unit: rule.Unit.String(), Limit: rule.Limit,
			Window: rule.Window.Kind.String(), Burst: rule.Burst, Budget: rule.Window.Kind.IsBudget()}
		if rule.Window.Kind == quota.Rate {
			j.PeriodSeconds = rule.Window.Period.Seconds()
		}
		out.Rules = append(out.Rules, j)
	}
	return writeJSON(w, http.StatusOK, out)
}

// OverrideJSON is a budget override: the limit of one instance of a budget rule.
type OverrideJSON struct {
	Rule     string            `json:"rule"`
	Scope    map[string]string `json:"scope"`
	QuotaKey string            `json:"quota_key"`
	// Limit is in the rule's unit: micro-USD for usd.
	Limit     int64     `json:"limit"`
	Note      string    `json:"note,omitempty"`
	UpdatedAt time.Time `json:"updated_at"`
}

func overrideJSON(o keys.Override) OverrideJSON {
	return OverrideJSON{Rule: o.Rule, Scope: scopeMap(o.Scope), QuotaKey: o.QuotaKey, Limit: o.Limit, Note: o.Note, UpdatedAt: o.Updated}
}

// listOverrides: GET /admin/v1/budgets.
func (h *Handler) listOverrides(w http.ResponseWriter, r *http.Request) error {
	out := struct {
		Overrides []OverrideJSON `json:"overrides"`
	}{Overrides: []OverrideJSON{}}
	for _, o := range h.cfg.Keys.Overrides() {
		out.Overrides = append(out.Overrides, overrideJSON(o))
	}
	return writeJSON(w, http.StatusOK, out)
}

// SetOverrideRequest is the body of PUT /admin/v1/budgets.
type SetOverrideRequest struct {
	// Rule names a budget rule of the configuration.
	Rule string `json:"rule"`
	// Scope gives a value to each of the rule's labels: {"tenant": "alpha"}.
	Scope map[string]string `json:"scope"`
	// Limit is the new limit, in the rule's unit (micro-USD for usd).
	Limit int64  `json:"limit"`
	Note  string `json:"note"`
}

// setOverride: PUT /admin/v1/budgets.
func (h *Handler) setOverride(w http.ResponseWriter, r *http.Request) error {
	var req SetOverrideRequest
	if err := readJSON(w, r, &req); err != nil {
		return err
	}
	var rule *quota.Rule
	rules := h.cfg.Rules()
	for i := range rules {
		if rules[i].Name == req.Rule {
			rule = &rules[i]
		}
	}
	if rule == nil {
		return &apiError{http.StatusNotFound, "unknown_rule", "no quota rule named " + req.Rule + " (GET /admin/v1/rules lists them)"}
	}
	var scope quota.Labels
	for k, v := range req.Scope {
		if err := scope.SetLabel(k, v); err != nil {
			return &apiError{http.StatusBadRequest, "invalid", "scope: " + err.Error()}
		}
	}
	o, err := h.cfg.Keys.SetOverride(r.Context(), *rule, scope, req.Limit, req.Note)
	if err != nil {
		return err
	}
	h.log.Info("admin: budget override set", "quota", o.QuotaKey, "limit", o.Limit, "remote", r.RemoteAddr)
	return writeJSON(w, http.StatusOK, overrideJSON(o))
}

// deleteOverride: DELETE /admin/v1/budgets?quota_key=KEY.
func (h *Handler) deleteOverride(w http.ResponseWriter, r *http.Request) error {
	key := r.URL.Query().Get("quota_key")
	if key == "" {
		return &apiError{http.StatusBadRequest, "invalid", "quota_key is required (GET /admin/v1/budgets lists them)"}
	}
	found, err := h.cfg.Keys.DeleteOverride(r.Context(), key)
	if err != nil {
		return err
	}
	if !found {
		return &apiError{http.StatusNotFound, "not_found", "no override of " + key}
	}
	h.log.Info("admin: budget override deleted", "quota", key, "remote", r.RemoteAddr)
	return writeJSON(w, http.StatusOK, struct {
		Deleted string `json:"deleted"`
	}{key})
}
