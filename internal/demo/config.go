package demo

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/tollgate/tollgate/emulator"
)

// DefaultDuration is the length of a run whose Config.Duration is zero.
const DefaultDuration = 40 * time.Second

// Config configures a demo run. The zero value is the demo of the README: 40 agents in 8
// sessions for 40 seconds, calling the gateway over HTTP, against the default models,
// limits, faults and latency.
type Config struct {
	// Duration is how long agents keep starting requests; requests in flight then finish
	// (up to Drain). 0 means 40s.
	Duration time.Duration
	// Drain bounds the wait for requests in flight after Duration; those still running are
	// then cancelled. 0 means 15s.
	Drain time.Duration
	// Agents is the size of the swarm; 0 means 40.
	Agents int
	// Sessions is how many sessions (each with its own budget) the agents share; 0 means 8.
	Sessions int
	// Seed drives every random choice: the emulator's faults and answers, the agents'
	// prompts, sizes and pauses, the session budgets. Scheduling still varies between runs.
	Seed uint64

	// Out receives the live progress and the final report; nil discards them.
	Out io.Writer
	// Terminal redraws one progress line in place (~5 Hz) instead of printing a line every
	// ProgressEvery.
	Terminal bool
	// Width is the terminal's width in columns, to which the redrawn lines are cut; 0
	// means 80.
	Width int
	// Quiet prints no progress, only the final report.
	Quiet bool
	// ProgressEvery is the period of plain progress lines; 0 means 5s.
	ProgressEvery time.Duration
	// HTML is the path of the HTML report to write; "" writes none.
	HTML string

	// Models are the upstream models with their real limits and tollgate's configured
	// ones; nil means DefaultModels().
	Models []Model
	// Budgets are the session and tenant budgets; zero fields take their defaults.
	Budgets Budgets
	// Faults are the emulator's injected failures; nil means DefaultFaults().
	Faults *emulator.Faults
	// Latency is the emulator's speed; nil means DefaultLatency(). A zero Latency answers
	// at once, which the tests use.
	Latency *emulator.Latency
	// Think is the mean pause of an agent between two requests (drawn in [0.5, 1.5] x
	// Think); 0 means 1.2s, a negative value means no pause.
	Think time.Duration
	// Direct has the agents call the engine in-process instead of through the gateway: the
	// path without HTTP, to tell the engine's figures from the gateway's. By default the
	// agents are HTTP clients of the gateway, using the official OpenAI Go SDK.
	Direct bool
	// Concurrency is the global limit on calls in flight upstream; 0 means 16.
	Concurrency int
	// MaxWait is the longest a request waits in tollgate's queue; 0 means 10s.
	MaxWait time.Duration
}

// Model is one upstream model of the demo: what the emulator really enforces and what
// tollgate is configured with. A zero tollgate limit means no rule.
type Model struct {
	Name string
	// Upstream is the emulator's limit for the model; Upstream.Hidden keeps it out of the
	// response headers, as a provider that does not publish its limits would.
	Upstream emulator.Limits
	// RPM and TPM are tollgate's per-minute rules for the model.
	RPM, TPM int64
}

// Budgets are the money limits of a run, in micro-USD.
type Budgets struct {
	// SessionMin and SessionMax bound each session's lifetime budget, drawn uniformly per
	// session from the seed. 0 means $0.03 and $0.12.
	SessionMin, SessionMax int64
	// Daily is the tenant's budget for the calendar day (UTC); 0 means $0.70.
	Daily int64
	// WarnAt and DowngradeAt are the thresholds of every budget; 0 means 0.8 and 0.85.
	WarnAt, DowngradeAt float64
}

// DefaultModels returns the demo's models: gpt-4o with published limits that tollgate
// keeps 10% under, gpt-4o-mini with hidden limits that tollgate believes to be higher than
// they are (so that upstream 429s happen and must be absorbed), and claude-haiku-4-5 as the
// cross-provider fallback of the "fast" route.
func DefaultModels() []Model {
	return []Model{
		{Name: "gpt-4o", Upstream: emulator.Limits{RPM: 120, TPM: 80_000}, RPM: 108, TPM: 72_000},
		{Name: "gpt-4o-mini", Upstream: emulator.Limits{RPM: 90, TPM: 100_000, Hidden: true}, RPM: 400, TPM: 400_000},
		{Name: "claude-haiku-4-5", Upstream: emulator.Limits{RPM: 120, ITPM: 100_000, OTPM: 40_000}, RPM: 108, TPM: 120_000},
	}
}

// DefaultFaults returns the demo's injected faults: 2% server errors, 1% overloaded (a 503
// from OpenAI, a 529 from Anthropic) and 0.5% dropped connections. Faults after the first
// byte (cut streams, error events) are left out: they cost the caller a worst-case charge
// that the emulator does not count, which would blur the spend comparison.
func DefaultFaults() emulator.Faults {
	return emulator.Faults{ServerError: 0.02, Overloaded: 0.01, Drop: 0.005}
}

