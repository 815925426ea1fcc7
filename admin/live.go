package admin

import (
	"context"
	"net/http"
	"time"

	"github.com/tollgate/tollgate/queue"
)

// BreakerJSON is one deployment's circuit breaker.
type BreakerJSON struct {
	Deployment string `json:"deployment"`
	// State is closed, open or half-open.
	State string `json:"state"`
	// OpenUntil is when an open breaker lets a probe through.
	OpenUntil *time.Time `json:"open_until"`
	Failures  int        `json:"failures"`
	Trips     int        `json:"trips"`
}

func (h *Handler) breakers() []BreakerJSON {
	out := []BreakerJSON{}
	if h.cfg.Breakers == nil {
		return out
	}
	for _, b := range h.cfg.Breakers.Breakers(h.cfg.Now()) {
		out = append(out, BreakerJSON{Deployment: b.Deployment, State: b.State.String(), OpenUntil: timePtr(b.Until),
			Failures: b.Failures, Trips: b.Trips})
	}
	return out
}

// listBreakers: GET /admin/v1/breakers.
func (h *Handler) listBreakers(w http.ResponseWriter, r *http.Request) error {
	return writeJSON(w, http.StatusOK, struct {
		Breakers []BreakerJSON `json:"breakers"`
	}{h.breakers()})
}

// ResetBreakerRequest is the body of POST /admin/v1/breakers/reset.
type ResetBreakerRequest struct {
	// Deployment is "provider/model", as GET /admin/v1/breakers names it.
	Deployment string `json:"deployment"`
}

// resetBreaker: POST /admin/v1/breakers/reset.
func (h *Handler) resetBreaker(w http.ResponseWriter, r *http.Request) error {
	if h.cfg.Breakers == nil {
		return &apiError{http.StatusNotImplemented, "no_breakers", "no circuit breakers configured"}
	}
	var req ResetBreakerRequest
	if err := readJSON(w, r, &req); err != nil {
		return err
	}
	if req.Deployment == "" {
		return &apiError{http.StatusBadRequest, "invalid", "deployment is required"}
	}
	reset := h.cfg.Breakers.Reset(req.Deployment)
	h.log.Info("admin: breaker reset", "deployment", req.Deployment, "had_state", reset, "remote", r.RemoteAddr)
	return writeJSON(w, http.StatusOK, struct {
		Deployment string `json:"deployment"`
		Reset      bool   `json:"reset"`
	}{req.Deployment, reset})
}

// QueueJSON is the admission queue: who waits, by priority level, and how long waits took.
type QueueJSON struct {
	Queued int         `json:"queued"`
	Levels []LevelJSON `json:"levels"`
	// Tenants counts waiters by tenant.
	Tenants map[string]int `json:"tenants"`
	// Counters since the process started: admitted, shed (queue full), timed out, and
	// given up by their callers.
	Granted   uint64 `json:"granted"`
	Shed      uint64 `json:"shed"`
	Timeouts  uint64 `json:"timeouts"`
	Cancelled uint64 `json:"cancelled"`
}

// LevelJSON is one priority level of the queue.
type LevelJSON struct {
	Level   string `json:"level"`
	Waiting int    `json:"waiting"`
	// Wait is the histogram of waits before admission at this level (from the metrics).
	Wait WaitFigures `json:"wait"`
}

func (h *Handler) queue(sum *Summary) QueueJSON {
	var st queue.Stats
	if h.cfg.Queue != nil {
		st = h.cfg.Queue.Stats()
	}
	out := QueueJSON{Queued: st.Queued, Tenants: st.Tenants, Granted: st.Granted,
		Shed: st.Shed, Timeouts: st.Timeouts, Cancelled: st.Cancelled}
	if out.Tenants == nil {
		out.Tenants = map[string]int{}
	}
	for l := queue.Critical; l >= queue.Low; l-- {
		lv := LevelJSON{Level: l.String(), Waiting: st.Waiting[l]}
		if sum != nil {
			lv.Wait = sum.QueueWait[l.String()]
		}
		out.Levels = append(out.Levels, lv)
	}
	return out
}

// summary reads the metrics summary; nil without a Gatherer.
func (h *Handler) summary() (*Summary, error) {
	if h.cfg.Gatherer == nil {
		return nil, nil
	}
	fams, err := families(h.cfg.Gatherer)
	if err != nil {
		return nil, err
	}
	s := summarize(fams, h.cfg.Metrics)
	return &s, nil
}

