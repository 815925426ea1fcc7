package config

import (
	"os"
	"strings"
	"testing"
)

// TestDocsCoverEveryField keeps docs/config.md in step with the schema: every YAML field of
// every section must appear in it as a table row.
func TestDocsCoverEveryField(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("../../docs/config.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(data)
	for typ, fields := range schemaFields() {
		for _, f := range fields {
			if !strings.Contains(doc, "| `"+f+"` |") {
				t.Errorf("docs/config.md has no row for %s field %q", typ, f)
			}
		}
	}
}
