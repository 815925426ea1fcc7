package config_test

import (
	"fmt"

	"github.com/tollgate/tollgate/internal/config"
)

func Example() {
	c, err := config.Parse("tollgate.yaml", []byte(`
upstreams:
  openai: {api_key_env: OPENAI_API_KEY}
quotas:
  - {name: daily, scope: {tenant: "*"}, unit: usd, limit: "50.00", window: weekly}
keys:
  - {id: agents, tenant: acme, key_env: TOLLGATE_KEY, max_priorty: 2}
`))
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, p := range c.Validate() {
		fmt.Println(p)
	}
	// Output:
	// tollgate.yaml:5:76: quotas[0].window: unknown window "weekly" (want minute, hour, a duration such as 10s, day, month, lifetime or lease)
	// tollgate.yaml:7:55: keys[0].max_priorty: unknown field "max_priorty" (did you mean "max_priority"?)
}
