package emulator

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
)

// serveLimits serves GET /emulator/limits/{model}: the model's Limits as JSON.
func (e *Emulator) serveLimits(w http.ResponseWriter, r *http.Request) {
	l, ok := e.Limits(r.PathValue("model"))
	if !ok {
		http.Error(w, "unknown model "+r.PathValue("model"), http.StatusNotFound)
		return
	}
	writeJSON(w, l)
}

// putLimits serves PUT /emulator/limits/{model}: the body, Limits as JSON (unknown fields
// refused), replaces the model's limits (see SetLimits); the answer is the limits now in
// force.
func (e *Emulator) putLimits(w http.ResponseWriter, r *http.Request) {
	body, err := readBody(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var l Limits
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&l); err != nil {
		http.Error(w, "emulator: limits: "+err.Error(), http.StatusBadRequest)
		return
	}
	model := r.PathValue("model")
	if err := e.SetLimits(model, l); err != nil {
		status := http.StatusBadRequest
		if errors.Is(err, ErrUnknownModel) {
			status = http.StatusNotFound
		}
		http.Error(w, err.Error(), status)
		return
	}
	l, _ = e.Limits(model)
	writeJSON(w, l)
}
