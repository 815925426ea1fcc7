package admin

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/google/go-cmp/cmp"

	"github.com/tollgate/tollgate/internal/browsertest"
	"github.com/tollgate/tollgate/quota"
)

var update = flag.Bool("update", false, "rewrite docs/dashboard.png from the dashboard test")

// collectJS reads the figures the dashboard shows from its DOM: the raw values it keeps
// in data attributes beside the text it draws.
const collectJS = `(() => {
  const out = {tenants: {}, tenant_text: {}, quotas: {}, sessions: [], waiting: {}, figures: {}, breakers: {}, learned: {}, learned_source: {}};
  for (const tr of document.querySelectorAll("#tenants tr[data-tenant]")) {
    const cell = tr.querySelector('[data-field="spent-today"]');
    out.tenants[tr.dataset.tenant] = Number(cell.dataset.value);
    out.tenant_text[tr.dataset.tenant] = cell.textContent;
    for (const q of tr.querySelectorAll(".quota")) {
      out.quotas[q.dataset.quota] = [Number(q.dataset.spent), Number(q.dataset.held), Number(q.dataset.limit)];
    }
  }
  for (const tr of document.querySelectorAll("#sessions tr[data-session]")) {
    out.sessions.push({session: tr.dataset.session, spent: Number(tr.querySelector('[data-field="spent"]').dataset.value)});
  }
  for (const tr of document.querySelectorAll("#queue tr[data-level]")) {
    out.waiting[tr.dataset.level] = Number(tr.querySelector('[data-field="waiting"]').dataset.value);
  }
  for (const id of ["m-429-tollgate", "m-429-upstream", "m-retries", "m-fallbacks", "m-fallback-share", "m-cache-hit", "m-cache-miss"]) {
    out.figures[id] = Number(document.getElementById(id).dataset.value);
  }
  for (const tr of document.querySelectorAll("#breakers tr[data-deployment]")) out.breakers[tr.dataset.deployment] = tr.dataset.state;
  for (const tr of document.querySelectorAll("#learned tr[data-deployment]")) {
    out.learned[tr.dataset.deployment + " " + tr.dataset.unit] = Number(tr.querySelector('[data-field="learned"]').dataset.value);
    out.learned_source[tr.dataset.deployment + " " + tr.dataset.unit] = tr.querySelector('[data-field="source"]').textContent;
  }
  out.learned_empty_shown = document.getElementById("learned-empty").checkVisibility();
  return out;
})()`

// shown is what collectJS returns, and what the API says the page should show.
type shown struct {
	Tenants          map[string]int64    `json:"tenants"`
	TenantText       map[string]string   `json:"tenant_text"`
	Quotas           map[string][3]int64 `json:"quotas"`
	Sessions         []sessionShown      `json:"sessions"`
	Waiting          map[string]int      `json:"waiting"`
	Figures          map[string]float64  `json:"figures"`
	Breakers         map[string]string   `json:"breakers"`
	Learned          map[string]float64  `json:"learned"`
	LearnedSource    map[string]string   `json:"learned_source"`
	LearnedEmptyShow bool                `json:"learned_empty_shown"`
}

type sessionShown struct {
	Session string `json:"session"`
	Spent   int64  `json:"spent"`
}

