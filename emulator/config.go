package emulator

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Config configures an Emulator. Its zero value is a usable emulator: the built-in model
// table, any non-empty API key accepted, no rate limits, no faults, zero latency, answers of
// 20 to 200 tokens, both prompt caches on, the latest 10000 bills and 1000 stored responses
// kept, seed 0 and the wall clock.
type Config struct {
	// Seed drives every random choice (faults, jitter, answer length and words, ids). For a
	// given seed, the n-th request the emulator receives always meets the same choices.
	Seed uint64 `yaml:"seed" json:"seed"`

	// Now is the clock of the rate limits and the "created" timestamps; nil means time.Now.
	// Latency uses the runtime's timers, so it follows a testing/synctest bubble.
	Now func() time.Time `yaml:"-" json:"-"`

	// Logger receives one debug line per refused request; nil discards.
	Logger *slog.Logger `yaml:"-" json:"-"`

	// Keys, when not empty, are the only API keys accepted (401 for any other). When empty,
	// any non-empty key is accepted. Rate limits are always kept per key and per model, as
	// the real APIs keep them per organization and model.
	Keys []string `yaml:"keys" json:"keys"`

	// Organization is reported in headers and rate-limit messages; "" means "org-emulator".
	Organization string `yaml:"organization" json:"organization"`

	// Models adds to or overrides the built-in model table (see DefaultModels), by model id.
	Models map[string]Model `yaml:"models" json:"models"`

	// Limits apply to every model that sets none of its own. Zero fields are unlimited.
	Limits Limits `yaml:"limits" json:"limits"`

	// Faults apply to every model that sets none of its own.
	Faults Faults `yaml:"faults" json:"faults"`

	// Latency applies to every model that sets none of its own. Zero is no latency.
	Latency Latency `yaml:"latency" json:"latency"`

	// Output sets the length of generated answers.
	Output Output `yaml:"output" json:"output"`

	// PromptCache configures the providers' prompt caches.
	PromptCache PromptCache `yaml:"prompt_cache" json:"prompt_cache"`

	// BillSize bounds the per-request bills kept in memory for Bills and GET
	// /emulator/bill: the most recent BillSize are kept (about 300 bytes each). 0 means
	// 10000; -1 keeps none. Stats counts every bill whatever the bound.
	BillSize int `yaml:"bill_size" json:"bill_size"`

	// StoredResponses bounds the Responses API's responses kept for previous_response_id
	// (those made with store, the default): the most recent are kept, each readable only
	// with the API key that made it. 0 means 1000; -1 keeps none, so that every
	// previous_response_id is not found.
	StoredResponses int `yaml:"stored_responses" json:"stored_responses"`
}

// DefaultBillSize is the number of bills kept when Config.BillSize is 0.
const DefaultBillSize = 10000

// PromptCache configures the prompt caches, which the emulator keeps per API key (the real
// caches are per organization) and model, as the providers document them:
//
//   - OpenAI caches every prompt of 1024 tokens or more, automatically; a later prompt
//     with the same prefix reads the longest cached prefix, in increments of 128 tokens
//     (1024, 1152, 1280, ...), reported in prompt_tokens_details.cached_tokens. A
//     prompt_cache_key is part of the key. Entries live TTL after their last use
//     (https://platform.openai.com/docs/guides/prompt-caching: "5 to 10 minutes of
//     inactivity, up to one hour").
//   - Anthropic caches the prefix up to each cache_control breakpoint (at most 4; tools,
//     then system, then messages) that reaches the model's minimum (Model.MinCacheTokens),
//     for 5 minutes or, with "ttl":"1h", an hour, refreshed by each read; a request reads
//     the longest cached prefix ending at a breakpoint or at one of the 20 blocks before it
//     (https://docs.claude.com/en/docs/build-with-claude/prompt-caching).
type PromptCache struct {
	// Disabled turns both caches off: nothing is ever read or written.
	Disabled bool `yaml:"disabled" json:"disabled"`
	// OpenAITTL is how long an OpenAI prefix stays cached after its last use; 0 means 5m.
	OpenAITTL time.Duration `yaml:"openai_ttl" json:"openai_ttl"`
	// MaxEntries bounds the cached prefixes of both caches together; when it is reached
	// the entries closest to expiry go first. 0 means 100000 (about 4 MB).
	MaxEntries int `yaml:"max_entries" json:"max_entries"`
}

