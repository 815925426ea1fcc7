package ledger

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// FormatUSD formats micro-USD as dollars with at least 2 and at most 6 decimals:
// 1_500_000 is "1.50", 1_234 is "0.001234". It is exact: no float is involved.
func FormatUSD(micro int64) string {
	sign := ""
	u := uint64(micro)
	if micro < 0 {
		sign, u = "-", uint64(-(micro+1))+1 // no overflow at MinInt64
	}
	frac := fmt.Sprintf("%06d", u%1_000_000)
	frac = strings.TrimRight(frac, "0")
	for len(frac) < 2 {
		frac += "0"
	}
	return sign + strconv.FormatUint(u/1_000_000, 10) + "." + frac
}

// WriteTable writes rows as an aligned text table: the group (named after the dimension),
// then the cost in dollars aligned on the decimal point, then right-aligned counts, and a
// TOTAL line when there is more than one row. INPUT counts every prompt token: CACHED (read
// from the prompt cache), WRITE_5M and WRITE_1H (written to it with either TTL) are parts
// of it; REASONING is part of OUTPUT. An empty group value prints as "-".
func WriteTable(w io.Writer, rows []Row) error {
	by := "GROUP"
	if len(rows) > 0 && rows[0].By != ByNone {
		by = strings.ToUpper(string(rows[0].By))
	}
	cells := [][]string{{by, "COST_USD", "REQUESTS", "ERRORS", "FALLBACKS", "INPUT", "CACHED", "WRITE_5M",
		"WRITE_1H", "OUTPUT", "REASONING"}}
	line := func(group string, r Row) []string {
		return []string{group, FormatUSD(r.MicroUSD), itoa(r.Requests), itoa(r.Errors),
			itoa(r.Fallbacks), itoa(r.InputTokens), itoa(r.CachedInputTokens),
			itoa(r.CacheWriteTokens - r.CacheWrite1hTokens), itoa(r.CacheWrite1hTokens), itoa(r.OutputTokens),
			itoa(r.ReasoningTokens)}
	}
	var total Row
	for _, r := range rows {
		group := r.Group
		switch {
		case r.By == ByNone:
			group = "TOTAL"
		case group == "":
			group = "-"
		}
		cells = append(cells, line(group, r))
		total.add(r)
	}
	if len(rows) > 1 {
		cells = append(cells, line("TOTAL", total))
	}

	// The cost column aligns on the decimal point: its integer parts are right-aligned and
	// its fractions left-aligned, padded to the widest fraction.
	const cost = 1
	var intW, fracW int
	for _, c := range cells[1:] {
		i, f, _ := strings.Cut(c[cost], ".")
		intW, fracW = max(intW, len(i)), max(fracW, len(f))
	}
	for _, c := range cells[1:] {
		i, f, _ := strings.Cut(c[cost], ".")
		c[cost] = strings.Repeat(" ", intW-len(i)) + i + "." + f + strings.Repeat(" ", fracW-len(f))
	}

	return writeCells(w, cells, 1)
}

