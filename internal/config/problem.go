package config

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Problem is one thing wrong with a configuration: where (file, line and column of the
// offending YAML node, and the field path such as "quotas[2].window") and what.
type Problem struct {
	File    string
	Line    int // 1-based; 0 when unknown (a Config built in code)
	Column  int // 1-based; 0 when unknown
	Path    string
	Message string
}

// String renders p as "FILE:LINE:COL: path: message", leaving out what is unknown.
func (p Problem) String() string {
	var b strings.Builder
	if p.File != "" {
		b.WriteString(p.File)
		if p.Line > 0 {
			fmt.Fprintf(&b, ":%d", p.Line)
			if p.Column > 0 {
				fmt.Fprintf(&b, ":%d", p.Column)
			}
		}
		b.WriteString(": ")
	}
	if p.Path != "" {
		b.WriteString(p.Path)
		b.WriteString(": ")
	}
	b.WriteString(p.Message)
	return b.String()
}

// Problems is a list of problems; as an error it reads one per line.
type Problems []Problem

// Error renders every problem, one per line.
func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// sortProblems orders problems by position, then path, so that output is stable whatever
// the order of Go's map iteration.
func sortProblems(ps []Problem) {
	slices.SortStableFunc(ps, func(a, b Problem) int {
		if a.Line != b.Line {
			return a.Line - b.Line
		}
		if a.Column != b.Column {
			return a.Column - b.Column
		}
		return strings.Compare(a.Path, b.Path)
	})
}

// entry is one field of the YAML tree: its key node (nil for sequence items and the root)
// and its value node.
type entry struct {
	path     string
	key, val *yaml.Node
}

// index maps field paths to their nodes, for placing problems.
type index struct {
	byPath map[string]entry
	all    []entry // in document order
	// undecoded are the paths of mappings that the decoder skipped (duplicate keys).
	undecoded []string
}

func newIndex(root *yaml.Node) *index {
	ix := &index{byPath: map[string]entry{}}
	n := root
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	ix.add(entry{path: "", val: n})
	ix.walk("", n, 0)
	return ix
}

// maxDepth bounds the walk: a configuration is a few levels deep, and a fuzzer's deeply
// nested input must not exhaust the stack.
const maxDepth = 64

func (ix *index) add(e entry) {
	if _, dup := ix.byPath[e.path]; !dup {
		ix.byPath[e.path] = e
	}
	ix.all = append(ix.all, e)
}

func (ix *index) walk(path string, n *yaml.Node, depth int) {
	if depth > maxDepth {
		return
	}
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			p := k.Value
			if path != "" {
				p = path + "." + k.Value
			}
			ix.add(entry{path: p, key: k, val: v})
			ix.walk(p, v, depth+1)
		}
	case yaml.SequenceNode:
		for i, v := range n.Content {
			p := path + "[" + strconv.Itoa(i) + "]"
			ix.add(entry{path: p, val: v})
			ix.walk(p, v, depth+1)
		}
	}
}

// at returns the problem position of path: its value node, or, when the field is absent,
// the nearest ancestor that exists (a missing field is reported where it belongs).
func (ix *index) at(path string) (line, col int) {
	if ix == nil {
		return 0, 0
	}
	for p := path; ; p = parent(p) {
		if e, ok := ix.byPath[p]; ok && e.val != nil {
			if e.path != path && e.key != nil {
				return e.key.Line, e.key.Column
			}
			return e.val.Line, e.val.Column
		}
		if p == "" {
			return 0, 0
		}
	}
}

// keyAt returns the position of path's key, for problems about the key itself (a name).
func (ix *index) keyAt(path string) (line, col int) {
	if ix != nil {
		if e, ok := ix.byPath[path]; ok && e.key != nil {
			return e.key.Line, e.key.Column
		}
	}
	return ix.at(path)
}

// parent strips the last element of a path: "a.b[2].c" -> "a.b[2]" -> "a.b" -> "a" -> "".
func parent(p string) string {
	i := strings.LastIndexAny(p, ".[")
	if i < 0 {
		return ""
	}
	return p[:i]
}

