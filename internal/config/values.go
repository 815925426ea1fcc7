package config

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/dustin/go-humanize"
	"go.yaml.in/yaml/v3"

	"github.com/tollgate/tollgate/quota"
)

// The leaf types below decode one scalar each. Their UnmarshalYAML returns a *yaml.TypeError
// that starts "line L: column C:", so that the decoder goes on collecting the problems of
// the rest of the file and the message can be placed on its exact field.

// Duration is a time.Duration written as Go writes one: "30s", "1m30s", "250ms". A bare
// 0 is zero; other bare numbers are refused, since their unit would be a guess.
type Duration time.Duration

// UnmarshalYAML implements yaml.Unmarshaler.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := parseDuration(n)
	if err != nil {
		return typeErr(n, "%v", err)
	}
	*d = Duration(v)
	return nil
}

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

func parseDuration(n *yaml.Node) (time.Duration, error) {
	if n.Kind != yaml.ScalarNode {
		return 0, errors.New("want a duration such as 30s, 5m or 1h")
	}
	s := strings.TrimSpace(n.Value)
	if s == "0" {
		return 0, nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("invalid duration %q: want a number with a unit such as 30s, 5m or 1h", n.Value)
	}
	return v, nil
}

// Size is a byte count written as a number (4194304) or with a unit ("4MiB", "64MB",
// "512KiB"), parsed by go-humanize: KiB and MiB are powers of 1024, kB and MB of 1000.
type Size int64

// UnmarshalYAML implements yaml.Unmarshaler.
func (s *Size) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return typeErr(n, "want a size such as 4MiB or 1048576")
	}
	v, err := humanize.ParseBytes(strings.ReplaceAll(strings.TrimSpace(n.Value), "_", ""))
	if err != nil || v > math.MaxInt64 {
		return typeErr(n, "invalid size %q: want a byte count such as 4MiB, 64MB or 1048576", n.Value)
	}
	*s = Size(v)
	return nil
}

// Number is a quota amount as written: its meaning (a count, or dollars) depends on the
// quota's unit, so it is kept as text and converted exactly by the validator, never through
// a float. A YAML number or string is accepted.
type Number string

// UnmarshalYAML implements yaml.Unmarshaler.
func (v *Number) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode || (n.ShortTag() != "!!int" && n.ShortTag() != "!!float" && n.ShortTag() != "!!str") {
		return typeErr(n, "want a number")
	}
	*v = Number(strings.TrimSpace(n.Value))
	if *v == "" {
		return typeErr(n, "want a number")
	}
	return nil
}

func typeErr(n *yaml.Node, format string, args ...any) error {
	return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: column %d: %s", n.Line, n.Column, fmt.Sprintf(format, args...))}}
}

// parseCount parses a positive or zero integer count, allowing "_" between digits
// ("2_000_000").
func parseCount(s string) (int64, error) {
	t := strings.ReplaceAll(s, "_", "")
	v, err := strconv.ParseInt(t, 10, 64)
	if err != nil {
		if errors.Is(err, strconv.ErrRange) {
			return 0, fmt.Errorf("%q is too large", s)
		}
		return 0, fmt.Errorf("%q is not a whole number", s)
	}
	if v < 0 {
		return 0, fmt.Errorf("%q is negative", s)
	}
	return v, nil
}

// maxDollars bounds a dollar amount so that its micro-USD fit an int64 with room to spare:
// a billion dollars is no budget anyone means, and a larger figure is a typo.
const maxDollars = 1_000_000_000

// ParseDollars converts a dollar amount written as a decimal ("12.50", "$0.10", "1_000",
// "3") to micro-USD, exactly: the decimal text is read digit by digit, never through a
// float, so 0.1 is exactly 100000. More than 6 decimal places is an error, as are negative
// amounts and amounts above a billion dollars.
func ParseDollars(s string) (int64, error) {
	t := strings.ReplaceAll(strings.TrimSpace(s), "_", "")
	t = strings.TrimPrefix(t, "$")
	if strings.HasPrefix(t, "-") {
		return 0, fmt.Errorf("%q is negative", s)
	}
	t = strings.TrimPrefix(t, "+")
	whole, frac, hasDot := strings.Cut(t, ".")
	if whole == "" && frac == "" || (hasDot && frac == "" && whole == "") {
		return 0, fmt.Errorf("%q is not a dollar amount such as 12.50", s)
	}
	var v int64
	for _, c := range []byte(whole) {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("%q is not a dollar amount such as 12.50", s)
		}
		v = v*10 + int64(c-'0')
		if v > maxDollars {
			return 0, fmt.Errorf("%q is above $%d", s, maxDollars)
		}
	}
	frac = strings.TrimRight(frac, "0")
	if len(frac) > 6 {
		return 0, fmt.Errorf("%q has more than 6 decimal places (finer than a micro-dollar)", s)
	}
	var f int64
	for i := range 6 {
		f *= 10
		if i < len(frac) {
			c := frac[i]
			if c < '0' || c > '9' {
				return 0, fmt.Errorf("%q is not a dollar amount such as 12.50", s)
			}
			f += int64(c - '0')
		}
	}
	return v*1_000_000 + f, nil
}

// ParseAmount converts a quota amount written for unit (as the configuration names it) to
// the quota's integer units: micro-USD for "usd" (written in dollars), a count otherwise.
func ParseAmount(s string, unit string) (int64, error) {
	if unit == "usd" {
		return ParseDollars(s)
	}
	return parseCount(s) // micro_usd included: an integer count of micro-dollars
}

// ParseWindow parses a quota window as configuration writes it:
//
//	second, minute, hour     a rolling rate over that period ("1s", "1m", "1h" too)
//	any Go duration          a rolling rate over it: "10s", "5m", "24h"
//	day, month               the calendar day or month in loc, reset at local midnight
//	lifetime                 never resets (a session, an agent run)
//	lease                    concurrency: held from the call's start to its end
func ParseWindow(s string, loc *time.Location) (quota.Window, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "second", "sec", "per_second":
		return quota.Rolling(time.Second), nil
	case "minute", "min", "per_minute":
		return quota.Rolling(time.Minute), nil
	case "hour", "per_hour":
		return quota.Rolling(time.Hour), nil
	case "day", "daily":
		return quota.Daily(loc), nil
	case "month", "monthly":
		return quota.Monthly(loc), nil
	case "lifetime", "forever":
		return quota.Forever(), nil
	case "lease", "concurrent":
		return quota.Leased(), nil
	case "":
		return quota.Window{}, errors.New("is empty")
	}
	d, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil {
		return quota.Window{}, fmt.Errorf("unknown window %q (want minute, hour, a duration such as 10s, day, month, lifetime or lease)", s)
	}
	if d <= 0 {
		return quota.Window{}, fmt.Errorf("window %q must be a positive duration", s)
	}
	return quota.Rolling(d), nil
}