// DefaultLatency returns the demo's speed: a first token after 150 to 400 ms, then about
// 200 tokens per second, each jittered by up to 45%.
func DefaultLatency() emulator.Latency {
	return emulator.Latency{FirstToken: 275 * time.Millisecond, TokensPerSecond: 200, Jitter: 0.45}
}

// Validate reports the first invalid field, by name.
func (c Config) Validate() error {
	switch {
	case c.Duration < 0:
		return fmt.Errorf("demo: Config.Duration %v is negative", c.Duration)
	case c.Drain < 0:
		return fmt.Errorf("demo: Config.Drain %v is negative", c.Drain)
	case c.Agents < 0:
		return fmt.Errorf("demo: Config.Agents %d is negative", c.Agents)
	case c.Sessions < 0:
		return fmt.Errorf("demo: Config.Sessions %d is negative", c.Sessions)
	case c.Concurrency < 0:
		return fmt.Errorf("demo: Config.Concurrency %d is negative", c.Concurrency)
	case c.MaxWait < 0:
		return fmt.Errorf("demo: Config.MaxWait %v is negative", c.MaxWait)
	case c.ProgressEvery < 0:
		return fmt.Errorf("demo: Config.ProgressEvery %v is negative", c.ProgressEvery)
	}
	b := c.Budgets
	switch {
	case b.SessionMin < 0 || b.SessionMax < 0 || b.Daily < 0:
		return errors.New("demo: Config.Budgets: negative budget")
	case b.SessionMin > 0 && b.SessionMax > 0 && b.SessionMin > b.SessionMax:
		return fmt.Errorf("demo: Config.Budgets.SessionMin %d exceeds SessionMax %d", b.SessionMin, b.SessionMax)
	case b.WarnAt < 0 || b.WarnAt > 1 || b.DowngradeAt < 0 || b.DowngradeAt > 1:
		return errors.New("demo: Config.Budgets: thresholds are fractions in [0, 1]")
	}
	seen := map[string]bool{}
	for i, m := range c.Models {
		if m.Name == "" || seen[m.Name] {
			return fmt.Errorf("demo: Config.Models[%d]: empty or repeated name %q", i, m.Name)
		}
		seen[m.Name] = true
		if m.RPM < 0 || m.TPM < 0 {
			return fmt.Errorf("demo: Config.Models[%d] (%s): negative limit", i, m.Name)
		}
	}
	if c.Faults != nil {
		ec := emulator.Config{Faults: *c.Faults}
		if err := ec.Validate(); err != nil {
			return fmt.Errorf("demo: Config.Faults: %w", err)
		}
	}
	if c.Latency != nil {
		ec := emulator.Config{Latency: *c.Latency}
		if err := ec.Validate(); err != nil {
			return fmt.Errorf("demo: Config.Latency: %w", err)
		}
	}
	return nil
}

// withDefaults fills the zero fields.
func (c Config) withDefaults() Config {
	if c.Duration == 0 {
		c.Duration = DefaultDuration
	}
	if c.Drain == 0 {
		c.Drain = 15 * time.Second
	}
	if c.Agents == 0 {
		c.Agents = 40
	}
	if c.Sessions == 0 {
		c.Sessions = 8
	}
	c.Sessions = min(c.Sessions, c.Agents)
	if c.Out == nil {
		c.Out = io.Discard
	}
	if c.ProgressEvery == 0 {
		c.ProgressEvery = 5 * time.Second
	}
	if c.Models == nil {
		c.Models = DefaultModels()
	}
	if c.Budgets.SessionMin == 0 {
		c.Budgets.SessionMin = 30_000
	}
	if c.Budgets.SessionMax == 0 {
		c.Budgets.SessionMax = max(120_000, c.Budgets.SessionMin)
	}
	if c.Budgets.Daily == 0 {
		c.Budgets.Daily = 700_000
	}
	if c.Budgets.WarnAt == 0 {
		c.Budgets.WarnAt = 0.8
	}
	if c.Budgets.DowngradeAt == 0 {
		c.Budgets.DowngradeAt = 0.85
	}
	if c.Faults == nil {
		f := DefaultFaults()
		c.Faults = &f
	}
	if c.Latency == nil {
		l := DefaultLatency()
		c.Latency = &l
	}
	switch {
	case c.Think == 0:
		c.Think = 1200 * time.Millisecond
	case c.Think < 0:
		c.Think = 0
	}
	if c.Concurrency == 0 {
		c.Concurrency = 16
	}
	if c.MaxWait == 0 {
		c.MaxWait = 10 * time.Second
	}
	return c
}
