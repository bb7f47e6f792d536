package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/staybook/staybook/shared/testkit"
)

// logged reports whether service has written a log line containing text.
func (s *system) logged(service, text string) bool {
	prefix := fmt.Sprintf("%-13s| ", service)
	for _, line := range strings.Split(s.logs.String(), "\n") {
		if strings.HasPrefix(line, prefix) && strings.Contains(line, text) {
			return true
		}
	}
	return false
}

// bookingTasks reads a booking's task states through the public API.
func bookingTasks(t *testing.T, web, id string) map[string]any {
	t.Helper()
	r := do(t, http.MethodGet, web+"/api/bookings/"+id, nil, nil)
	tasks, _ := r.Body["tasks"].(map[string]any)
	return tasks
}

// signIn opens an admin page and signs in with the harness's token.
func (b *browser) signIn(url string) {
	b.t.Helper()
	b.do(30*time.Second, "sign in",
		chromedp.Navigate(url),
		chromedp.WaitVisible(chromedp.ID("admin-token")),
		chromedp.SendKeys(chromedp.ID("admin-token"), "test-admin-token"),
		chromedp.Click(chromedp.CSS(`#token-form button[type=submit]`)),
		chromedp.WaitVisible(chromedp.ID("admin-area")),
	)
}

func TestUI_OperatorSeesAnInjectedFailureAsADeadLetterAndReplaysIt(t *testing.T) {
	t.Parallel()
	services := uiServices(t, "deadletters", "booking", "voucher", "email", "notification", "web")
	serviceEnv, faults := webInternal(t)
	s := newSystem(t, services, nil, serviceEnv)
	mail := s.startMailpit(t)
	s.start(t, services...)
	web := s.URL("web")
	b := newBrowser(t)

	// A wrong token is refused and the console stays closed.
	b.do(30*time.Second, "try a wrong token",
		chromedp.Navigate(web+"/admin/dead-letters"),
		chromedp.WaitVisible(chromedp.ID("admin-token")),
		chromedp.SendKeys(chromedp.ID("admin-token"), "not-the-token"),
		chromedp.Click(chromedp.CSS(`#token-form button[type=submit]`)),
	)
	b.waitFor(10*time.Second, "the refusal", `!document.getElementById("login-error").hidden && document.getElementById("admin-area").hidden`)
	if got := b.text("#login-error"); !strings.Contains(got, "refused") {
		t.Errorf("login error %q", got)
	}
	b.signIn(web + "/admin/dead-letters")

	// The console shows how to set a fault, but has no switch: they are on
	// the web tier's internal listener only.
	if got := b.text("#fault-example"); !strings.Contains(got, "/api/admin/faults/voucher") {
		t.Errorf("fault example %q", got)
	}
	if eval[bool](b, `document.getElementById("fault-form") !== null`) {
		t.Error("the public console has a fault switch")
	}
	// Inject, as an operator does on the internal listener: every
	// create_voucher call fails for good.
	auth := map[string]string{"Authorization": "Bearer test-admin-token"}
	fault := map[string]any{"fail_rate": 1, "mode": "permanent", "handler": "create_voucher"}
	if r := do(t, http.MethodPut, faults+"/api/admin/faults/voucher", fault, auth); r.Status != http.StatusAccepted {
		t.Fatalf("PUT fault: %d %s", r.Status, r.Raw)
	}
	testkit.Eventually(t, 10*time.Second, "the voucher service applies the fault", func() bool { return s.logged("voucher", "fault injected") })

	r := do(t, http.MethodPost, web+"/api/bookings", booking("lisbon-tagus-grand", "double", 41), nil)
	if r.Status != http.StatusAccepted {
		t.Fatalf("POST: %d %s", r.Status, r.Raw)
	}
	id := r.Body["id"].(string)
	testkit.Eventually(t, time.Minute, "the voucher task failed", func() bool { return bookingTasks(t, web, id)["voucher"] == "failed" })

	// The console lists it among the dead letters.
	b.do(10*time.Second, "list the dead letters",
		chromedp.SetValue(chromedp.ID("filter-status"), "dead"),
		chromedp.Click(chromedp.CSS(`#filter-form button[type=submit]`)),
	)
	b.waitFor(10*time.Second, "the dead letter", `[...document.querySelectorAll("#letters-body tr[data-status=dead]")].some(tr => tr.children[1].textContent === "create_voucher")`)
	letter := eval[string](b, `[...document.querySelectorAll("#letters-body tr[data-status=dead]")].find(tr => tr.children[1].textContent === "create_voucher").dataset.letterId`)
	b.do(10*time.Second, "show it", chromedp.Click(chromedp.CSS(`#letters-body tr[data-letter-id="`+letter+`"] button`)))
	b.waitFor(10*time.Second, "its details", `!document.getElementById("letter-detail").hidden && document.getElementById("detail-fields").textContent.includes(`+jsString(letter)+`)`)
	details := b.text("#detail-fields")
	for _, want := range []string{"create_voucher", "events.BookingConfirmed_voucher", id, "injected failure (permanent)"} {
		if !strings.Contains(details, want) {
			t.Errorf("details lack %q: %s", want, details)
		}
	}
	if payload := b.text("#detail-payload"); !strings.Contains(payload, `"booking_id": "`+id+`"`) {
		t.Errorf("payload %s", payload)
	}
	if history := b.text("#detail-history"); !strings.Contains(history, "injected failure") {
		t.Errorf("history %s", history)
	}
	if md := b.text("#detail-metadata"); !strings.Contains(md, "dl_handler") || !strings.Contains(md, "traceparent") {
		t.Errorf("metadata %s", md)
	}
	b.screenshot("1-dead-letter")

	// Fix the cause, then replay, confirming first.
	if r := do(t, http.MethodDelete, faults+"/api/admin/faults/voucher", nil, auth); r.Status != http.StatusAccepted {
		t.Fatalf("DELETE fault: %d %s", r.Status, r.Raw)
	}
	testkit.Eventually(t, 10*time.Second, "the voucher service clears the fault", func() bool { return s.logged("voucher", "faults cleared") })
	b.do(10*time.Second, "ask to replay", chromedp.Click(chromedp.ID("replay-button")), chromedp.WaitVisible(chromedp.ID("confirm-box")))
	if got := b.text("#confirm-text"); !strings.Contains(got, "events.BookingConfirmed_voucher") {
		t.Errorf("confirmation %q", got)
	}
	if eval[string](b, `document.getElementById("detail-state").textContent`) != "dead" {
		t.Fatal("replayed before the confirmation")
	}
	b.do(10*time.Second, "confirm", chromedp.Click(chromedp.ID("confirm-yes")))
	b.waitFor(20*time.Second, "the replay", `document.getElementById("detail-status").textContent.startsWith("Replayed to")`)
	if got := b.text("#detail-state"); got != "replayed" {
		t.Errorf("state after the replay %q", got)
	}
	testkit.Eventually(t, time.Minute, "the voucher made after the replay", func() bool {
		tasks := bookingTasks(t, web, id)
		return tasks["voucher"] == "done" && tasks["email"] == "done"
	})
	testkit.Eventually(t, 20*time.Second, "the email sent after the replay", func() bool { return len(mail.messagesTo(t, "guest41@example.com")) == 1 })

	// It has moved from the dead letters to the replayed ones.
	b.do(10*time.Second, "list the dead letters again", chromedp.Click(chromedp.CSS(`#filter-form button[type=submit]`)))
	b.waitFor(10*time.Second, "the dead list without it", `document.getElementById("letters-status").textContent !== "Loading…" &&
		document.querySelector('#letters-body tr[data-letter-id="`+letter+`"]') === null`)
	b.do(10*time.Second, "list the replayed letters",
		chromedp.SetValue(chromedp.ID("filter-status"), "replayed"),
		chromedp.Click(chromedp.CSS(`#filter-form button[type=submit]`)),
	)
	b.waitFor(10*time.Second, "it among the replayed", `document.querySelector('#letters-body tr[data-letter-id="`+letter+`"][data-status=replayed]') !== null`)
	b.screenshot("2-replayed")
	b.noProblems()
}

