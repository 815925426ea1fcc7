package browsertest_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/tollgate/tollgate/internal/browsertest"
)

// page counts up in JavaScript, so that the test sees scripts run and the DOM change.
const page = `<!doctype html><title>browsertest</title><p id="n">0</p>
<script>let n = 0; setInterval(() => { document.getElementById("n").textContent = String(++n); }, 50);</script>`

// TestNew: the browser loads a page from a local server, runs its scripts, and two
// browsers of one test do not share a profile.
func TestNew(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprint(w, page)
	}))
	defer srv.Close()

	ctx := browsertest.New(t)
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL)); err != nil {
		t.Fatal(err)
	}
	title, err := chromedp.Run(ctx, chromedp.Title())
	if err != nil {
		t.Fatal(err)
	}
	if title != "browsertest" {
		t.Errorf("title = %q", title)
	}
	wait, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	counted, err := chromedp.Run(wait, chromedp.Poll[bool](`Number(document.getElementById("n").textContent) >= 3`,
		chromedp.WithPollingInterval(10*time.Millisecond)))
	if err != nil || !counted {
		t.Errorf("the page's script did not run: %v", err)
	}

	other := browsertest.New(t)
	var profiles [2]string
	for i, c := range []context.Context{ctx, other} {
		if err := chromedp.Do(c, chromedp.Navigate("chrome://version")); err != nil {
			t.Fatal(err)
		}
		if profiles[i], err = chromedp.Run(c, chromedp.Text(chromedp.ID("profile_path"))); err != nil {
			t.Fatal(err)
		}
	}
	if profiles[0] == "" || profiles[0] == profiles[1] {
		t.Errorf("profiles %q and %q: want two fresh ones", profiles[0], profiles[1])
	}
}
