package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/tollgate/tollgate/admin"
	"github.com/tollgate/tollgate/internal/config"
	"github.com/tollgate/tollgate/quota"
)

// statusTimeout bounds the call to the admin API.
const statusTimeout = 10 * time.Second

// runStatus prints a running gateway's state, read from its admin API's overview: the
// traffic's figures, each tenant's spend and budgets, the top sessions, the queue, the
// breakers and the learned limits.
func runStatus(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("status", stderr)
	path := fs.String("config", "tollgate.yaml", "configuration `FILE`, for the admin listener's address and token variable")
	addr := fs.String("admin", "", "the admin listener's `URL`, instead of the configuration's admin.listen")
	tokenEnv := fs.String("token-env", "", "the environment `VARIABLE` holding the admin token (default: admin.key_env, else TOLLGATE_ADMIN_TOKEN)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	base, token := *addr, ""
	if *tokenEnv != "" {
		token = os.Getenv(*tokenEnv)
	}
	if base == "" || token == "" {
		c, err := config.Load(*path)
		if err != nil && base == "" {
			return err
		}
		if err == nil {
			if base == "" {
				if base = c.AdminListen(); base == "" {
					return fmt.Errorf("%s has no admin section: the gateway has no admin listener to ask", *path)
				}
			}
			if token == "" && *tokenEnv == "" {
				token, _ = c.AdminToken()
			}
		}
	}
	if token == "" && *tokenEnv == "" {
		token = os.Getenv("TOLLGATE_ADMIN_TOKEN")
	}
	if token == "" {
		return fmt.Errorf("%w: no admin token: set TOLLGATE_ADMIN_TOKEN, admin.key_env's variable, or --token-env", errUsage)
	}
	ov, err := fetchOverview(ctx, adminURL(base), token)
	if err != nil {
		return err
	}
	printStatus(stdout, adminURL(base), ov)
	return nil
}

// adminURL makes an admin listener's address a base URL: an address that listens on every
// interface is reached on loopback.
func adminURL(addr string) string {
	if strings.Contains(addr, "://") {
		return strings.TrimRight(addr, "/")
	}
	if host, port, err := net.SplitHostPort(addr); err == nil && (host == "" || host == "0.0.0.0" || host == "::") {
		addr = net.JoinHostPort("127.0.0.1", port)
	}
	return "http://" + addr
}

func fetchOverview(ctx context.Context, base, token string) (*admin.Overview, error) {
	ctx, cancel := context.WithTimeout(ctx, statusTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/admin/v1/overview", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("admin API: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error struct{ Code, Message string }
		}
		_ = json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&e)
		return nil, fmt.Errorf("admin API: %s: %s %s", resp.Status, e.Error.Code, e.Error.Message)
	}
	var ov admin.Overview
	if err := json.NewDecoder(resp.Body).Decode(&ov); err != nil {
		return nil, fmt.Errorf("admin API: overview: %w", err)
	}
	return &ov, nil
}

// printStatus renders an overview for people.
func printStatus(w io.Writer, base string, ov *admin.Overview) {
	usd := quota.MicroUSD.Format
	fmt.Fprintf(w, "tollgate %s at %s: %d keys (%d active), settings revision %d\n", base, ov.Time.Format(time.RFC3339),
		ov.Keys.Total, ov.Keys.Active, ov.Keys.Revision)
	if ov.Keys.RefreshError != "" {
		fmt.Fprintf(w, "  keys not refreshed: %s\n", ov.Keys.RefreshError)
	}
	if m := ov.Metrics; m != nil {
		fmt.Fprintf(w, "traffic: %.0f requests; 429s from tollgate %.0f, from upstreams %.0f; %.0f retries; %.0f fallbacks (%.1f%%); cache %.0f hits, %.0f stale, %.0f misses\n",
			m.Requests, m.RateLimited["tollgate"], m.RateLimited["upstream"], m.Retries, m.Fallbacks, 100*m.FallbackShare,
			m.Cache["hit"], m.Cache["stale"], m.Cache["miss"])
	}
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "tenant\tspent today\trequests\tbudgets")
	for _, t := range ov.Tenants {
		var budgets []string
		for _, q := range t.Quotas {
			if q.Window == "rate" || q.Window == "lease" {
				continue
			}
			u, _ := quota.ParseUnit(q.Unit)
			b := fmt.Sprintf("%s %s+%s of %s (%.0f%%)", q.Rule, u.Format(q.Spent), u.Format(q.Held), u.Format(q.Limit), 100*q.Fraction)
			if q.ResetsAt != nil {
				b += " until " + q.ResetsAt.Format(time.RFC3339)
			}
			budgets = append(budgets, b)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\n", t.Tenant, usd(t.Today.MicroUSD), t.Today.Requests, strings.Join(budgets, "; "))
	}
	tw.Flush()
	if len(ov.TopSessions) > 0 {
		tw = tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
		fmt.Fprintln(tw, "session\tspent today\trequests")
		for _, s := range ov.TopSessions {
			fmt.Fprintf(tw, "%s\t%s\t%d\n", s.Session, usd(s.Spend.MicroUSD), s.Spend.Requests)
		}
		tw.Flush()
	}
	var levels []string
	for _, l := range ov.Queue.Levels {
		levels = append(levels, fmt.Sprintf("%s %d", l.Level, l.Waiting))
	}
	fmt.Fprintf(w, "queue: %d waiting (%s)\n", ov.Queue.Queued, strings.Join(levels, ", "))
	var breakers []string
	for _, b := range ov.Breakers {
		s := b.Deployment + " " + b.State
		if b.OpenUntil != nil {
			s += " until " + b.OpenUntil.Format(time.RFC3339)
		}
		breakers = append(breakers, fmt.Sprintf("%s (%d failures, %d trips)", s, b.Failures, b.Trips))
	}
	fmt.Fprintf(w, "breakers: %s\n", listOr(breakers, "none with state"))
	var learned []string
	for _, l := range ov.Learned {
		s := fmt.Sprintf("%s %s %.0f/min", l.Deployment, l.Unit, l.PerMinute)
		if l.Source != "" {
			s += " from " + l.Source
		}
		if l.Configured > 0 {
			s += fmt.Sprintf(" (configured %.0f)", l.Configured)
		}
		learned = append(learned, s)
	}
	fmt.Fprintf(w, "learned limits: %s\n", listOr(learned, "none"))
}

func listOr(items []string, none string) string {
	if len(items) == 0 {
		return none
	}
	return strings.Join(items, "; ")
}