func TestUI_OperatorSeesABookingsSpansAsAWaterfall(t *testing.T) {
	t.Parallel()
	services := uiServices(t, "booking", "voucher", "email", "notification", "web")
	s := newSystem(t, services, nil, nil)
	tracing := s.startJaeger(t)
	s.setEnv("JAEGER_QUERY_URL", tracing.Query)
	s.setEnv("JAEGER_UI_URL", tracing.Query) // Jaeger v2 serves its UI beside the API
	s.startMailpit(t)
	s.start(t, services...)
	web := s.URL("web")

	r := do(t, http.MethodPost, web+"/api/bookings", booking("porto-ribeira-inn", "twin", 42), nil)
	if r.Status != http.StatusAccepted {
		t.Fatalf("POST: %d %s", r.Status, r.Raw)
	}
	id := r.Body["id"].(string)
	waitTasksDone(t, web, id, time.Minute)
	// Spans reach Jaeger in batches: wait until the last service's are in.
	testkit.Eventually(t, 30*time.Second, "the notification's spans in Jaeger", func() bool { return len(tracing.traces(t, "notification", id)) > 0 })

	b := newBrowser(t)
	b.signIn(web + "/admin/bookings/" + id + "/trace")
	b.waitFor(20*time.Second, "the waterfall", `document.querySelectorAll("#waterfall .span-row").length >= 10`)
	for _, svc := range []string{"web", "booking", "voucher", "email", "notification"} {
		if !eval[bool](b, `document.querySelector("#trace-legend li.svc-`+svc+`") !== null && document.querySelector("#waterfall .span-bar.svc-`+svc+`") !== null`) {
			t.Errorf("no %s in the waterfall", svc)
		}
	}
	// Bars are placed on one time line: the first starts at 0, every bar within 0..100%.
	placed := eval[bool](b, `(() => {
		const bars = [...document.querySelectorAll("#waterfall .span-bar")];
		const left = bars.map(b => parseFloat(b.style.left)), width = bars.map(b => parseFloat(b.style.width));
		return left[0] === 0 && bars.every((b, i) => left[i] >= 0 && width[i] > 0 && left[i] + width[i] <= 100.01);
	})()`)
	if !placed {
		t.Error("bars not placed on the time line")
	}
	link := eval[string](b, `document.querySelector("#trace-links a").getAttribute("href")`)
	if !strings.HasPrefix(link, tracing.Query+"/trace/") {
		t.Errorf("link to Jaeger %q", link)
	}
	if got := b.text("#trace-status"); !strings.Contains(got, "spans from") {
		t.Errorf("status %q", got)
	}
	b.screenshot("waterfall")
	b.noProblems()
}
