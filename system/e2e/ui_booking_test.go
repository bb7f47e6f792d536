package e2e

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/staybook/staybook/shared/testkit"
)

func TestUI_CustomerBooksFromTheHomePageAndFollowsTheBookingLive(t *testing.T) {
	t.Parallel()
	services := uiServices(t, "booking", "voucher", "email", "notification", "web")
	s := newSystem(t, services, nil, nil)
	mail := s.startMailpit(t)
	s.start(t, services...)
	web := s.URL("web")
	b := newBrowser(t)
	checkIn, checkOut := stayStart.Format(time.DateOnly), stayStart.AddDate(0, 0, 2).Format(time.DateOnly)
	email := strings.ToLower(testkit.Name("ana")) + "@example.com"

	// Two double rooms of Alfama House are taken for these dates first.
	// For two guests it has 12 doubles, 4 twins and 8 suites: 22 are left.
	var taken []string
	for i := range 2 {
		r := do(t, http.MethodPost, web+"/api/bookings", booking("lisbon-alfama-house", "double", i), nil)
		if r.Status != http.StatusAccepted {
			t.Fatalf("POST: %d %s", r.Status, r.Raw)
		}
		taken = append(taken, r.Body["id"].(string))
	}
	if final := waitFinal(t, web, taken, time.Minute); final["confirmed"] != 2 {
		t.Fatalf("the two bookings made first: %v", final)
	}

	// Search from the home page: Lisbon, two nights, two guests.
	b.do(30*time.Second, "open the home page",
		chromedp.Navigate(web+"/"),
		chromedp.WaitVisible(chromedp.ID("city")),
		chromedp.SetValue(chromedp.ID("city"), "Lisbon"),
		chromedp.SetValue(chromedp.ID("check_in"), checkIn),
		chromedp.SetValue(chromedp.ID("check_out"), checkOut),
		chromedp.SendKeys(chromedp.ID("guests"), "2"),
		chromedp.Click(chromedp.CSS(`form.search button[type=submit]`)),
	)
	b.waitFor(30*time.Second, "the search results", `location.search.includes("city=Lisbon") && document.querySelector(".offer") !== null`)
	if got := b.text(".summary"); !strings.Contains(got, "in Lisbon for 2 guests, 2 nights") {
		t.Errorf("summary %q", got)
	}
	if got := b.text(`.offer:has(a[href^="/hotels/lisbon-alfama-house"]) .availability`); got != "22 rooms free for your dates" {
		t.Errorf("availability of Alfama House: %q, want 22 rooms free", got)
	}
	b.screenshot("1-search")

	// The hotel page keeps the search's dates and guests in its form.
	b.do(30*time.Second, "open the hotel",
		chromedp.Click(chromedp.CSS(`.offer a.button[href^="/hotels/lisbon-alfama-house"]`)),
		chromedp.WaitVisible(chromedp.ID("guest_name")),
	)
	if in, out, g := b.value("#check_in"), b.value("#check_out"), b.value("#guests"); in != checkIn || out != checkOut || g != "2" {
		t.Fatalf("form prefilled with %s %s %s", in, out, g)
	}
	for room, want := range map[string]string{"double": "10 rooms left", "twin": "4 rooms left", "suite": "8 rooms left", "single": "4 rooms left"} {
		if got := b.text("#room-" + room + " .availability"); got != want {
			t.Errorf("%s: %q, want %q", room, got, want)
		}
	}
	b.do(30*time.Second, "fill in the booking form",
		chromedp.SetValue(chromedp.ID("room_type"), "double"),
		chromedp.SendKeys(chromedp.ID("guest_name"), "Ana Silva"),
		chromedp.SendKeys(chromedp.ID("guest_email"), email),
	)
	b.screenshot("2-hotel")
	// The voucher service is stopped until the booking page is open, so the
	// page opens before the work is done however slow the browser is.
	if err := s.Stop("voucher", 30*time.Second); err != nil {
		t.Fatal(err)
	}
	b.do(30*time.Second, "send the booking form", chromedp.Click(chromedp.CSS(`.booking-form button[type=submit]`)))
	b.waitFor(30*time.Second, "the booking page", `location.pathname.startsWith("/bookings/") && document.getElementById("booking-live") !== null`)
	id := strings.TrimPrefix(eval[string](b, `location.pathname`), "/bookings/")

	// From here the page must change by itself: a mark set now would be
	// gone after a reload.
	if eval[string](b, `document.getElementById("booking-live").dataset.final`) != "false" {
		t.Fatal("the booking was final when its page opened: nothing to follow live")
	}
	eval[bool](b, `window.__staybookNoReload = true`)
	s.start(t, "voucher")
	b.waitFor(60*time.Second, "the booking confirmed and every task done, live", `(() => {
		const st = document.querySelector("[data-field=status]").dataset.state;
		const tasks = [...document.querySelectorAll("[data-field=task-state]")].map(e => e.dataset.state);
		return st === "confirmed" && tasks.length === 3 && tasks.every(s => s === "done") &&
			!document.querySelector("[data-field=voucher]").hidden;
	})()`)
	if !eval[bool](b, `window.__staybookNoReload === true`) {
		t.Fatal("the booking page reloaded instead of updating itself")
	}
	if got := b.text("[data-field=status]"); got != "Confirmed" {
		t.Errorf("status reads %q", got)
	}
	// The details arrive with the first stored state, without a reload either.
	b.waitFor(10*time.Second, "the booking's details", `document.getElementById("booking-details").dataset.complete === "true"`)
	if got := b.text("#booking-details"); !strings.Contains(got, "Alfama House") || !strings.Contains(got, "Ana Silva") || !strings.Contains(got, "2 nights") {
		t.Errorf("details %q", got)
	}
	if got := b.text(`[data-email-note="done"]`); !strings.Contains(got, "has been sent") {
		t.Errorf("email note %q", got)
	}
	b.screenshot("3-booking-confirmed")

	// The voucher link downloads a PDF.
	href := eval[string](b, `document.getElementById("voucher-link").getAttribute("href")`)
	if href != "/api/bookings/"+id+"/voucher.pdf" {
		t.Fatalf("voucher link %q", href)
	}
	resp, err := client.Get(web + href)
	testkit.Must(t, err)
	pdf, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/pdf" || !bytes.HasPrefix(pdf, []byte("%PDF-")) {
		t.Fatalf("voucher: %d %s %q", resp.StatusCode, resp.Header.Get("Content-Type"), pdf[:min(len(pdf), 16)])
	}

	// The confirmation email is in Mailpit, with the voucher attached.
	var got []mailpitMessage
	testkit.Eventually(t, 20*time.Second, "the confirmation email in Mailpit", func() bool {
		got = mail.messagesTo(t, email)
		return len(got) > 0
	})
	if len(got) != 1 || got[0].MessageID != id+"@staybook" || got[0].Attachments != 1 {
		t.Fatalf("mail to %s: %+v", email, got)
	}

	// Ana's double is taken too: 9 doubles and 21 rooms for two are left.
	b.do(30*time.Second, "search again",
		chromedp.Navigate(web+"/?city=Lisbon&check_in="+checkIn+"&check_out="+checkOut+"&guests=2"),
		chromedp.WaitVisible(chromedp.CSS(`.offer`)),
	)
	if got := b.text(`.offer:has(a[href^="/hotels/lisbon-alfama-house"]) .availability`); got != "21 rooms free for your dates" {
		t.Errorf("availability of Alfama House after Ana's booking: %q, want 21 rooms free", got)
	}
	b.do(30*time.Second, "open the hotel again",
		chromedp.Navigate(web+"/hotels/lisbon-alfama-house?check_in="+checkIn+"&check_out="+checkOut+"&guests=2"),
		chromedp.WaitVisible(chromedp.ID("room-double")),
	)
	if got := b.text("#room-double .availability"); got != "9 rooms left" {
		t.Errorf("doubles after Ana's booking: %q, want 9 rooms left", got)
	}
	b.noProblems()
}

