package ledger

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
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
// TOTAL line when there is more than one row. An empty group value prints as "-".
func WriteTable(w io.Writer, rows []Row) error {
	by := "GROUP"
	if len(rows) > 0 && rows[0].By != ByNone {
		by = strings.ToUpper(string(rows[0].By))
	}
	cells := [][]string{{by, "COST_USD", "REQUESTS", "ERRORS", "FALLBACKS", "INPUT", "CACHED", "OUTPUT"}}
	line := func(group string, r Row) []string {
		return []string{group, FormatUSD(r.MicroUSD), itoa(r.Requests), itoa(r.Errors),
			itoa(r.Fallbacks), itoa(r.InputTokens), itoa(r.CachedInputTokens), itoa(r.OutputTokens)}
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

	widths := make([]int, len(cells[0]))
	for _, c := range cells {
		for i, s := range c {
			widths[i] = max(widths[i], len(s))
		}
	}
	var b strings.Builder
	for _, c := range cells {
		b.WriteString(c[0])
		b.WriteString(strings.Repeat(" ", widths[0]-len(c[0])))
		for i, s := range c[1:] {
			b.WriteString(strings.Repeat(" ", 2+widths[i+1]-len(s)))
			b.WriteString(s)
		}
		b.WriteByte('\n')
	}
	_, err := io.WriteString(w, b.String())
	return err
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
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(out); err != nil {
		return fmt.Errorf("ledger: write json: %w", err)
	}
	return nil
}