// expected is what the page must show for the overview the API gives.
func expected(t *testing.T, srv string) shown {
	t.Helper()
	req, _ := http.NewRequest("GET", srv+"/admin/v1/overview", nil)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var ov Overview
	if err := json.NewDecoder(resp.Body).Decode(&ov); err != nil {
		t.Fatal(err)
	}
	s := shown{Tenants: map[string]int64{}, TenantText: map[string]string{}, Quotas: map[string][3]int64{},
		Sessions: []sessionShown{}, Waiting: map[string]int{}, Breakers: map[string]string{}, Learned: map[string]float64{},
		LearnedSource: map[string]string{}, LearnedEmptyShow: len(ov.Learned) == 0}
	for _, ts := range ov.Tenants {
		s.Tenants[ts.Tenant] = ts.Today.MicroUSD
		s.TenantText[ts.Tenant] = quota.MicroUSD.Format(ts.Today.MicroUSD)
		for _, q := range ts.Quotas {
			s.Quotas[q.QuotaKey] = [3]int64{q.Spent, q.Held, q.Limit}
		}
	}
	for _, ss := range ov.TopSessions {
		s.Sessions = append(s.Sessions, sessionShown{ss.Session, ss.Spend.MicroUSD})
	}
	for _, l := range ov.Queue.Levels {
		s.Waiting[l.Level] = l.Waiting
	}
	m := ov.Metrics
	s.Figures = map[string]float64{"m-429-tollgate": m.RateLimited["tollgate"], "m-429-upstream": m.RateLimited["upstream"],
		"m-retries": m.Retries, "m-fallbacks": m.Fallbacks, "m-fallback-share": m.FallbackShare,
		"m-cache-hit": m.Cache["hit"], "m-cache-miss": m.Cache["miss"]}
	for _, b := range ov.Breakers {
		s.Breakers[b.Deployment] = b.State
	}
	for _, l := range ov.Learned {
		s.Learned[l.Deployment+" "+l.Unit] = l.PerMinute
		s.LearnedSource[l.Deployment+" "+l.Unit] = sourceText(l.Source)
	}
	return s
}

func collect(t *testing.T, ctx context.Context) shown {
	t.Helper()
	got, err := chromedp.Run(ctx, chromedp.Evaluate[shown](collectJS))
	if err != nil {
		t.Fatalf("reading the dashboard: %v", err)
	}
	return got
}

// waitFor polls the page until the figures it shows are want, for at most within.
func waitFor(t *testing.T, ctx context.Context, want shown, within time.Duration, what string) {
	t.Helper()
	data, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	// The page's figures, re-encoded in the same field order, equal want's encoding.
	pred := fmt.Sprintf(`JSON.stringify(%s) === JSON.stringify(%s)`, normalizeJS(collectJS), normalizeJS(string(data)))
	wctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	if _, err := chromedp.Run(wctx, chromedp.Poll[bool](pred, chromedp.WithPollingInterval(20*time.Millisecond))); err != nil {
		got := collect(t, ctx)
		t.Fatalf("%s: the dashboard did not show the API's figures within %v: %v\n(-want +shown):\n%s", what, within, err, cmp.Diff(want, got))
	}
}

// normalizeJS wraps a JavaScript object expression so that it stringifies with its keys
// sorted at every level, whatever order they were built in.
func normalizeJS(expr string) string {
	return `((o) => { const s = (v) => Array.isArray(v) ? v.map(s) : (v && typeof v === "object") ?
		Object.fromEntries(Object.keys(v).sort().map((k) => [k, s(v[k])])) : v; return s(o); })(` + expr + `)`
}