// writeCells writes cells as aligned columns two spaces apart: the first left columns
// left-aligned, the others right-aligned.
func writeCells(w io.Writer, cells [][]string, left int) error {
	widths := make([]int, len(cells[0]))
	for _, c := range cells {
		for i, s := range c {
			widths[i] = max(widths[i], len(s))
		}
	}
	var b strings.Builder
	for _, c := range cells {
		for i, s := range c {
			pad := strings.Repeat(" ", widths[i]-len(s))
			if i > 0 {
				b.WriteString("  ")
			}
			if i < left {
				if i == len(c)-1 {
					pad = ""
				}
				b.WriteString(s + pad)
			} else {
				b.WriteString(pad + s)
			}
		}
		b.WriteByte('\n')
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteRecords writes the records of a request (Ledger.Request) as an aligned table, one
// line per attempt, times in loc: what `tollgate usage --request` prints. An empty string
// prints as "-".
func WriteRecords(w io.Writer, recs []Record, loc *time.Location) error {
	cells := [][]string{{"TIME", "REQUEST", "UPSTREAM_ID", "OUTCOME", "PROVIDER", "MODEL", "FALLBACK",
		"ATTEMPT", "COST_USD", "INPUT", "CACHED", "WRITE_5M", "WRITE_1H", "OUTPUT", "REASONING", "LATENCY"}}
	for _, r := range recs {
		cells = append(cells, []string{r.Time.In(loc).Format(time.RFC3339Nano), dash(r.RequestID),
			dash(r.UpstreamRequestID), dash(r.Outcome), dash(r.Provider), dash(r.Model), dash(r.FallbackReason),
			strconv.Itoa(r.Attempt), FormatUSD(r.MicroUSD), itoa(r.InputTokens), itoa(r.CachedInputTokens),
			itoa(r.CacheWriteTokens - r.CacheWrite1hTokens), itoa(r.CacheWrite1hTokens), itoa(r.OutputTokens),
			itoa(r.ReasoningTokens), r.Latency.Round(time.Millisecond).String()})
	}
	return writeCells(w, cells, 7)
}

// WriteHolds writes open holds (Ledger.OpenHolds) as an aligned table, times in loc.
func WriteHolds(w io.Writer, hs []Hold, loc *time.Location) error {
	cells := [][]string{{"OPENED", "HOLD", "REQUEST", "OWNER", "TENANT", "SESSION", "MODEL", "WORST_USD",
		"INPUT", "OUTPUT"}}
	for _, h := range hs {
		cells = append(cells, []string{h.Opened.In(loc).Format(time.RFC3339Nano), dash(h.ID), dash(h.RequestID),
			dash(h.Owner), dash(h.Tenant), dash(h.Session), dash(h.Model), FormatUSD(h.MicroUSD),
			itoa(h.InputTokens), itoa(h.OutputTokens)})
	}
	return writeCells(w, cells, 7)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// jsonRecord is Record on the wire, in snake_case, with the exact integer micro-USD and
// the cost in dollars from the exact decimal.
type jsonRecord struct {
	Time              time.Time   `json:"time"`
	RequestID         string      `json:"request_id"`
	UpstreamRequestID string      `json:"upstream_request_id,omitempty"`
	HoldID            string      `json:"hold_id,omitempty"`
	Tenant            string      `json:"tenant"`
	Key               string      `json:"key"`
	Agent             string      `json:"agent"`
	Session           string      `json:"session"`
	Route             string      `json:"route"`
	Provider          string      `json:"provider"`
	Model             string      `json:"model"`
	InputTokens       int64       `json:"input_tokens"`
	CachedInputTokens int64       `json:"cached_input_tokens"`
	CacheWriteTokens  int64       `json:"cache_write_tokens"`
	CacheWrite1h      int64       `json:"cache_write_1h_tokens"`
	OutputTokens      int64       `json:"output_tokens"`
	ReasoningTokens   int64       `json:"reasoning_tokens"`
	MicroUSD          int64       `json:"micro_usd"`
	CostUSD           json.Number `json:"cost_usd"`
	Outcome           string      `json:"outcome"`
	FallbackReason    string      `json:"fallback_reason,omitempty"`
	LatencyMS         float64     `json:"latency_ms"`
	Attempt           int         `json:"attempt"`
}

// WriteRecordsJSON writes records as a JSON array, indented, with a trailing newline.
func WriteRecordsJSON(w io.Writer, recs []Record) error {
	out := make([]jsonRecord, len(recs))
	for i, r := range recs {
		out[i] = jsonRecord{Time: r.Time, RequestID: r.RequestID, UpstreamRequestID: r.UpstreamRequestID,
			HoldID: r.HoldID, Tenant: r.Tenant, Key: r.Key, Agent: r.Agent, Session: r.Session, Route: r.Route,
			Provider: r.Provider, Model: r.Model, InputTokens: r.InputTokens, CachedInputTokens: r.CachedInputTokens,
			CacheWriteTokens: r.CacheWriteTokens, CacheWrite1h: r.CacheWrite1hTokens, OutputTokens: r.OutputTokens,
			ReasoningTokens: r.ReasoningTokens, MicroUSD: r.MicroUSD, CostUSD: json.Number(FormatUSD(r.MicroUSD)),
			Outcome: r.Outcome, FallbackReason: r.FallbackReason, LatencyMS: float64(r.Latency) / float64(time.Millisecond),
			Attempt: r.Attempt}
	}
	return writeJSON(w, out)
}

// jsonHold is Hold on the wire.
type jsonHold struct {
	ID           string      `json:"id"`
	RequestID    string      `json:"request_id"`
	Owner        string      `json:"owner"`
	Tenant       string      `json:"tenant"`
	Key          string      `json:"key"`
	Agent        string      `json:"agent"`
	Session      string      `json:"session"`
	Route        string      `json:"route"`
	Provider     string      `json:"provider"`
	Model        string      `json:"model"`
	Attempt      int         `json:"attempt"`
	InputTokens  int64       `json:"input_tokens"`
	OutputTokens int64       `json:"output_tokens"`
	MicroUSD     int64       `json:"micro_usd"`
	CostUSD      json.Number `json:"cost_usd"`
	Opened       time.Time   `json:"opened"`
}

// WriteHoldsJSON writes holds as a JSON array, indented, with a trailing newline.
func WriteHoldsJSON(w io.Writer, hs []Hold) error {
	out := make([]jsonHold, len(hs))
	for i, h := range hs {
		out[i] = jsonHold{ID: h.ID, RequestID: h.RequestID, Owner: h.Owner, Tenant: h.Tenant, Key: h.Key,
			Agent: h.Agent, Session: h.Session, Route: h.Route, Provider: h.Provider, Model: h.Model,
			Attempt: h.Attempt, InputTokens: h.InputTokens, OutputTokens: h.OutputTokens, MicroUSD: h.MicroUSD,
			CostUSD: json.Number(FormatUSD(h.MicroUSD)), Opened: h.Opened}
	}
	return writeJSON(w, out)
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("ledger: write json: %w", err)
	}
	return nil
}

func itoa(v int64) string { return strconv.FormatInt(v, 10) }

// jsonRow is Row on the wire: the exact integer micro-USD and, for people and tools that
// want dollars, cost_usd as a JSON number written from the exact decimal.
type jsonRow struct {
	By string `json:"by"`
	Row
	CostUSD json.Number `json:"cost_usd"`
}

// WriteJSON writes rows as a JSON array, one object per row, indented, with a trailing
// newline. An empty result is [].
func WriteJSON(w io.Writer, rows []Row) error {
	out := make([]jsonRow, len(rows))
	for i, r := range rows {
		by := string(r.By)
		if by == "" {
			by = "none"
		}
		out[i] = jsonRow{By: by, Row: r, CostUSD: json.Number(FormatUSD(r.MicroUSD))}
	}
	return writeJSON(w, out)
}
