package admin

import (
	"net/http"
	"time"

	"github.com/tollgate/tollgate/keys"
)

// KeyJSON is a virtual key as the API shows it: never its secret or hash.
type KeyJSON struct {
	ID             string      `json:"id"`
	Tenant         string      `json:"tenant"`
	Hint           string      `json:"hint,omitempty"`
	AllowedModels  []string    `json:"allowed_models"`
	MaxPriority    int         `json:"max_priority"`
	RequireSession bool        `json:"require_session"`
	Budget         *BudgetJSON `json:"budget"`
	Note           string      `json:"note,omitempty"`
	// Source is "config" (read-only here) or "api".
	Source    string     `json:"source"`
	Active    bool       `json:"active"`
	CreatedAt *time.Time `json:"created_at"`
	RevokedAt *time.Time `json:"revoked_at"`
}

// BudgetJSON is a key's own budget.
type BudgetJSON struct {
	LimitMicroUSD int64 `json:"limit_micro_usd"`
	// Window is "day", "month" or "lifetime".
	Window string `json:"window"`
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func keyJSON(k keys.Key) KeyJSON {
	j := KeyJSON{ID: k.ID, Tenant: k.Tenant, Hint: k.Hint, AllowedModels: k.AllowedModels, MaxPriority: k.MaxPriority,
		RequireSession: k.RequireSession, Note: k.Note, Source: k.Source.String(), Active: k.Active(),
		CreatedAt: timePtr(k.Created), RevokedAt: timePtr(k.Revoked)}
	if j.AllowedModels == nil {
		j.AllowedModels = []string{}
	}
	if !k.Budget.IsZero() {
		j.Budget = &BudgetJSON{LimitMicroUSD: k.Budget.MicroUSD, Window: k.Budget.Window.String()}
	}
	return j
}

func (b *BudgetJSON) budget() (keys.Budget, error) {
	if b == nil {
		return keys.Budget{}, nil
	}
	if b.LimitMicroUSD <= 0 {
		return keys.Budget{}, &apiError{http.StatusBadRequest, "invalid", "budget.limit_micro_usd must be positive (DELETE the budget to remove it)"}
	}
	w, err := keys.ParseWindow(b.Window)
	if err != nil {
		return keys.Budget{}, err
	}
	return keys.Budget{MicroUSD: b.LimitMicroUSD, Window: w}, nil
}

// listKeys: GET /admin/v1/keys[?active=true].
func (h *Handler) listKeys(w http.ResponseWriter, r *http.Request) error {
	onlyActive := r.URL.Query().Get("active") == "true"
	out := struct {
		Keys []KeyJSON `json:"keys"`
	}{Keys: []KeyJSON{}}
	for _, k := range h.cfg.Keys.Keys() {
		if onlyActive && !k.Active() {
			continue
		}
		out.Keys = append(out.Keys, keyJSON(k))
	}
	return writeJSON(w, http.StatusOK, out)
}

// CreateKeyRequest is the body of POST /admin/v1/keys.
type CreateKeyRequest struct {
	ID             string      `json:"id"`
	Tenant         string      `json:"tenant"`
	AllowedModels  []string    `json:"allowed_models"`
	MaxPriority    int         `json:"max_priority"`
	RequireSession bool        `json:"require_session"`
	Budget         *BudgetJSON `json:"budget"`
	Note           string      `json:"note"`
}

// CreateKeyResponse is the answer of POST /admin/v1/keys: the key and its secret, which
// is shown this once.
type CreateKeyResponse struct {
	Key    KeyJSON `json:"key"`
	Secret string  `json:"secret"`
}

// createKey: POST /admin/v1/keys.
func (h *Handler) createKey(w http.ResponseWriter, r *http.Request) error {
	var req CreateKeyRequest
	if err := readJSON(w, r, &req); err != nil {
		return err
	}
	b, err := req.Budget.budget()
	if err != nil {
		return err
	}
	k, secret, err := h.cfg.Keys.Create(r.Context(), keys.Spec{ID: req.ID, Tenant: req.Tenant, AllowedModels: req.AllowedModels,
		MaxPriority: req.MaxPriority, RequireSession: req.RequireSession, Budget: b, Note: req.Note})
	if err != nil {
		return err
	}
	h.log.Info("admin: virtual key created", "key", k.ID, "tenant", k.Tenant, "hint", k.Hint, "remote", r.RemoteAddr)
	w.Header().Set("Location", "/admin/v1/keys/"+k.ID)
	return writeJSON(w, http.StatusCreated, CreateKeyResponse{Key: keyJSON(k), Secret: secret})
}

// KeyState is GET /admin/v1/keys/{id}: the key, the quotas its requests count against
// (its own and its tenant's among them) and its spend today.
type KeyState struct {
	Key    KeyJSON      `json:"key"`
	Today  SpendJSON    `json:"today"`
	Quotas []QuotaState `json:"quotas"`
}

// getKey: GET /admin/v1/keys/{id}.
func (h *Handler) getKey(w http.ResponseWriter, r *http.Request) error {
	k, ok := h.cfg.Keys.Get(r.PathValue("id"))
	if !ok {
		return &apiError{http.StatusNotFound, "not_found", "no key " + r.PathValue("id")}
	}
	st := KeyState{Key: keyJSON(k)}
	var err error
	if st.Quotas, err = h.quotaStates(r.Context(), labelsOf(k.Tenant, k.ID, "", "")); err != nil {
		return err
	}
	if st.Today, err = h.spendToday(r, func(q *spendQuery) { q.Key = k.ID }); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, st)
}

// revokeKey: DELETE /admin/v1/keys/{id}.
func (h *Handler) revokeKey(w http.ResponseWriter, r *http.Request) error {
	k, err := h.cfg.Keys.Revoke(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	h.log.Info("admin: virtual key revoked", "key", k.ID, "tenant", k.Tenant, "remote", r.RemoteAddr)
	return writeJSON(w, http.StatusOK, keyJSON(k))
}

// setKeyBudget: PUT /admin/v1/keys/{id}/budget.
func (h *Handler) setKeyBudget(w http.ResponseWriter, r *http.Request) error {
	var req BudgetJSON
	if err := readJSON(w, r, &req); err != nil {
		return err
	}
	b, err := req.budget()
	if err != nil {
		return err
	}
	k, err := h.cfg.Keys.SetBudget(r.Context(), r.PathValue("id"), b)
	if err != nil {
		return err
	}
	h.log.Info("admin: key budget set", "key", k.ID, "micro_usd", b.MicroUSD, "window", b.Window.String(), "remote", r.RemoteAddr)
	return writeJSON(w, http.StatusOK, keyJSON(k))
}

// deleteKeyBudget: DELETE /admin/v1/keys/{id}/budget.
func (h *Handler) deleteKeyBudget(w http.ResponseWriter, r *http.Request) error {
	k, err := h.cfg.Keys.SetBudget(r.Context(), r.PathValue("id"), keys.Budget{})
	if err != nil {
		return err
	}
	h.log.Info("admin: key budget removed", "key", k.ID, "remote", r.RemoteAddr)
	return writeJSON(w, http.StatusOK, keyJSON(k))
}

// refresh: POST /admin/v1/refresh.
func (h *Handler) refresh(w http.ResponseWriter, r *http.Request) error {
	if err := h.cfg.Keys.Refresh(r.Context()); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, struct {
		Revision int64 `json:"revision"`
	}{h.cfg.Keys.Status().Revision})
}