// queueState: GET /admin/v1/queue.
func (h *Handler) queueState(w http.ResponseWriter, r *http.Request) error {
	sum, err := h.summary()
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, h.queue(sum))
}

// metricsSummary: GET /admin/v1/metrics.
func (h *Handler) metricsSummary(w http.ResponseWriter, r *http.Request) error {
	sum, err := h.summary()
	if err != nil {
		return err
	}
	if sum == nil {
		return &apiError{http.StatusNotImplemented, "no_metrics", errNoGatherer.Error()}
	}
	return writeJSON(w, http.StatusOK, sum)
}

// LearnedJSON is one learned limit.
type LearnedJSON struct {
	Deployment string  `json:"deployment"`
	Unit       string  `json:"unit"`
	PerMinute  float64 `json:"per_minute"`
	Configured float64 `json:"configured_per_minute"`
	// Source is "headers", "message" or "refusals"; "" when unknown.
	Source    string     `json:"source"`
	UpdatedAt *time.Time `json:"updated_at"`
}

func (h *Handler) learnedLimits() []LearnedJSON {
	out := []LearnedJSON{}
	if h.cfg.Learned == nil {
		return out
	}
	for _, l := range h.cfg.Learned.LearnedLimits() {
		out = append(out, LearnedJSON{Deployment: l.Deployment, Unit: l.Unit, PerMinute: l.PerMinute,
			Configured: l.Configured, Source: l.Source, UpdatedAt: timePtr(l.Updated)})
	}
	return out
}

// learned: GET /admin/v1/learned.
func (h *Handler) learned(w http.ResponseWriter, r *http.Request) error {
	return writeJSON(w, http.StatusOK, struct {
		Limits []LearnedJSON `json:"limits"`
	}{h.learnedLimits()})
}

// Overview is everything the dashboard shows, read at one time: GET /admin/v1/overview.
type Overview struct {
	Time time.Time `json:"time"`
	// Tenants are those with a valid key or spend today: their spend and their quotas.
	Tenants []TenantState `json:"tenants"`
	// TopSessions spent most today.
	TopSessions []SessionSpend `json:"top_sessions"`
	// Quotas are every quota instance that can be named without a request (see
	// docs/admin.md): global ones, per deployment, per tenant, per key; Truncated says
	// that there were more than the overview lists.
	Quotas    []QuotaState `json:"quotas"`
	Truncated bool         `json:"truncated"`
	Queue     QueueJSON    `json:"queue"`
	// Metrics is null when the handler has no metrics registry.
	Metrics  *Summary      `json:"metrics"`
	Breakers []BreakerJSON `json:"breakers"`
	Learned  []LearnedJSON `json:"learned"`
	Keys     KeysInfo      `json:"keys"`
}

// KeysInfo says how many keys there are and how current this replica's view of the
// settings store is.
type KeysInfo struct {
	Total  int `json:"total"`
	Active int `json:"active"`
	// Revision is the settings' revision this replica holds; RefreshError the last
	// failure to read the settings store, "" when the last read succeeded.
	Revision     int64  `json:"revision"`
	RefreshError string `json:"refresh_error"`
}

func (h *Handler) buildOverview(ctx context.Context) (Overview, error) {
	ov := Overview{Time: h.cfg.Now().UTC(), Breakers: h.breakers(), Learned: h.learnedLimits()}
	var err error
	if ov.Tenants, err = h.tenants(ctx); err != nil {
		return ov, err
	}
	if ov.TopSessions, err = h.topSessionsSince(ctx, h.midnight(), h.cfg.TopSessions); err != nil {
		return ov, err
	}
	qs, truncated := h.enumerate()
	if ov.Quotas, err = h.states(ctx, qs); err != nil {
		return ov, err
	}
	ov.Truncated = truncated
	if ov.Metrics, err = h.summary(); err != nil {
		return ov, err
	}
	ov.Queue = h.queue(ov.Metrics)
	all := h.cfg.Keys.Keys()
	ov.Keys.Total = len(all)
	for _, k := range all {
		if k.Active() {
			ov.Keys.Active++
		}
	}
	st := h.cfg.Keys.Status()
	ov.Keys.Revision = st.Revision
	if st.Err != nil {
		ov.Keys.RefreshError = st.Err.Error()
	}
	return ov, nil
}

// overview: GET /admin/v1/overview.
func (h *Handler) overview(w http.ResponseWriter, r *http.Request) error {
	ov, err := h.buildOverview(r.Context())
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, ov)
}
