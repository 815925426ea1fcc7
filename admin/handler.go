package admin

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tollgate/tollgate/keys"
)

// Handler is the admin API, the dashboard and (with a Gatherer) GET /metrics, for a
// listener of their own, apart from the gateway's. It is an http.Handler, safe for
// concurrent use; it owns no goroutine.
type Handler struct {
	cfg    Config
	mux    *http.ServeMux
	routes []route
	prom   http.Handler // GET /metrics; nil without a Gatherer
	log    *slog.Logger
}

var _ http.Handler = (*Handler)(nil)

// access is who may call a route.
type access uint8

const (
	public      access = iota // the dashboard's files and the API description: no data
	adminOnly                 // the admin token
	metricsRead               // the admin token or the metrics token
)

// route is one endpoint: the table the mux is built from and the OpenAPI test walks.
type route struct {
	method, pattern string
	access          access
	serve           func(w http.ResponseWriter, r *http.Request) error
}

// New returns the Handler of cfg.
func New(cfg Config) (*Handler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	h := &Handler{cfg: cfg, mux: http.NewServeMux(), log: cfg.Logger}
	if cfg.Gatherer != nil {
		h.prom = promhttp.HandlerFor(cfg.Gatherer, promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelError)})
	}
	h.routes = []route{
		{"GET", "/admin/{$}", public, h.dashboard},
		{"GET", "/admin/ui/{file}", public, h.asset},
		{"GET", "/admin/openapi.json", public, h.openAPI},
		{"GET", "/admin/v1/overview", adminOnly, h.overview},
		{"GET", "/admin/v1/keys", adminOnly, h.listKeys},
		{"POST", "/admin/v1/keys", adminOnly, h.createKey},
		{"GET", "/admin/v1/keys/{id}", adminOnly, h.getKey},
		{"DELETE", "/admin/v1/keys/{id}", adminOnly, h.revokeKey},
		{"PUT", "/admin/v1/keys/{id}/budget", adminOnly, h.setKeyBudget},
		{"DELETE", "/admin/v1/keys/{id}/budget", adminOnly, h.deleteKeyBudget},
		{"GET", "/admin/v1/rules", adminOnly, h.listRules},
		{"GET", "/admin/v1/budgets", adminOnly, h.listOverrides},
		{"PUT", "/admin/v1/budgets", adminOnly, h.setOverride},
		{"DELETE", "/admin/v1/budgets", adminOnly, h.deleteOverride},
		{"GET", "/admin/v1/tenants", adminOnly, h.listTenants},
		{"GET", "/admin/v1/tenants/{tenant}", adminOnly, h.getTenant},
		{"GET", "/admin/v1/sessions", adminOnly, h.topSessions},
		{"GET", "/admin/v1/sessions/{session}", adminOnly, h.getSession},
		{"GET", "/admin/v1/breakers", adminOnly, h.listBreakers},
		{"POST", "/admin/v1/breakers/reset", adminOnly, h.resetBreaker},
		{"GET", "/admin/v1/queue", adminOnly, h.queueState},
		{"GET", "/admin/v1/metrics", adminOnly, h.metricsSummary},
		{"GET", "/admin/v1/learned", adminOnly, h.learned},
		{"POST", "/admin/v1/refresh", adminOnly, h.refresh},
		{"GET", "/metrics", metricsRead, h.metrics},
	}
	for _, rt := range h.routes {
		h.mux.Handle(rt.method+" "+rt.pattern, h.wrap(rt))
	}
	h.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		h.fail(w, r, &apiError{status: http.StatusNotFound, code: "not_found", msg: "no such endpoint: " + r.URL.Path})
	})
	return h, nil
}

// ServeHTTP serves the admin API and the dashboard.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

// wrap checks rt's access and turns its error into a JSON error answer.
func (h *Handler) wrap(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Nothing the admin listener serves may be framed or cached by a shared cache.
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("X-Frame-Options", "DENY")
		if rt.access != public {
			w.Header().Set("Cache-Control", "no-store")
			if !h.authorized(r, rt.access) {
				w.Header().Set("WWW-Authenticate", `Bearer realm="tollgate-admin"`)
				h.fail(w, r, &apiError{status: http.StatusUnauthorized, code: "unauthorized",
					msg: "this endpoint needs Authorization: Bearer <the admin token>"})
				return
			}
		}
		if err := rt.serve(w, r); err != nil {
			h.fail(w, r, err)
		}
	})
}

// authorized compares the bearer token's hash with the admin key's (and, for metricsRead,
// the metrics key's) in constant time.
func (h *Handler) authorized(r *http.Request, a access) bool {
	v := r.Header.Get("Authorization")
	if len(v) < 8 || !strings.EqualFold(v[:7], "bearer ") {
		return false
	}
	sum := keys.HashSecret(strings.TrimSpace(v[7:]))
	ok := subtle.ConstantTimeCompare(sum[:], h.cfg.KeyHash[:])
	if a == metricsRead && h.cfg.MetricsKeyHash != [32]byte{} {
		ok |= subtle.ConstantTimeCompare(sum[:], h.cfg.MetricsKeyHash[:])
	}
	return ok == 1
}

// apiError is an error answer: an HTTP status and a stable code for programs.
type apiError struct {
	status int
	code   string
	msg    string
}

func (e *apiError) Error() string { return e.msg }

// errorBody is the JSON of every error answer.
type errorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// fail answers err as JSON: an *apiError as itself, the keys package's errors by kind, and
// anything else as 500 with the detail logged, not sent.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	var ae *apiError
	switch {
	case errors.As(err, &ae):
	case errors.Is(err, keys.ErrInvalid):
		ae = &apiError{http.StatusBadRequest, "invalid", err.Error()}
	case errors.Is(err, keys.ErrNotFound):
		ae = &apiError{http.StatusNotFound, "not_found", err.Error()}
	case errors.Is(err, keys.ErrExists):
		ae = &apiError{http.StatusConflict, "exists", err.Error()}
	case errors.Is(err, keys.ErrReadOnly):
		ae = &apiError{http.StatusConflict, "read_only", err.Error()}
	case errors.Is(err, keys.ErrNoStore):
		ae = &apiError{http.StatusNotImplemented, "no_store", err.Error() + ": configure a ledger to change keys and budgets at run time"}
	default:
		h.log.Error("admin: request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		ae = &apiError{http.StatusInternalServerError, "internal", "internal error; see the gateway's log"}
	}
	var body errorBody
	body.Error.Code, body.Error.Message = ae.code, ae.msg
	writeJSON(w, ae.status, body)
}

// writeJSON answers v as JSON with status.
func writeJSON(w http.ResponseWriter, status int, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// maxBody bounds a request body: the largest (a key with its models) is a few KB.
const maxBody = 64 << 10

// readJSON decodes r's body into v, refusing unknown fields and trailing data.
func readJSON(w http.ResponseWriter, r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return &apiError{http.StatusBadRequest, "bad_json", fmt.Sprintf("request body: %v", err)}
	}
	if _, err := dec.Token(); err != io.EOF {
		return &apiError{http.StatusBadRequest, "bad_json", "request body: more than one JSON value"}
	}
	return nil
}

// metrics serves the Prometheus exposition of the Gatherer.
func (h *Handler) metrics(w http.ResponseWriter, r *http.Request) error {
	if h.prom == nil {
		return &apiError{http.StatusNotImplemented, "no_metrics", errNoGatherer.Error()}
	}
	h.prom.ServeHTTP(w, r)
	return nil
}