// Model describes one model the emulator serves.
type Model struct {
	// Provider is "openai" or "anthropic": the API that serves the model. "" means
	// "anthropic" for ids that start with "claude", "openai" otherwise.
	Provider string `yaml:"provider" json:"provider"`
	// Kind is "chat" (the default: chat completions, responses, messages) or "embedding"
	// (OpenAI's /v1/embeddings only, which the generation endpoints refuse as OpenAI
	// does).
	Kind string `yaml:"kind" json:"kind"`
	// Dimensions is the length of an embedding model's vectors, and the largest
	// "dimensions" a request may ask for; 0 means 3072 for ids containing "large", else
	// 1536.
	Dimensions int `yaml:"dimensions" json:"dimensions"`
	// ContextWindow is the maximum of prompt plus output tokens (of an embedding model,
	// of each input); 0 means 128000 (8192 for an embedding model).
	ContextWindow int `yaml:"context_window" json:"context_window"`
	// MaxOutput is the largest max_tokens accepted; 0 means 16384.
	MaxOutput int `yaml:"max_output" json:"max_output"`
	// Prices in USD per million tokens, for the list-price cost of bills and Stats.
	// CachedInputPerMTok (a prompt-cache read) 0 means InputPerMTok. The cache-write
	// prices apply to Anthropic's cache_creation tokens: 0 means the documented 1.25x
	// (5-minute TTL) and 2x (1-hour TTL) of InputPerMTok
	// (https://docs.claude.com/en/docs/build-with-claude/prompt-caching#pricing).
	InputPerMTok        float64 `yaml:"input_per_mtok" json:"input_per_mtok"`
	CachedInputPerMTok  float64 `yaml:"cached_input_per_mtok" json:"cached_input_per_mtok"`
	CacheWritePerMTok   float64 `yaml:"cache_write_per_mtok" json:"cache_write_per_mtok"`
	CacheWrite1hPerMTok float64 `yaml:"cache_write_1h_per_mtok" json:"cache_write_1h_per_mtok"`
	OutputPerMTok       float64 `yaml:"output_per_mtok" json:"output_per_mtok"`

	// Dialect is the server behind an OpenAI-format model, whose status codes and error
	// bodies the emulator sends for a context overflow, a rate limit and an overload:
	// "openai" (the default), "azure", "vllm" (vLLM 0.11 and later), "vllm-legacy" (vLLM
	// up to 0.10), "sglang", "ollama", "llamacpp", "lmstudio", "groq" or "deepseek". The
	// bodies are in testdata/dialects. Servers that refuse only a prompt longer than the
	// window (llamacpp, ollama, lmstudio) cut the answer at the window instead of refusing
	// prompt plus max_tokens.
	Dialect string `yaml:"dialect" json:"dialect"`
	// Reasoning says the model thinks before it answers, as OpenAI's o-series and gpt-5
	// family do: hidden reasoning tokens, reported in
	// completion_tokens_details.reasoning_tokens, counted in completion_tokens and against
	// max_completion_tokens, and billed as output. nil means true for ids starting with
	// o1, o3, o4 or gpt-5 (but not gpt-5-chat).
	Reasoning *bool `yaml:"reasoning" json:"reasoning"`
	// MinCacheTokens is the shortest prompt prefix the provider's prompt cache keeps. 0
	// means the documented minimum: 1024 for OpenAI; for Anthropic 4096 (Claude Haiku 4.5,
	// Opus 4.5 and 4.6), 2048 (Haiku 3.5, Haiku 3, Sonnet 4.6) or 1024 (the others).
	MinCacheTokens int `yaml:"min_cache_tokens" json:"min_cache_tokens"`

	// Limits, Faults and Latency override the Config-wide values for this model when set.
	Limits  *Limits  `yaml:"limits" json:"limits"`
	Faults  *Faults  `yaml:"faults" json:"faults"`
	Latency *Latency `yaml:"latency" json:"latency"`
}

