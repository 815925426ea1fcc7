package config

import (
	"reflect"
	"strings"
	"sync"
)

// schemaFields lists the YAML field names of every struct of the schema, by the Go type
// name the decoder puts in its messages ("config.Upstream"), for "did you mean" hints. It is
// computed once from the struct tags, so that it cannot drift from the schema.
var schemaFields = sync.OnceValue(func() map[string][]string {
	m := map[string][]string{}
	for _, v := range []any{Config{}, Upstream{}, Prices{}, Route{}, Quota{}, Key{}, Queue{}, Retry{},
		RetryBudget{}, Cooldown{}, Cache{}, Ledger{}, Redis{}, Admin{}, MetricsSection{}} {
		t := reflect.TypeOf(v)
		var names []string
		for i := range t.NumField() {
			name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
			if name != "" && name != "-" {
				names = append(names, name)
			}
		}
		m[t.String()] = names
	}
	return m
})

func fieldsOf(goType string) []string { return schemaFields()[strings.TrimPrefix(goType, "*")] }

// closest returns the candidate nearest to s by edit distance when it is near enough to be
// a likely misspelling (at most a third of the word, and at least 1 edit allowed), else "".
func closest(s string, candidates []string) string {
	best, bestD := "", len(s)/3+1
	for _, c := range candidates {
		// An abbreviation ("max_prio") is as likely as a typo.
		if len(s) >= 3 && strings.HasPrefix(c, s) {
			return c
		}
	}
	for _, c := range candidates {
		if d := editDistance(s, c); d <= bestD && (best == "" || d < editDistance(s, best)) {
			best, bestD = c, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b, in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
