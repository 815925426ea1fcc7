package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	legacyrouter "github.com/getkin/kin-openapi/routers/legacy"
)

// spec is the admin API's OpenAPI description, loaded and validated once.
var spec = sync.OnceValues(func() (*openapi3.T, error) {
	data, err := OpenAPI()
	if err != nil {
		return nil, err
	}
	doc, err := openapi3.NewLoader().LoadFromData(data)
	if err != nil {
		return nil, err
	}
	if err := doc.Validate(context.Background()); err != nil {
		return nil, err
	}
	return doc, nil
})

var specRouter = sync.OnceValues(func() (routers.Router, error) {
	doc, err := spec()
	if err != nil {
		return nil, err
	}
	// The tests' requests go to httptest's host, not the documented server.
	d := *doc
	d.Servers = nil
	return legacyrouter.NewRouter(&d)
})

// specPath turns a mux pattern's path into the OpenAPI form: "{$}" goes, "{x...}" is
// "{x}".
func specPath(pattern string) string {
	p := strings.TrimSuffix(pattern, "{$}")
	return regexp.MustCompile(`\{(\w+)\.\.\.\}`).ReplaceAllString(p, "{$1}")
}

// TestOpenAPIRoutes: the description and the handler's routes are the same set of
// (method, path), and the mux sends each documented operation to the route of that
// pattern.
func TestOpenAPIRoutes(t *testing.T) {
	doc, err := spec()
	if err != nil {
		t.Fatalf("the OpenAPI description does not load or validate: %v", err)
	}
	f := newFixture(t)
	var code, documented []string
	for _, rt := range f.h.routes {
		code = append(code, rt.method+" "+specPath(rt.pattern))
	}
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			documented = append(documented, method+" "+path)
		}
	}
	slices.Sort(code)
	slices.Sort(documented)
	if !slices.Equal(code, documented) {
		t.Errorf("routes and the OpenAPI description differ:\n in code only: %v\n documented only: %v",
			diff(code, documented), diff(documented, code))
	}
	for _, rt := range f.h.routes {
		// Fill the path's parameters with a sample value.
		path := regexp.MustCompile(`\{\w+(\.\.\.)?\}`).ReplaceAllString(strings.TrimSuffix(rt.pattern, "{$}"), "x")
		req := httptest.NewRequest(rt.method, path, nil)
		if _, pattern := f.h.mux.Handler(req); pattern != rt.method+" "+rt.pattern {
			t.Errorf("%s %s goes to %q, want %q", rt.method, path, pattern, rt.method+" "+rt.pattern)
		}
	}
	// Every documented operation that needs a token says which statuses it answers
	// without one.
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			public := op.Security != nil && len(*op.Security) == 0
			if !public && op.Responses.Status(http.StatusUnauthorized) == nil {
				t.Errorf("%s %s needs a token but documents no 401", method, path)
			}
		}
	}
}

// diff returns the elements of a not in b.
func diff(a, b []string) []string {
	var out []string
	for _, s := range a {
		if !slices.Contains(b, s) {
			out = append(out, s)
		}
	}
	return out
}

// call sends one request to h and checks the answer against the OpenAPI description: its
// status must be documented for the operation and its body must match the schema
// (undocumented fields are errors: the schemas forbid additional properties). A request
// that succeeds is checked against the description too. It decodes a JSON answer into
// out (unless nil) and returns the status.
func call(t testing.TB, h http.Handler, method, path, token string, body any, out any) int {
	t.Helper()
	var reqBody []byte
	if body != nil {
		var err error
		if s, ok := body.(string); ok {
			reqBody = []byte(s)
		} else if reqBody, err = json.Marshal(body); err != nil {
			t.Fatal(err)
		}
	}
	req := httptest.NewRequest(method, path, bytes.NewReader(reqBody))
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	got := rec.Body.Bytes()

	router, err := specRouter()
	if err != nil {
		t.Fatal(err)
	}
	check := httptest.NewRequest(method, path, bytes.NewReader(reqBody))
	check.Header = req.Header.Clone()
	route, params, err := router.FindRoute(check)
	if err != nil {
		t.Fatalf("%s %s is not in the OpenAPI description: %v", method, path, err)
	}
	in := &openapi3filter.RequestValidationInput{Request: check, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}}
	if rec.Code < 300 {
		if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil {
			t.Errorf("%s %s: the request does not match the description: %v", method, path, err)
		}
	}
	if err := openapi3filter.ValidateResponse(context.Background(), &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in, Status: rec.Code, Header: rec.Header(), Body: io.NopCloser(bytes.NewReader(got)),
		Options: &openapi3filter.Options{IncludeResponseStatus: true},
	}); err != nil {
		t.Errorf("%s %s: the answer (%d) does not match the description: %v\n%s", method, path, rec.Code, err, got)
	}
	if out != nil && strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(got, out); err != nil {
			t.Fatalf("%s %s: %v\n%s", method, path, err, got)
		}
	}
	return rec.Code
}
