package learn

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/tollgate/tollgate/llm"
)

// Upstream identifies one account at one provider: what a provider's limits apply to,
// together with the model.
type Upstream struct {
	// Provider is the engine's name of the upstream ("openai", "eu-claude").
	Provider string
	// Account identifies the credential: AccountID of the API key, never the key.
	Account string
	// Format is the wire format the upstream speaks. It decides the dimensions learned
	// and how OpenAI's tokens count (see Learner.Quotas); "" learns every dimension.
	Format llm.Format
}

// AccountID returns the identifier of an API key in learned quotas' keys, metrics and
// shared state: the first 12 hex digits of its SHA-256, which tells keys apart without
// revealing them.
func AccountID(apiKey string) string {
	sum := sha256.Sum256([]byte(apiKey))
	return hex.EncodeToString(sum[:6])
}

// Config configures a Set. The zero value is the documented default everywhere.
type Config struct {
	// Period is the window the providers' limits count over: their limits are per minute
	// (RPM, TPM, ITPM, OTPM), refilled continuously. 0 means time.Minute.
	Period time.Duration
	// Interval is how often a learned limit that binds (its quota made requests wait)
	// and met no refusal is raised. 0 means Period/6 (10s).
	Interval time.Duration
	// Increase is the first raise, as a fraction of the limit; each further raise in a row
	// doubles it, up to MaxIncrease, and a refusal or an interval that did not bind starts
	// again from Increase. 0 means 0.02.
	Increase float64
	// MaxIncrease caps a raise. 0 means 0.16.
	MaxIncrease float64
	// Decrease is the factor that a refusal multiplies a limit that the provider did not
	// state by at least, once per overload: the refusals of calls sent before the last cut are the same overload. 0
	// means 0.9.
	Decrease float64
	// Margin is how far under the provider's measured rate (see the package
	// documentation) a limit comes back to and holds: the share of capacity given up so
	// that the upstream refuses nothing while it holds. 0 means 0.02.
	Margin float64
	// Hold is how long a limit holds under the measured rate before probing higher, to
	// find a limit that rose. Every probe of an unchanged limit ends in a refusal or two,
	// so Hold bounds the share of calls refused. 0 means 3 × Period.
	Hold time.Duration
	// Logger receives a line when a learned limit moves by more than 10% since the last
	// line about it; nil means slog.Default().
	Logger *slog.Logger
	// Shared, when set, shares what the learners learn with the other replicas that use
	// the same (see Shared and Set.Sync); nil learns for this process alone.
	Shared Shared
}

// Validate reports the first bad field.
func (c *Config) Validate() error {
	switch {
	case c.Period < 0:
		return fmt.Errorf("learn: Config.Period must not be negative, got %v", c.Period)
	case c.Interval < 0:
		return fmt.Errorf("learn: Config.Interval must not be negative, got %v", c.Interval)
	case c.Increase < 0 || c.Increase > 1:
		return fmt.Errorf("learn: Config.Increase is a fraction in [0, 1], got %v", c.Increase)
	case c.MaxIncrease < 0 || c.MaxIncrease > 1:
		return fmt.Errorf("learn: Config.MaxIncrease is a fraction in [0, 1], got %v", c.MaxIncrease)
	case c.Decrease < 0 || c.Decrease >= 1:
		return fmt.Errorf("learn: Config.Decrease is a factor in [0, 1), got %v", c.Decrease)
	case c.Margin < 0 || c.Margin >= 1:
		return fmt.Errorf("learn: Config.Margin is a fraction in [0, 1), got %v", c.Margin)
	case c.Hold < 0:
		return fmt.Errorf("learn: Config.Hold must not be negative, got %v", c.Hold)
	}
	return nil
}