func TestUI_BookingFormWithBadInputShowsMessagesNextToTheFieldsAndKeepsTheInput(t *testing.T) {
	t.Parallel()
	services := uiServices(t, "booking", "web")
	s := newSystem(t, services, nil, nil)
	s.start(t, services...)
	web := s.URL("web")
	b := newBrowser(t)
	checkIn := stayStart.Format(time.DateOnly)
	before := stayStart.AddDate(0, 0, -1).Format(time.DateOnly)

	b.do(30*time.Second, "fill in the form badly",
		chromedp.Navigate(web+"/hotels/lisbon-alfama-house"),
		chromedp.WaitVisible(chromedp.ID("guest_name")),
		chromedp.SetValue(chromedp.ID("room_type"), "single"),
		chromedp.SetValue(chromedp.ID("check_in"), checkIn),
		chromedp.SetValue(chromedp.ID("check_out"), before),
		chromedp.SetValue(chromedp.ID("guests"), "2"), // a single sleeps 1 (checked once the dates are right)
		chromedp.SendKeys(chromedp.ID("guest_name"), "Zoë <b>O'Brien</b>"),
		chromedp.SendKeys(chromedp.ID("guest_email"), "zoe-at-example"),
	)
	key := b.value(`input[name=idempotency_key]`)
	b.do(30*time.Second, "send it", chromedp.Click(chromedp.CSS(`.booking-form button[type=submit]`)))
	b.waitFor(30*time.Second, "the messages", `document.getElementById("check_out-error") !== null`)

	if got := b.text("#check_out-error"); got != "Check-out must be after check-in" {
		t.Errorf("check-out message %q", got)
	}
	if got := b.text("#guest_email-error"); !strings.Contains(got, "must be an email address") {
		t.Errorf("email message %q", got)
	}
	// Each message sits in its field's block and is tied to the input.
	for _, f := range []string{"check_out", "guest_email"} {
		ok := eval[bool](b, `(() => {
			const input = document.getElementById(`+jsString(f)+`);
			const msg = document.getElementById(`+jsString(f+"-error")+`);
			return input.getAttribute("aria-invalid") === "true" && input.getAttribute("aria-describedby") === msg.id &&
				input.closest(".field") === msg.closest(".field");
		})()`)
		if !ok {
			t.Errorf("%s: message not next to the field", f)
		}
	}
	if eval[bool](b, `document.getElementById("guest_name-error") !== null`) {
		t.Error("a message for a valid name")
	}
	// What the customer typed is kept, as typed (and not interpreted as HTML).
	for sel, want := range map[string]string{
		"#room_type": "single", "#check_in": checkIn, "#check_out": before, "#guests": "2",
		"#guest_name": "Zoë <b>O'Brien</b>", "#guest_email": "zoe-at-example", "input[name=idempotency_key]": key,
	} {
		if got := b.value(sel); got != want {
			t.Errorf("%s is %q, want %q", sel, got, want)
		}
	}
	if eval[bool](b, `document.querySelector(".booking-form b") !== null`) {
		t.Error("the name was rendered as HTML")
	}
	b.screenshot("bad-input")

	// Fixing the dates and the email leaves one problem: a single sleeps 1.
	b.do(30*time.Second, "fix the dates and the email",
		chromedp.SetValue(chromedp.ID("check_out"), stayStart.AddDate(0, 0, 2).Format(time.DateOnly)),
		chromedp.SetValue(chromedp.ID("guest_email"), "zoe@example.com"),
		chromedp.Click(chromedp.CSS(`.booking-form button[type=submit]`)),
	)
	b.waitFor(30*time.Second, "the capacity message", `document.getElementById("guests-error") !== null && document.getElementById("check_out-error") === null`)
	if got := b.text("#guests-error"); got != "A single room sleeps at most 1 guest" {
		t.Errorf("guests message %q", got)
	}

	// Every field has its label; sending the form from the keyboard works.
	if !eval[bool](b, `[...document.querySelectorAll(".booking-form input:not([type=hidden]), .booking-form select")].every(e => e.labels.length === 1)`) {
		t.Error("a field of the booking form has no label")
	}
	b.do(30*time.Second, "send it from the keyboard",
		chromedp.SetValue(chromedp.ID("room_type"), "double"),
		chromedp.Focus(chromedp.ID("guest_email")),
		chromedp.KeyEvent("\r"),
	)
	b.waitFor(30*time.Second, "the booking page", `location.pathname.startsWith("/bookings/")`)

	// On a phone, the hotel page fits the screen's width.
	b.do(30*time.Second, "open the hotel page on a phone",
		chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile, chromedp.EmulateTouch),
		chromedp.Navigate(web+"/hotels/lisbon-alfama-house?check_in="+checkIn+"&check_out="+stayStart.AddDate(0, 0, 2).Format(time.DateOnly)+"&guests=2"),
		chromedp.WaitVisible(chromedp.ID("guest_name")),
	)
	if !eval[bool](b, `document.documentElement.scrollWidth <= window.innerWidth`) {
		t.Errorf("the page is %v px wide on a %v px screen", eval[float64](b, `document.documentElement.scrollWidth`), eval[float64](b, `window.innerWidth`))
	}
	b.screenshot("phone")
	b.noProblems()
}
