package gateway

import (
	"context"
	"strings"
	"testing"

	"github.com/tollgate/tollgate/engine"
	"github.com/tollgate/tollgate/llm"
)

func TestConfigValidate(t *testing.T) {
	eng, err := engine.New(engine.Config{Providers: map[string]llm.Provider{"openai": &stub{name: "openai", format: llm.OpenAI}}})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	key := Key{ID: "a", Tenant: "t", Hash: HashKey("s")}
	tests := []struct {
		name string
		cfg  Config
		want string // in the error; "" for valid
	}{
		{"valid", Config{Engine: eng, Keys: []Key{key}}, ""},
		{"no engine", Config{Keys: []Key{key}}, "Config.Engine"},
		{"no keys", Config{Engine: eng}, "Config.Keys"},
		{"key without id", Config{Engine: eng, Keys: []Key{{Tenant: "t", Hash: HashKey("s")}}}, "Keys[0].ID"},
		{"key without tenant", Config{Engine: eng, Keys: []Key{{ID: "a", Hash: HashKey("s")}}}, "Keys[0].Tenant"},
		{"key without hash", Config{Engine: eng, Keys: []Key{{ID: "a", Tenant: "t"}}}, "Keys[0].Hash"},
		{"duplicate id", Config{Engine: eng, Keys: []Key{key, {ID: "a", Tenant: "t", Hash: HashKey("x")}}}, "Keys[1].ID"},
		{"duplicate secret", Config{Engine: eng, Keys: []Key{key, {ID: "b", Tenant: "t", Hash: HashKey("s")}}}, "Keys[1].Hash"},
		{"allowed model not served", Config{Engine: eng, Models: []string{"gpt-4o"},
			Keys: []Key{{ID: "a", Tenant: "t", Hash: HashKey("s"), AllowedModels: []string{"gpt-5"}}}}, "AllowedModels"},
		{"bad model name", Config{Engine: eng, Keys: []Key{key}, Models: []string{"not a model"}}, "Models[0]"},
		{"negative body limit", Config{Engine: eng, Keys: []Key{key}, MaxBodyBytes: -1}, "MaxBodyBytes"},
		{"negative timeout", Config{Engine: eng, Keys: []Key{key}, RequestTimeout: -1}, "RequestTimeout"},
		{"nil ready check", Config{Engine: eng, Keys: []Key{key}, Ready: map[string]func(context.Context) error{"redis": nil}}, `Ready["redis"]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("Validate() = %v, want nil", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("Validate() = %v, want an error naming %s", err, tt.want)
			}
		})
	}
}

func TestKeyring(t *testing.T) {
	kr := keyring{keys: testKeys()}
	for _, tt := range []struct{ secret, want string }{
		{secretAlice, "alice"}, {secretBob, "bob"}, {"", ""}, {"tg-alice-secreT", ""}, {secretAlice + " ", ""},
	} {
		got := ""
		if k := kr.find(tt.secret); k != nil {
			got = k.ID
		}
		if got != tt.want {
			t.Errorf("find(%q) = %q, want %q", tt.secret, got, tt.want)
		}
	}
}