// Limits are per-minute rate limits, enforced per API key and model with token buckets that
// refill continuously (limit/60 per second) up to the per-minute limit, as the real APIs do.
// A zero field is unlimited. Emulator.SetLimits changes them while the emulator runs.
//
// OpenAI counts a request against RPM and TPM: its estimated prompt tokens plus n times
// max_tokens (max_output_tokens in the Responses API; when unset, the generated tokens are
// charged after the answer); an embeddings request its input tokens. Cached prompt tokens
// count, as OpenAI counts them. Anthropic counts a request against RPM, ITPM and OTPM: its
// input tokens against ITPM, except those read from the prompt cache, which are refunded
// once the cache is read ("cached tokens don't count towards ITPM limits for most
// models"), and max_tokens against OTPM, of which the unused part is refunded after the
// answer. Anthropic's POST /v1/messages/count_tokens has a request limit of its own,
// CountTokensRPM (https://docs.claude.com/en/docs/build-with-claude/token-counting).
//
// The headers report them as the providers do: OpenAI's x-ratelimit-limit-, -remaining-
// and -reset-requests and -tokens (resets as durations such as "6m0s"); Anthropic's
// anthropic-ratelimit-requests-, -input-tokens-, -output-tokens- and -tokens-limit,
// -remaining and -reset (RFC 3339 instants when the bucket is full again; token counts
// remaining rounded to the nearest thousand; -tokens- the sum of input and output), with
// retry-after on a 429 (https://docs.claude.com/en/api/rate-limits#response-headers,
// https://platform.openai.com/docs/guides/rate-limits#rate-limits-in-headers).
type Limits struct {
	RPM  int `yaml:"rpm" json:"rpm"`   // requests per minute (both APIs)
	TPM  int `yaml:"tpm" json:"tpm"`   // tokens per minute (OpenAI)
	ITPM int `yaml:"itpm" json:"itpm"` // input tokens per minute (Anthropic)
	OTPM int `yaml:"otpm" json:"otpm"` // output tokens per minute (Anthropic)
	// CountTokensRPM limits Anthropic's POST /v1/messages/count_tokens, apart from RPM.
	CountTokensRPM int `yaml:"count_tokens_rpm" json:"count_tokens_rpm"`

	// Hidden enforces the limits without telling the client: HideOnSuccess and HideOn429
	// together (the body and retry-after of a 429 remain). It is for testing clients that
	// learn limits from refusals alone.
	Hidden bool `yaml:"hidden" json:"hidden"`
	// HideOnSuccess leaves the rate-limit headers out of every answer but the 429s, as
	// some providers and proxies do.
	HideOnSuccess bool `yaml:"hide_on_success" json:"hide_on_success"`
	// HideOn429 leaves the rate-limit headers out of the 429s.
	HideOn429 bool `yaml:"hide_on_429" json:"hide_on_429"`
	// HideRetryAfter leaves retry-after (and OpenAI's retry-after-ms) out of the 429s, as
	// a proxy that strips them does.
	HideRetryAfter bool `yaml:"hide_retry_after" json:"hide_retry_after"`
}

func (l *Limits) zero() bool { return l.RPM == 0 && l.TPM == 0 && l.ITPM == 0 && l.OTPM == 0 }

// hideHeaders reports whether an answer, a 429 or not, goes out without rate-limit headers.
func (l *Limits) hideHeaders(refused bool) bool {
	if refused {
		return l.Hidden || l.HideOn429
	}
	return l.Hidden || l.HideOnSuccess
}

// Faults are probabilities in [0, 1] that a request admitted past the rate limits fails in
// a given way instead of being served. Their sum must not exceed 1. A request forces one
// with the X-Emulator-Fault header naming it (see FaultNames).
//
// A fault after the 200 (Cut, ErrorEvent, StartErrorEvent, Silent, Stall) is billed as
// the providers bill an early end: the input, plus the output generated before the end.
// The 5xx answers carry the rate-limit headers of the request, as the real APIs attach
// them to every answer.
type Faults struct {
	ServerError float64 `yaml:"server_error" json:"server_error"` // 500 api_error / server_error
	BadGateway  float64 `yaml:"bad_gateway" json:"bad_gateway"`   // 502
	Unavailable float64 `yaml:"unavailable" json:"unavailable"`   // 503
	// Overloaded is Anthropic's 529 overloaded_error; OpenAI answers 503 with its
	// "overloaded" server_error instead, as it does in production.
	Overloaded float64 `yaml:"overloaded" json:"overloaded"`
	Drop       float64 `yaml:"drop" json:"drop"` // the connection closes before any response
	// Cut closes the connection part-way through the response body: after a few events
	// of a stream (no final events), or half-way through a JSON body.
	Cut float64 `yaml:"cut" json:"cut"`
	// ErrorEvent sends HTTP 200 then an error event mid-stream (OpenAI: a data chunk with
	// an "error" object; Anthropic: "event: error" with overloaded_error). Non-streaming
	// requests drawing it are served normally.
	ErrorEvent float64 `yaml:"error_event" json:"error_event"`
	// Hang holds the request without answering until the client goes away or HangMax
	// passes, then drops the connection.
	Hang float64 `yaml:"hang" json:"hang"`
	// HangMax bounds a hang or a silent answer; 0 means until the client goes away.
	HangMax time.Duration `yaml:"hang_max" json:"hang_max"`
	// Quota is the final 429 that never passes: OpenAI insufficient_quota, Anthropic's
	// workspace spend limit.
	Quota float64 `yaml:"quota" json:"quota"`
	// StartErrorEvent sends HTTP 200 and the stream's preamble, then an error event before
	// any content: Anthropic message_start, content_block_start and ping, then an
	// overloaded_error event; OpenAI the role chunk, then an in-stream error object.
	// Non-streaming requests drawing it are served normally.
	StartErrorEvent float64 `yaml:"start_error_event" json:"start_error_event"`
	// Silent sends the 200 headers, then nothing (no first token) until the client goes
	// away or HangMax passes, when the connection is dropped.
	Silent float64 `yaml:"silent" json:"silent"`
	// Stall goes silent for StallFor half-way through a stream (between two events), then
	// goes on; a non-streamed answer arrives StallFor late.
	Stall float64 `yaml:"stall" json:"stall"`
	// StallFor is the length of a stall; 0 means 30s.
	StallFor time.Duration `yaml:"stall_for" json:"stall_for"`
}