// TestDashboard loads the dashboard in a real Chromium over real parts, checks that it
// shows what the admin API says, then makes more traffic and checks that the page follows
// within 2 seconds, by polling the DOM.
func TestDashboard(t *testing.T) {
	f := newFixture(t)
	f.traffic(t)
	srv := httptest.NewServer(f.h)
	defer srv.Close()
	ctx := browsertest.New(t)

	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/admin/#token="+adminToken)); err != nil {
		t.Fatal(err)
	}
	// The first load starts a browser process and a page on a shared machine: give it
	// time. The updates below are what must take under 2 seconds.
	want := expected(t, srv.URL)
	waitFor(t, ctx, want, 15*time.Second, "first load")
	if url, err := chromedp.Run(ctx, chromedp.Evaluate[string](`location.href`)); err != nil || url != srv.URL+"/admin/" {
		t.Errorf("the address bar still holds the token: %q, %v", url, err)
	}
	got := collect(t, ctx)
	if got.TenantText["alpha"] != "$2.25" || got.Waiting["critical"] != 1 || got.Breakers["openai/gpt-4o"] != "open" ||
		got.Learned["openai/gpt-4o requests"] != 480 || got.LearnedSource["openai/gpt-4o requests"] != "headers" || got.LearnedEmptyShow {
		t.Errorf("the dashboard shows %+v", got)
	}
	if *update {
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join("..", "docs", "dashboard.png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	// More traffic: alpha spends in a new session, beta again; upstreams refuse and the
	// route falls back.
	f.spend(t, "alpha-ci", "run-9", "gpt-4o", 1_100_000)
	f.spend(t, "beta-batch", "b-1", "gpt-4o-mini", 10_000)
	f.requests.WithLabelValues("fallback").Add(2)
	f.fallbacks.WithLabelValues("smart", "overloaded").Add(2)
	f.upstream.WithLabelValues("openai", "gpt-4o").Add(3)
	after := expected(t, srv.URL)
	if after.Tenants["alpha"] != want.Tenants["alpha"]+1_100_000 || after.Sessions[1] != (sessionShown{"run-9", 1_100_000}) {
		t.Fatalf("the API after more traffic: %+v", after)
	}
	waitFor(t, ctx, after, 2*time.Second, "after more traffic")

	// The reset button closes a breaker; the page shows it at its next read.
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`tr[data-deployment="openai/gpt-4o"] button`))); err != nil {
		t.Fatal(err)
	}
	after.Breakers["openai/gpt-4o"] = "closed"
	waitFor(t, ctx, after, 2*time.Second, "after a breaker reset")
	if got := f.cd.Breakers(time.Now()); got[1].Deployment != "openai/gpt-4o" || got[1].State.String() != "closed" {
		t.Errorf("breakers after the click: %+v", got)
	}
}

// TestDashboardLogin: a tab without the token shows the form; the token typed there opens
// the board; a wrong one is refused and asked again.
func TestDashboardLogin(t *testing.T) {
	f := newFixture(t)
	srv := httptest.NewServer(f.h)
	defer srv.Close()
	ctx := browsertest.New(t)
	wctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	visible := func(id string) bool {
		v, err := chromedp.Run(wctx, chromedp.Evaluate[bool](`document.getElementById("`+id+`").checkVisibility()`))
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	if err := chromedp.Do(wctx, chromedp.Navigate(srv.URL+"/admin/"), chromedp.WaitVisible(chromedp.ID("token"))); err != nil {
		t.Fatal(err)
	}
	if visible("board") {
		t.Error("the board is shown before a token is given")
	}
	if err := chromedp.Do(wctx, chromedp.SendKeys(chromedp.ID("token"), "wrong"), chromedp.Click(chromedp.CSS(`#login button`))); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(wctx, chromedp.Poll[bool](`document.getElementById("login").checkVisibility() &&
		document.getElementById("status").textContent.includes("refused")`, chromedp.WithPollingInterval(20*time.Millisecond))); err != nil {
		t.Fatalf("a wrong token did not bring the form back: %v", err)
	}
	if err := chromedp.Do(wctx, chromedp.SendKeys(chromedp.ID("token"), adminToken), chromedp.Click(chromedp.CSS(`#login button`))); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(wctx, chromedp.Poll[bool](`document.body.dataset.updated !== undefined &&
		document.getElementById("status").dataset.state === "live"`, chromedp.WithPollingInterval(20*time.Millisecond))); err != nil {
		t.Fatalf("the right token did not open the board: %v", err)
	}
	if visible("login") || !visible("board") {
		t.Error("after the token: the form is still shown or the board is not")
	}
}

// sourceText is how the dashboard shows a learned limit's source: "—" when unknown.
func sourceText(s string) string {
	if s == "" {
		return "—"
	}
	return s
}