var (
	reLineCol   = regexp.MustCompile(`^line (\d+): column (\d+): (.*)$`)
	reNotFound  = regexp.MustCompile(`^line (\d+): field (\S+) not found in type (\S+)$`)
	reAlreadyIn = regexp.MustCompile(`^line (\d+): field (\S+) already set in type \S+$`)
	reDupKey    = regexp.MustCompile(`^line (\d+): mapping key "(.*)" already defined at line (\d+)$`)
	reCannot    = regexp.MustCompile(`^line (\d+): cannot unmarshal (!!\w+)(?: ` + "`" + `.*` + "`" + `)? into (.+)$`)
	reLine      = regexp.MustCompile(`^line (\d+): (.*)$`)
)

// decodeProblem turns one message of the strict decoder's *yaml.TypeError into a Problem
// placed on its node. The decoder gives lines only; the column and path come from the
// index: the key of an unknown field, the value of a mistyped one.
func (ix *index) decodeProblem(file, msg string) Problem {
	p := Problem{File: file, Message: msg}
	atoi := func(s string) int { n, _ := strconv.Atoi(s); return n }
	if m := reLineCol.FindStringSubmatch(msg); m != nil {
		p.Line, p.Column, p.Message = atoi(m[1]), atoi(m[2]), m[3]
		for _, e := range ix.all {
			if e.val.Line == p.Line && e.val.Column == p.Column {
				p.Path = e.path
			}
		}
		return p
	}
	if m := reNotFound.FindStringSubmatch(msg); m != nil {
		p.Line, p.Message = atoi(m[1]), fmt.Sprintf("unknown field %q", m[2])
		if s := closest(m[2], fieldsOf(m[3])); s != "" {
			p.Message += fmt.Sprintf(" (did you mean %q?)", s)
		}
		ix.placeKey(&p, m[2])
		return p
	}
	if m := reAlreadyIn.FindStringSubmatch(msg); m != nil {
		p.Line, p.Message = atoi(m[1]), fmt.Sprintf("field %q is set twice", m[2])
		ix.placeKey(&p, m[2])
		return p
	}
	if m := reDupKey.FindStringSubmatch(msg); m != nil {
		p.Line, p.Message = atoi(m[1]), fmt.Sprintf("key %q is already defined at line %s", m[2], m[3])
		ix.placeKey(&p, m[2])
		// The decoder skips a mapping with a duplicate key entirely: its fields stay zero.
		ix.undecoded = append(ix.undecoded, parent(p.Path))
		return p
	}
	if m := reCannot.FindStringSubmatch(msg); m != nil {
		p.Line = atoi(m[1])
		want := wantOf(m[3])
		kind := kindOfTag(m[2])
		for _, e := range ix.all {
			if e.val.Line == p.Line && (kind == 0 || e.val.Kind == kind) && e.path != "" {
				p.Column, p.Path = e.val.Column, e.path
				got := describeNode(e.val)
				p.Message = fmt.Sprintf("want %s, got %s", want, got)
				return p
			}
		}
		p.Message = fmt.Sprintf("want %s", want)
		return p
	}
	if m := reLine.FindStringSubmatch(msg); m != nil {
		p.Line, p.Message = atoi(m[1]), m[2]
	}
	return p
}

// placeKey finds the key named name on p.Line and sets p's column and path from it.
func (ix *index) placeKey(p *Problem, name string) {
	for _, e := range ix.all {
		if e.key != nil && e.key.Line == p.Line && e.key.Value == name {
			p.Column, p.Path = e.key.Column, e.path
			return
		}
	}
}

func kindOfTag(tag string) yaml.Kind {
	switch tag {
	case "!!seq":
		return yaml.SequenceNode
	case "!!map":
		return yaml.MappingNode
	}
	return yaml.ScalarNode
}

// wantOf names a Go type for people.
func wantOf(goType string) string {
	switch {
	case goType == "string":
		return "a string"
	case goType == "bool" || goType == "*bool":
		return "true or false"
	case strings.HasPrefix(goType, "int") || strings.HasPrefix(goType, "uint"):
		return "a whole number"
	case strings.HasPrefix(goType, "float"):
		return "a number"
	case strings.HasPrefix(goType, "map["), strings.HasPrefix(goType, "config."), strings.HasPrefix(goType, "*config."):
		return "a mapping of fields"
	case strings.HasPrefix(goType, "[]"):
		return "a list"
	}
	return goType
}

func describeNode(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	}
	// A long value in the wrong field may be a pasted secret: describe it, do not echo it.
	if v := n.Value; len(v) > 24 || strings.HasPrefix(v, "sk-") {
		return fmt.Sprintf("a value of %d characters", len(v))
	}
	return strconv.Quote(n.Value)
}