func (f Faults) sum() float64 {
	return f.ServerError + f.BadGateway + f.Unavailable + f.Overloaded + f.Drop + f.Cut +
		f.ErrorEvent + f.Hang + f.Quota + f.StartErrorEvent + f.Silent + f.Stall
}

// Latency models a provider's speed: the time to the first token, then TokensPerSecond.
// Jitter in [0, 1] scales each duration by a factor drawn in [1-Jitter, 1+Jitter]. The zero
// value answers at once.
type Latency struct {
	FirstToken      time.Duration `yaml:"first_token" json:"first_token"`
	TokensPerSecond float64       `yaml:"tokens_per_second" json:"tokens_per_second"`
	Jitter          float64       `yaml:"jitter" json:"jitter"`
}

// Output sets the length of answers: a uniform draw in [MinTokens, MaxTokens], then capped
// by the request's max_tokens. Zero fields mean 20 and 200.
type Output struct {
	MinTokens int `yaml:"min_tokens" json:"min_tokens"`
	MaxTokens int `yaml:"max_tokens" json:"max_tokens"`
}

// maxAnswer is the longest answer the precomputed corpus can serve.
const maxAnswer = 1 << 14

// Validate reports the first invalid field, by name.
func (c Config) Validate() error {
	if err := c.Limits.validate("Limits"); err != nil {
		return err
	}
	if err := c.Faults.validate("Faults"); err != nil {
		return err
	}
	if err := c.Latency.validate("Latency"); err != nil {
		return err
	}
	o := c.Output
	if o.MinTokens < 0 || o.MinTokens > maxAnswer {
		return fmt.Errorf("emulator: Output.MinTokens %d: must be in [0, %d]", o.MinTokens, maxAnswer)
	}
	if o.MaxTokens < 0 || o.MaxTokens > maxAnswer {
		return fmt.Errorf("emulator: Output.MaxTokens %d: must be in [0, %d]", o.MaxTokens, maxAnswer)
	}
	if o.MinTokens != 0 && o.MaxTokens != 0 && o.MinTokens > o.MaxTokens {
		return fmt.Errorf("emulator: Output.MinTokens %d exceeds Output.MaxTokens %d", o.MinTokens, o.MaxTokens)
	}
	if c.BillSize < -1 {
		return fmt.Errorf("emulator: BillSize %d: must be -1, 0 or positive", c.BillSize)
	}
	if c.StoredResponses < -1 {
		return fmt.Errorf("emulator: StoredResponses %d: must be -1, 0 or positive", c.StoredResponses)
	}
	if c.PromptCache.OpenAITTL < 0 || c.PromptCache.MaxEntries < 0 {
		return errors.New("emulator: PromptCache: negative OpenAITTL or MaxEntries")
	}
	for id, m := range c.Models {
		p := fmt.Sprintf("Models[%q]", id)
		if id == "" {
			return errors.New("emulator: Models: empty model id")
		}
		switch m.Provider {
		case "", "openai", "anthropic":
		default:
			return fmt.Errorf("emulator: %s.Provider %q: want \"openai\" or \"anthropic\"", p, m.Provider)
		}
		switch m.Kind {
		case "", "chat":
		case "embedding":
			if m.Provider == "anthropic" || m.Provider == "" && strings.HasPrefix(id, "claude") {
				return fmt.Errorf("emulator: %s.Kind %q: embedding models are OpenAI's", p, m.Kind)
			}
		default:
			return fmt.Errorf("emulator: %s.Kind %q: want \"chat\" or \"embedding\"", p, m.Kind)
		}
		if m.Dimensions < 0 {
			return fmt.Errorf("emulator: %s.Dimensions %d: negative", p, m.Dimensions)
		}
		if m.ContextWindow < 0 || m.MaxOutput < 0 {
			return fmt.Errorf("emulator: %s: negative ContextWindow or MaxOutput", p)
		}
		if m.InputPerMTok < 0 || m.CachedInputPerMTok < 0 || m.OutputPerMTok < 0 || m.CacheWritePerMTok < 0 || m.CacheWrite1hPerMTok < 0 {
			return fmt.Errorf("emulator: %s: negative price", p)
		}
		if m.MinCacheTokens < 0 {
			return fmt.Errorf("emulator: %s.MinCacheTokens %d: negative", p, m.MinCacheTokens)
		}
		if _, ok := dialectNames[m.Dialect]; !ok {
			return fmt.Errorf("emulator: %s.Dialect %q: want one of %s", p, m.Dialect, dialectList())
		}
		if m.Dialect != "" && m.Dialect != "openai" && (m.Provider == "anthropic" || m.Provider == "" && strings.HasPrefix(id, "claude")) {
			return fmt.Errorf("emulator: %s.Dialect %q: dialects are for OpenAI-format models", p, m.Dialect)
		}
		if m.Limits != nil {
			if err := m.Limits.validate(p + ".Limits"); err != nil {
				return err
			}
		}
		if m.Faults != nil {
			if err := m.Faults.validate(p + ".Faults"); err != nil {
				return err
			}
		}
		if m.Latency != nil {
			if err := m.Latency.validate(p + ".Latency"); err != nil {
				return err
			}
		}
	}
	return nil
}

