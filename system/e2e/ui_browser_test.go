package e2e

// Browser tests drive Debian's chromium (headless) through chromedp against
// the real binaries. Without a browser a plain `go test` skips them; in CI
// (CI set: .ci/run and make test set it) a missing browser is a failure, and
// make test checks for one before it starts. Install it with
// `apt-get install -y chromium`, or point CHROMIUM at one.

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/staybook/staybook/shared/testkit"
	"github.com/staybook/staybook/system/stack"
)

// chromiumPath finds the browser: $CHROMIUM, else chromium or chrome on PATH.
func chromiumPath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("no chromium found: CI must install it (apt-get install -y chromium) or set CHROMIUM")
	}
	t.Skip("no chromium found (apt-get install -y chromium, or set CHROMIUM): browser tests skipped")
	return ""
}

// browser is one test's headless chromium, with one tab.
type browser struct {
	t   *testing.T
	ctx context.Context // the tab; actions get their own deadline from it

	mu       sync.Mutex
	problems []string // uncaught exceptions and console or browser errors
	logs     []string
}

// newBrowser starts a fresh chromium (its own profile) for the test and
// collects what the pages report: uncaught exceptions, console messages and
// the browser's own log (Content-Security-Policy violations land there).
func newBrowser(t *testing.T) *browser {
	t.Helper()
	path := chromiumPath(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 1000),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc()
	})
	b := &browser{t: t, ctx: ctx}
	// The first action starts the browser; it must have no deadline of its
	// own, or the browser would end with it.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium %s: %v", path, err)
	}
	err := chromedp.Listen(ctx, func(ev any) {
		b.mu.Lock()
		defer b.mu.Unlock()
		switch ev := ev.(type) {
		case *runtime.EventExceptionThrown:
			msg := ev.ExceptionDetails.Text
			if ev.ExceptionDetails.Exception != nil {
				msg += " " + ev.ExceptionDetails.Exception.Description
			}
			b.problems = append(b.problems, "exception: "+msg)
		case *runtime.EventConsoleAPICalled:
			var parts []string
			for _, a := range ev.Args {
				parts = append(parts, strings.Trim(string(a.Value), `"`)+a.Description)
			}
			line := fmt.Sprintf("console.%s: %s", ev.Type, strings.Join(parts, " "))
			b.logs = append(b.logs, line)
			if ev.Type == runtime.ConsoleAPICalledTypeError {
				b.problems = append(b.problems, line)
			}
		case *cdplog.EventEntryAdded:
			line := fmt.Sprintf("browser %s %s: %s %s", ev.Entry.Level, ev.Entry.Source, ev.Entry.Text, ev.Entry.URL)
			b.logs = append(b.logs, line)
			// A 4xx or 5xx answer the test provokes is logged as a network
			// error; what counts is script errors and blocked content.
			if (ev.Entry.Level == cdplog.EntryLevelError && ev.Entry.Source != cdplog.EntrySourceNetwork) ||
				strings.Contains(ev.Entry.Text, "Content Security Policy") {
				b.problems = append(b.problems, line)
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(ctx, cdplog.Enable, cdp.Empty{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			b.mu.Lock()
			defer b.mu.Unlock()
			t.Logf("browser log:\n%s", strings.Join(b.logs, "\n"))
		}
	})
	return b
}

// do runs actions with a deadline; on failure it saves a screenshot and
// stops the test.
func (b *browser) do(timeout time.Duration, what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, timeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.screenshot("failure-" + strings.ReplaceAll(what, " ", "-"))
		b.t.Fatalf("%s: %v", what, err)
	}
}

// eval evaluates a JavaScript expression in the page.
func eval[T any](b *browser, expr string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// waitFor polls a JavaScript condition in the page until it is true; on
// timeout it saves a screenshot and stops the test. A page that is being
// replaced (after a click on a link or a form) is polled again once loaded.
func (b *browser) waitFor(timeout time.Duration, what, condition string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, timeout)
	defer cancel()
	expr := `(() => { try { return document.readyState !== "loading" && Boolean(` + condition + `); } catch (e) { return false; } })()`
	var lastErr error
	for {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](expr))
		if err == nil && ok {
			return
		}
		lastErr = err
		select {
		case <-ctx.Done():
			b.screenshot("failure-" + strings.ReplaceAll(what, " ", "-"))
			b.t.Fatalf("waiting for %s (%s): %v (last error: %v)", what, condition, ctx.Err(), lastErr)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (b *browser) text(sel string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		b.screenshot("failure-text")
		b.t.Fatalf("text of %s: %v", sel, err)
	}
	return s
}

func (b *browser) value(sel string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Value(chromedp.CSS(sel)))
	if err != nil {
		b.t.Fatalf("value of %s: %v", sel, err)
	}
	return s
}

// screenshot saves the whole page as name.png in the test's artifact
// directory (kept with go test -artifacts) and logs where.
func (b *browser) screenshot(name string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Logf("screenshot %s: %v", name, err)
		return ""
	}
	path := filepath.Join(b.t.ArtifactDir(), name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Logf("screenshot %s: %v", name, err)
		return ""
	}
	b.t.Logf("screenshot: %s", path)
	return path
}

// noProblems fails the test if a page threw, logged an error or broke the
// Content-Security-Policy.
func (b *browser) noProblems() {
	b.t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.problems) > 0 {
		b.t.Errorf("the pages reported problems:\n%s", strings.Join(b.problems, "\n"))
	}
}

// uiServices are the services a browser test runs, among those this tree has.
func uiServices(t *testing.T, want ...string) []string {
	t.Helper()
	r, err := stack.FindRoot()
	testkit.Must(t, err)
	have := stack.AvailableServices(r)
	var out []string
	for _, s := range want {
		if !slices.Contains(have, s) {
			t.Skipf("service %s is not in this tree yet", s)
		}
		out = append(out, s)
	}
	return out
}

// jsString quotes s for JavaScript.
func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
