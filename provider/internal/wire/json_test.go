package wire

import (
	"encoding/json"
	"errors"
	"testing"
)

func TestPatch(t *testing.T) {
	tests := []struct {
		name string
		obj  string
		sets []Set
		want string
	}{
		{"replace in place", `{"a":1, "model" : "x","z":[1,{"model":2}]}`,
			[]Set{{"model", []byte(`"y"`)}}, `{"a":1, "model" : "y","z":[1,{"model":2}]}`},
		{"append missing", `{"a":1}`, []Set{{"b", []byte(`2`)}, {"c", []byte(`3`)}}, `{"a":1,"b":2,"c":3}`},
		{"append to empty", ` { } `, []Set{{"b", []byte(`2`)}}, ` { "b":2} `},
		{"duplicates all replaced", `{"k":1,"k":2}`, []Set{{"k", []byte(`9`)}}, `{"k":9,"k":9}`},
		{"escaped key matches", `{"mod\u0065l":"x"}`, []Set{{"model", []byte(`"y"`)}}, `{"mod\u0065l":"y"}`},
		{"strings with braces", `{"s":"}{\"","model":"a"}`, []Set{{"model", []byte(`"b"`)}}, `{"s":"}{\"","model":"b"}`},
		{"case differs is another key", `{"Model":"a"}`, []Set{{"model", []byte(`"b"`)}}, `{"Model":"a","model":"b"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Patch([]byte(tt.obj), tt.sets...)
			if err != nil {
				t.Fatalf("Patch(%s) error %v", tt.obj, err)
			}
			if string(got) != tt.want {
				t.Errorf("Patch(%s) = %s, want %s", tt.obj, got, tt.want)
			}
		})
	}
}

func TestMembersErrors(t *testing.T) {
	for _, in := range []string{``, `[]`, `{"a"}`, `{"a":}`, `{"a":1`, `{"a":"x`, `{1:2}`, `{"a":1 "b":2}`, `{"a":[1}`} {
		if _, _, err := Members([]byte(in)); !errors.Is(err, ErrSyntax) {
			t.Errorf("Members(%q) error = %v, want ErrSyntax", in, err)
		}
	}
}

func FuzzPatch(f *testing.F) {
	for _, s := range []string{`{"model":"a","max_tokens":3}`, `{}`, `{"a":{"b":[1,"}"]}}`, `{"k":1,"k":2}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, obj []byte) {
		if !json.Valid(obj) {
			return
		}
		got, err := Patch(obj, Set{"model", []byte(`"m"`)}, Set{"max_tokens", []byte(`7`)})
		if err != nil {
			return // valid JSON that is not an object
		}
		var v map[string]any
		if err := json.Unmarshal(got, &v); err != nil {
			t.Fatalf("Patch(%s) = %s, not valid JSON: %v", obj, got, err)
		}
		if v["model"] != "m" || v["max_tokens"] != float64(7) {
			t.Fatalf("Patch(%s) = %s, members not set", obj, got)
		}
	})
}

func TestString(t *testing.T) {
	tests := []struct {
		raw    string
		want   string
		wantOK bool
	}{
		{`"hello world"`, "hello world", true},
		{`""`, "", true},
		{`"a\nb"`, "", false},
		{`"caf` + "\u00e9" + `"`, "", false},
		{`"x" `, "", false},
		{`12`, "", false},
	}
	for _, tt := range tests {
		got, ok := String([]byte(tt.raw))
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("String(%s) = %q, %v; want %q, %v", tt.raw, got, ok, tt.want, tt.wantOK)
		}
		if ok {
			var dec string
			if err := json.Unmarshal([]byte(tt.raw), &dec); err != nil || dec != got {
				t.Errorf("String(%s) = %q, encoding/json says %q", tt.raw, got, dec)
			}
		}
	}
}

func FuzzString(f *testing.F) {
	for _, s := range []string{`"a"`, `"a\"b"`, `"é"`, `""`, `"x" `} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		got, ok := String(raw)
		if !ok || !json.Valid(raw) {
			return
		}
		var want string
		if err := json.Unmarshal(raw, &want); err != nil || got != want {
			t.Fatalf("String(%q) = %q, encoding/json says %q (%v)", raw, got, want, err)
		}
	})
}