func (l Limits) validate(name string) error {
	if l.RPM < 0 || l.TPM < 0 || l.ITPM < 0 || l.OTPM < 0 || l.CountTokensRPM < 0 {
		return fmt.Errorf("emulator: %s: negative limit", name)
	}
	return nil
}

func (f Faults) validate(name string) error {
	for _, p := range []struct {
		n string
		v float64
	}{{"ServerError", f.ServerError}, {"BadGateway", f.BadGateway}, {"Unavailable", f.Unavailable},
		{"Overloaded", f.Overloaded}, {"Drop", f.Drop}, {"Cut", f.Cut}, {"ErrorEvent", f.ErrorEvent},
		{"Hang", f.Hang}, {"Quota", f.Quota}, {"StartErrorEvent", f.StartErrorEvent}, {"Silent", f.Silent},
		{"Stall", f.Stall}} {
		if !(p.v >= 0 && p.v <= 1) {
			return fmt.Errorf("emulator: %s.%s %v: must be in [0, 1]", name, p.n, p.v)
		}
	}
	if s := f.sum(); s > 1+1e-9 {
		return fmt.Errorf("emulator: %s: rates sum to %v, more than 1", name, s)
	}
	if f.HangMax < 0 {
		return fmt.Errorf("emulator: %s.HangMax %v: negative", name, f.HangMax)
	}
	if f.StallFor < 0 {
		return fmt.Errorf("emulator: %s.StallFor %v: negative", name, f.StallFor)
	}
	return nil
}

func (l Latency) validate(name string) error {
	if l.FirstToken < 0 {
		return fmt.Errorf("emulator: %s.FirstToken %v: negative", name, l.FirstToken)
	}
	if !(l.TokensPerSecond >= 0) {
		return fmt.Errorf("emulator: %s.TokensPerSecond %v: negative", name, l.TokensPerSecond)
	}
	if !(l.Jitter >= 0 && l.Jitter <= 1) {
		return fmt.Errorf("emulator: %s.Jitter %v: must be in [0, 1]", name, l.Jitter)
	}
	return nil
}

// ParseConfig decodes a YAML or JSON configuration (JSON is YAML) and validates it. Unknown
// fields are errors, so that a misspelt limit cannot silently mean "unlimited". Durations
// are strings such as "250ms".
func ParseConfig(data []byte) (Config, error) {
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		return Config{}, fmt.Errorf("emulator: parse config: %w", err)
	}
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// LoadConfig reads and parses a configuration file with ParseConfig.
func LoadConfig(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("emulator: %w", err)
	}
	c, err := ParseConfig(data)
	if err != nil {
		return Config{}, fmt.Errorf("%w (in %s)", err, path)
	}
	return c, nil
}
