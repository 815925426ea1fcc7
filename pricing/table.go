package pricing

import (
	_ "embed"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"
)

// ErrUnknownModel is what Lookup's error unwraps to when a model has no price. tollgate never
// guesses a price: a caller that cannot price a call must refuse it or configure one.
var ErrUnknownModel = errors.New("pricing: unknown model")

// UnknownModelError says which model id had no price. It unwraps to ErrUnknownModel.
type UnknownModelError struct {
	Model string
}

// Error names the model and says how to price it.
func (e *UnknownModelError) Error() string {
	return fmt.Sprintf("pricing: unknown model %q: add it to a price file", e.Model)
}

// Unwrap returns ErrUnknownModel.
func (e *UnknownModelError) Unwrap() error { return ErrUnknownModel }

// Table is a set of model prices. A Table is immutable once built: every method is safe for
// concurrent use, and With returns a new Table. The zero Table is empty: every Lookup fails.
type Table struct {
	asOf    time.Time
	models  map[string]Model
	aliases map[string]string // alias -> model name
}

//go:embed prices.yaml
var defaultYAML []byte

var defaultTable = sync.OnceValue(func() *Table {
	t, err := Parse(defaultYAML)
	if err != nil {
		// The file ships in the binary and a test parses it: this cannot happen in a release.
		panic(fmt.Sprintf("pricing: embedded prices.yaml: %v", err))
	}
	return t
})

// Default returns the table shipped in the binary, parsed once. Callers share it and must
// treat it as read-only (its methods never mutate it); it is safe for concurrent use.
func Default() *Table { return defaultTable() }

// AsOf returns the date the table's prices were read; zero if the file did not say.
func (t *Table) AsOf() time.Time { return t.asOf }

// With returns a new table holding t's models, with every model of overrides replacing the
// one of the same name or being added. Aliases of both are kept, those of overrides winning;
// an alias equal to an overriding model's name yields to that model. AsOf is the later date.
// Neither t nor overrides changes.
func (t *Table) With(overrides *Table) *Table {
	n := &Table{
		asOf:    t.asOf,
		models:  maps.Clone(t.models),
		aliases: maps.Clone(t.aliases),
	}
	if n.models == nil {
		n.models = map[string]Model{}
	}
	if n.aliases == nil {
		n.aliases = map[string]string{}
	}
	if overrides == nil {
		return n
	}
	if overrides.asOf.After(n.asOf) {
		n.asOf = overrides.asOf
	}
	for name, m := range overrides.models {
		n.models[name] = m
		delete(n.aliases, name)
	}
	maps.Copy(n.aliases, overrides.aliases)
	return n
}

// Models returns every model of the table, sorted by name. The slice is the caller's.
func (t *Table) Models() []Model {
	ms := slices.Collect(maps.Values(t.models))
	slices.SortFunc(ms, func(a, b Model) int { return strings.Compare(a.Name, b.Name) })
	return ms
}

// Lookup returns the model that model names, resolving in this order:
//
//  1. an exact model name, then an alias listed in the table;
//  2. the family of a dated or floating id: one trailing "-YYYY-MM-DD" (OpenAI snapshots,
//     gpt-4o-2024-08-06), "-YYYYMMDD" (Anthropic, claude-sonnet-4-20250514) or "-latest"
//     (claude-3-5-sonnet-latest) is removed and step 1 repeated.
//
// Nothing else is guessed: "gpt-4o-minimal" is not gpt-4o-mini and "gpt-4" is not gpt-4o.
// Ids are compared case-insensitively. An id that resolves to nothing yields a
// *UnknownModelError, which unwraps to ErrUnknownModel.
func (t *Table) Lookup(model string) (Model, error) {
	id := model
	if hasUpper(id) {
		id = strings.ToLower(id)
	}
	if m, ok := t.exact(id); ok {
		return m, nil
	}
	if family, ok := trimVersion(id); ok {
		if m, ok := t.exact(family); ok {
			return m, nil
		}
	}
	return Model{}, &UnknownModelError{Model: model}
}

func (t *Table) exact(id string) (Model, bool) {
	if m, ok := t.models[id]; ok {
		return m, true
	}
	if name, ok := t.aliases[id]; ok {
		m, ok := t.models[name]
		return m, ok
	}
	return Model{}, false
}

// trimVersion removes one version suffix from id and reports whether it found one.
func trimVersion(id string) (string, bool) {
	if s, ok := strings.CutSuffix(id, "-latest"); ok && s != "" {
		return s, true
	}
	// -YYYY-MM-DD
	if n := len(id); n > 11 && id[n-11] == '-' && id[n-6] == '-' && id[n-3] == '-' &&
		digits(id[n-10:n-6]) && digits(id[n-5:n-3]) && digits(id[n-2:]) {
		return id[:n-11], true
	}
	// -YYYYMMDD, with a plausible year so that a long build number is not taken for a date
	if n := len(id); n > 9 && id[n-9] == '-' && digits(id[n-8:]) && id[n-8:n-6] == "20" {
		return id[:n-9], true
	}
	return "", false
}

func digits(s string) bool {
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

func hasUpper(s string) bool {
	for i := range len(s) {
		if s[i] >= 'A' && s[i] <= 'Z' {
			return true
		}
	}
	return false
}
