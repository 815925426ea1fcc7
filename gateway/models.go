package gateway

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/tollgate/tollgate/keys"
	"github.com/tollgate/tollgate/llm"
)

// visible returns the models and routes key k may call, in the order /v1/models lists them:
// Config.Models (or, when empty, the key's AllowedModels, or else the engine's price table)
// less those the key may not use.
func (g *Gateway) visible(k *keys.Key) []string {
	var names []string
	switch {
	case len(g.cfg.Models) > 0:
		for _, m := range g.cfg.Models {
			if k.Allows(m) {
				names = append(names, m)
			}
		}
	case len(k.AllowedModels) > 0:
		names = append(names, k.AllowedModels...)
	default:
		for _, m := range g.eng.Pricing().Models() {
			names = append(names, m.Name)
		}
	}
	return names
}

// owner names who serves a model in OpenAI's owned_by: its provider, or tollgate for a
// route.
func (g *Gateway) owner(name string) string {
	if m, err := g.eng.Pricing().Lookup(name); err == nil && m.Name == name {
		return m.Provider
	}
	return "tollgate"
}

// modelsCaller returns the format of a model listing's answer, Anthropic's when the request
// carries anthropic-version (as the Anthropic SDKs send it), and the caller's key; a nil
// key when it has answered 401.
func (g *Gateway) modelsCaller(w http.ResponseWriter, r *http.Request) (llm.Format, *keys.Key) {
	f := llm.OpenAI
	if r.Header.Get("Anthropic-Version") != "" {
		f = llm.Anthropic
	}
	k := g.authenticate(r)
	if k == nil {
		writeError(w, f, errUnauthorized, g.live.Load().budgetStatus)
	}
	return f, k
}

// listModels serves GET /v1/models: the models and routes the key may use, in OpenAI's list
// format, or in Anthropic's when the request carries anthropic-version (as the Anthropic
// SDKs send it).
func (g *Gateway) listModels(w http.ResponseWriter, r *http.Request) {
	f, k := g.modelsCaller(w, r)
	if k == nil {
		return
	}
	names := g.visible(k)
	if f == llm.Anthropic {
		out := struct {
			Data    []anthropicModel `json:"data"`
			HasMore bool             `json:"has_more"`
			FirstID *string          `json:"first_id"`
			LastID  *string          `json:"last_id"`
		}{Data: []anthropicModel{}}
		for _, n := range names {
			out.Data = append(out.Data, newAnthropicModel(n))
		}
		if len(names) > 0 {
			out.FirstID, out.LastID = &names[0], &names[len(names)-1]
		}
		writeJSON(w, http.StatusOK, out)
		return
	}
	out := struct {
		Object string        `json:"object"`
		Data   []openAIModel `json:"data"`
	}{Object: "list", Data: []openAIModel{}}
	for _, n := range names {
		out.Data = append(out.Data, g.openAIModel(n))
	}
	writeJSON(w, http.StatusOK, out)
}

// openAIModel is a model object of OpenAI's models API.
type openAIModel struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	OwnedBy string `json:"owned_by"`
}

func (g *Gateway) openAIModel(name string) openAIModel {
	return openAIModel{ID: name, Object: "model", OwnedBy: g.owner(name)}
}

// anthropicModel is a model object of Anthropic's models API.
type anthropicModel struct {
	Type        string `json:"type"`
	ID          string `json:"id"`
	DisplayName string `json:"display_name"`
	CreatedAt   string `json:"created_at"`
}

func newAnthropicModel(name string) anthropicModel {
	// Routes and models have no creation date here; the epoch parses everywhere.
	return anthropicModel{Type: "model", ID: name, DisplayName: name, CreatedAt: "1970-01-01T00:00:00Z"}
}

// getModel serves GET /v1/models/{id}: the model or route id if the key may call it, in
// OpenAI's format (Anthropic's when the request carries anthropic-version), and a 404 in
// the same format otherwise: an id the gateway does not serve and one the key may not use
// read alike, so that a key cannot probe what others may call.
func (g *Gateway) getModel(w http.ResponseWriter, r *http.Request) {
	f, k := g.modelsCaller(w, r)
	if k == nil {
		return
	}
	id := r.PathValue("id")
	if _, ok := g.resolve(id); !ok || !k.Allows(id) {
		writeError(w, f, notFound(fmt.Sprintf("tollgate: model or route %q does not exist or is not available to this key; GET /v1/models lists those it may call",
			headerValue(id))), g.live.Load().budgetStatus)
		return
	}
	if f == llm.Anthropic {
		writeJSON(w, http.StatusOK, newAnthropicModel(id))
		return
	}
	writeJSON(w, http.StatusOK, g.openAIModel(id))
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

func slogLevel(status int) slog.Level {
	switch {
	case status >= 500 && status != 499:
		return slog.LevelError
	case status == http.StatusOK:
		return slog.LevelInfo // a fallback served
	}
	return slog.LevelWarn
}
