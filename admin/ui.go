package admin

import (
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"sync"

	"go.yaml.in/yaml/v3"
)

// The dashboard: plain HTML, CSS and JavaScript, embedded, with nothing to build and
// nothing fetched from elsewhere.
//
//go:embed ui
var uiFiles embed.FS

//go:embed openapi.yaml
var openAPIYAML []byte

// dashboard serves the dashboard's page.
func (h *Handler) dashboard(w http.ResponseWriter, r *http.Request) error {
	return serveFile(w, "index.html")
}

// asset serves one of the dashboard's files.
func (h *Handler) asset(w http.ResponseWriter, r *http.Request) error {
	return serveFile(w, r.PathValue("file"))
}

func serveFile(w http.ResponseWriter, name string) error {
	data, err := fs.ReadFile(uiFiles, path.Join("ui", path.Clean("/"+name)))
	if err != nil {
		return &apiError{http.StatusNotFound, "not_found", "no dashboard file " + name}
	}
	ct := mime.TypeByExtension(path.Ext(name))
	if ct == "" {
		ct = "application/octet-stream"
	}
	w.Header().Set("Content-Type", ct)
	// The page runs only its own files and talks only to this listener.
	w.Header().Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'")
	w.Header().Set("Cache-Control", "no-cache")
	_, err = w.Write(data)
	return err
}

// openAPIJSON is openapi.yaml as JSON, converted once.
var openAPIJSON = sync.OnceValues(func() ([]byte, error) {
	var doc any
	if err := yaml.Unmarshal(openAPIYAML, &doc); err != nil {
		return nil, fmt.Errorf("admin: openapi.yaml: %w", err)
	}
	return json.MarshalIndent(doc, "", "  ")
})

// OpenAPI returns the OpenAPI 3 description of the admin API, as JSON.
func OpenAPI() ([]byte, error) { return openAPIJSON() }

// openAPI: GET /admin/openapi.json.
func (h *Handler) openAPI(w http.ResponseWriter, r *http.Request) error {
	data, err := openAPIJSON()
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	_, err = w.Write(data)
	return err
}
