// Package browsertest gives tests a real headless Chromium to drive with chromedp: the
// dashboard is tested in the browser that renders it, never in a fake DOM.
//
// It starts the machine's Chromium (Debian's package installs /usr/bin/chromium; .ci/run
// installs it), one process per test, with a fresh profile in the test's temporary
// directory, and stops it when the test ends. A test that needs it fails, never skips,
// when Chromium is not installed.
//
//	ctx := browsertest.New(t)
//	err := chromedp.Do(ctx, chromedp.Navigate(url))
//	title, err := chromedp.Run(ctx, chromedp.Title())
package browsertest

import (
	"context"
	"os"
	"os/exec"
	"testing"

	"github.com/chromedp/chromedp"
)

// EnvChromium names the environment variable that points the tests at another Chromium
// binary.
const EnvChromium = "TOLLGATE_TEST_CHROMIUM"

// Path returns the Chromium binary the tests run: $TOLLGATE_TEST_CHROMIUM, else
// /usr/bin/chromium, else chromium or chromium-browser on PATH; "" when there is none.
func Path() string {
	if p := os.Getenv(EnvChromium); p != "" {
		return p
	}
	if _, err := os.Stat("/usr/bin/chromium"); err == nil {
		return "/usr/bin/chromium"
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// Options are the flags Chromium runs with: chromedp's defaults (headless, no first run,
// no background networking, no sync...) and what a container on a closed network needs:
// no sandbox (it needs namespaces a container may not give), no GPU, no QUIC and no
// component updates (their connections are refused and retried), a profile of its own in
// dir, and a fixed window size so that screenshots are the same from run to run.
func Options(path, dir string) []chromedp.ExecAllocatorOption {
	opts := append([]chromedp.ExecAllocatorOption{}, chromedp.DefaultExecAllocatorOptions[:]...)
	return append(opts,
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(dir),
		chromedp.WindowSize(1440, 1200),
	)
}

// New starts a headless Chromium for t and returns the context of its first tab, for
// chromedp.Run and chromedp.Do. The browser is stopped, and its profile removed, when t
// ends. New fails t when there is no Chromium or it does not start. Bound the waits of a
// test with contexts derived from the one New returns, never that one itself: its end
// stops the browser.
func New(t testing.TB) context.Context {
	t.Helper()
	path := Path()
	if path == "" {
		t.Fatalf("browsertest: no Chromium: install Debian's chromium package (apt-get install chromium) or set %s", EnvChromium)
	}
	// TempDir first: its removal is then the last cleanup, after the browser has exited.
	dir := t.TempDir()
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), Options(path, dir)...)
	ctx, cancel := chromedp.NewContext(actx, chromedp.WithErrorf(t.Logf))
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	// Do with no actions starts the browser and opens the tab.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("browsertest: start %s: %v", path, err)
	}
	return ctx
}