func (c Config) withDefaults() Config {
	if c.Period == 0 {
		c.Period = time.Minute
	}
	if c.Interval == 0 {
		c.Interval = c.Period / 6
	}
	if c.Increase == 0 {
		c.Increase = 0.02
	}
	if c.MaxIncrease == 0 {
		c.MaxIncrease = 0.16
	}
	c.MaxIncrease = max(c.MaxIncrease, c.Increase)
	if c.Decrease == 0 {
		c.Decrease = 0.9
	}
	if c.Margin == 0 {
		c.Margin = 0.02
	}
	if c.Hold == 0 {
		c.Hold = 3 * c.Period
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// Set holds the learners of every upstream and model. It is safe for concurrent use and
// starts no goroutines.
type Set struct {
	cfg Config
	mu  sync.Mutex
	m   map[learnerKey]*Learner
}

type learnerKey struct {
	up    Upstream
	model string
}

// New returns an empty Set.
func New(cfg Config) (*Set, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Set{cfg: cfg.withDefaults(), m: make(map[learnerKey]*Learner)}, nil
}

// Learner returns the learner of up and model, made on first use. The same arguments
// always return the same Learner, whose quotas share their state.
func (s *Set) Learner(up Upstream, model string) *Learner {
	k := learnerKey{up, model}
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.m[k]
	if l == nil {
		l = newLearner(&s.cfg, up, model)
		s.m[k] = l
	}
	return l
}

// Status returns a row per learned dimension of every learner (one that a provider
// stated or that met a refusal), ordered by provider, account, model and dimension: the
// table of the admin API and of `tollgate status`, and what metrics export.
func (s *Set) Status() []Limit {
	s.mu.Lock()
	ls := make([]*Learner, 0, len(s.m))
	for _, l := range s.m {
		ls = append(ls, l)
	}
	s.mu.Unlock()
	var out []Limit
	for _, l := range ls {
		out = l.appendStatus(out)
	}
	slices.SortFunc(out, func(a, b Limit) int {
		return strings.Compare(a.sortKey(), b.sortKey())
	})
	return out
}

// Limit is one learned dimension of one upstream and model, as Status reports it.
type Limit struct {
	Upstream Upstream
	Model    string
	Dim      Dim
	// Limit is the learned limit per Period that the quota enforces; 0 when none is
	// known (the dimension is not limited).
	Limit int64
	// Source is where Limit comes from.
	Source Source
	// Stated is the limit the provider stated last (headers or a 429's message); 0 when
	// it never did.
	Stated int64
	// Remaining is what the provider said remained in its last answer with headers; -1
	// when it never said.
	Remaining int64
	// Refusals counts the upstream's rate-limit refusals (429s) attributed to this
	// dimension; Decreases and Increases count the limit's moves by refusal and by
	// probing.
	Refusals, Decreases, Increases uint64
	// Updated is when Limit last changed; zero when it never did.
	Updated time.Time
}

func (l *Limit) sortKey() string {
	return l.Upstream.Provider + "\x00" + l.Upstream.Account + "\x00" + l.Model + "\x00" + string(rune('0'+l.Dim))
}

// WriteTable writes rows as an aligned text table, as `tollgate status` prints it.
func WriteTable(w io.Writer, rows []Limit) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PROVIDER\tACCOUNT\tMODEL\tUNIT\tLIMIT/MIN\tSOURCE\tSTATED\tREMAINING\t429s\tDOWN\tUP")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%d\n", r.Upstream.Provider, r.Upstream.Account,
			r.Model, r.Dim, positive(r.Limit), r.Source, positive(r.Stated), known(r.Remaining), r.Refusals, r.Decreases, r.Increases)
	}
	return tw.Flush()
}

// positive renders a count that is known when positive, else "-".
func positive(n int64) string {
	if n <= 0 {
		return "-"
	}
	return strconv.FormatInt(n, 10)
}

// known renders a count that is known when not negative, else "-".
func known(n int64) string {
	if n < 0 {
		return "-"
	}
	return strconv.FormatInt(n, 10)
}

// Source says where a learned limit comes from.
type Source uint8

// The sources of a learned limit.
const (
	SourceNone     Source = iota // nothing learned: the dimension is not limited
	SourceHeaders                // the provider's rate-limit headers stated it
	SourceMessage                // a 429's message stated it
	SourceRefusals               // inferred from refusals: the rate at which the provider accepts calls
)

var sourceNames = [...]string{"none", "headers", "message", "refusals"}

func (s Source) String() string {
	if int(s) < len(sourceNames) {
		return sourceNames[s]
	}
	return fmt.Sprintf("source(%d)", int(s))
}
