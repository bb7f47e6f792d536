package main

import (
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/staybook/staybook/shared/contracts"
	"github.com/staybook/staybook/shared/messaging"
	"github.com/staybook/staybook/shared/testkit"

	"github.com/staybook/staybook/services/web/internal/domain"
)

// noRedirects is a client that shows redirects instead of following them.
var noRedirects = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// postForm sends the booking form with extra headers.
func postForm(t *testing.T, base string, form url.Values, header map[string]string) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, base+"/bookings", strings.NewReader(form.Encode()))
	testkit.Must(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := noRedirects.Do(req)
	testkit.Must(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	testkit.Must(t, err)
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

func validForm(key string) url.Values {
	return url.Values{
		"hotel_id": {"lisbon-alfama-house"}, "room_type": {"double"}, "check_in": {day(10)}, "check_out": {day(13)},
		"guests": {"2"}, "guest_name": {"Ana Silva"}, "guest_email": {"ana@example.com"}, "idempotency_key": {key},
	}
}

// browserHeaders are what a browser sends with a same-origin form post.
var browserHeaders = map[string]string{"Sec-Fetch-Site": "same-origin", "Sec-Fetch-Mode": "navigate"}

func mustContain(t *testing.T, body []byte, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(string(body), w) {
			t.Errorf("page lacks %q", w)
		}
	}
	if t.Failed() {
		t.Logf("page:\n%s", body)
	}
}

func mustNotContain(t *testing.T, body []byte, nots ...string) {
	t.Helper()
	for _, n := range nots {
		if strings.Contains(string(body), n) {
			t.Errorf("page has %q", n)
		}
	}
}

func TestPages_CarryTheSecurityHeaders(t *testing.T) {
	t.Parallel()
	fb := newFakeBooking(t)
	w := startWeb(t, testConfig(testkit.Vhost(t), fb.URL(), "http://127.0.0.1:1"))
	for _, path := range []string{"/", "/hotels/lisbon-alfama-house", "/admin/dead-letters", "/no-such-page"} {
		resp := w.get(t, path)
		want := map[string]string{
			"Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
			"X-Frame-Options":         "DENY",
			"X-Content-Type-Options":  "nosniff",
			"Referrer-Policy":         "same-origin",
			"Content-Type":            "text/html; charset=utf-8",
		}
		for k, v := range want {
			if got := resp.header.Get(k); got != v {
				t.Errorf("%s: %s is %q, want %q", path, k, got, v)
			}
		}
		// No inline script or style: the policy would block them.
		if regexp.MustCompile(`<script>|<script [^>]*>[^<]|<style|style=`).Match(resp.body) {
			t.Errorf("%s has inline script or style", path)
		}
		mustContain(t, resp.body, `<meta name="viewport" content="width=device-width, initial-scale=1">`)
	}
	if resp := w.get(t, "/no-such-page"); resp.status != http.StatusNotFound {
		t.Errorf("unknown page: %d", resp.status)
	}
	if resp := w.get(t, "/api/no-such-endpoint"); resp.status != http.StatusNotFound || !strings.Contains(resp.header.Get("Content-Type"), "json") {
		t.Errorf("unknown API path: %d %s", resp.status, resp.header.Get("Content-Type"))
	}
}

func TestHome_ListsOffersFilteredByCityAndPartySize(t *testing.T) {
	t.Parallel()
	fb := newFakeBooking(t)
	w := startWeb(t, testConfig(testkit.Vhost(t), fb.URL(), "http://127.0.0.1:1"))

	all := w.get(t, "/")
	if all.status != http.StatusOK {
		t.Fatalf("home: %d", all.status)
	}
	mustContain(t, all.body, "Alfama House", "Spree Loft", "from <strong>€66.00</strong> a night", "from <strong>€140.00</strong> a night",
		`<option value="Berlin">Berlin</option>`, `href="/hotels/lisbon-alfama-house"`)

	berlin := w.get(t, "/?city=Berlin")
	mustContain(t, berlin.body, "Spree Loft", `<option value="Berlin" selected>`)
	mustNotContain(t, berlin.body, "Alfama House")

	// Spree Loft's largest room sleeps 2, Alfama House has a suite for 4.
	four := w.get(t, "/?guests=4")
	mustContain(t, four.body, "Alfama House", "for 4 guests")
	mustNotContain(t, four.body, "Spree Loft")

	bad := w.get(t, "/?guests=many")
	mustContain(t, bad.body, `id="guests-error"`, "Guests must be a whole number", `value="many"`)
	if fb.availabilityCalls.Load() != 0 {
		t.Fatal("availability asked without dates")
	}
}

func TestHome_ShowsAvailabilityForTheDates(t *testing.T) {
	t.Parallel()
	fb := newFakeBooking(t)
	w := startWeb(t, testConfig(testkit.Vhost(t), fb.URL(), "http://127.0.0.1:1"))
	resp := w.get(t, "/?check_in="+day(10)+"&check_out="+day(12)+"&guests=2")
	// The fake has 7 doubles and no single free at Alfama House (a single
	// does not sleep 2 anyway), and answers 404 for Spree Loft.
	mustContain(t, resp.body, "7 rooms free for your dates", "Availability cannot be checked right now",
		`href="/hotels/lisbon-alfama-house?check_in=`+day(10)+`&amp;check_out=`+day(12)+`&amp;guests=2"`, "2 nights")

	past := w.get(t, "/?check_in="+day(-3)+"&check_out="+day(2))
	mustContain(t, past.body, `id="check_in-error"`, "Check-in must be today or later")
	mustNotContain(t, past.body, "free for your dates")
}

func TestHotelPage_ShowsRoomsPricesAvailabilityAndTheForm(t *testing.T) {
	t.Parallel()
	fb := newFakeBooking(t)
	w := startWeb(t, testConfig(testkit.Vhost(t), fb.URL(), "http://127.0.0.1:1"))
	resp := w.get(t, "/hotels/lisbon-alfama-house?check_in="+day(10)+"&check_out="+day(13)+"&guests=2")
	if resp.status != http.StatusOK {
		t.Fatalf("hotel page: %d", resp.status)
	}
	mustContain(t, resp.body, "Alfama House", "Rua de São Miguel 12", "Double room", "Sleeps 2",
		"<strong>€95.00</strong> a night · €285.00 for 3 nights", "7 rooms left", "Sold out for these dates",
		`<form class="booking-form" method="post" action="/bookings" novalidate>`,
		`name="hotel_id" value="lisbon-alfama-house"`, `name="check_in" type="date"`, `value="`+day(10)+`"`,
		`<label for="guest_email">`, `name="idempotency_key" value="form-`)
	// Every rendering gets its own key.
	key := regexp.MustCompile(`name="idempotency_key" value="([^"]+)"`)
	again := w.get(t, "/hotels/lisbon-alfama-house")
	if key.FindSubmatch(resp.body) == nil || string(key.FindSubmatch(resp.body)[1]) == string(key.FindSubmatch(again.body)[1]) {
		t.Fatal("two renderings of the form share an idempotency key")
	}
	if r := w.get(t, "/hotels/atlantis"); r.status != http.StatusNotFound || !strings.Contains(string(r.body), "Page not found") {
		t.Fatalf("unknown hotel: %d", r.status)
	}
}

func TestBookingForm_BadInputShowsEveryMessageNextToItsFieldAndKeepsTheInput(t *testing.T) {
	t.Parallel()
	amqpURL := testkit.Vhost(t)
	fb := newFakeBooking(t)
	w := startWeb(t, testConfig(amqpURL, fb.URL(), "http://127.0.0.1:1"))
	form := validForm("form-key-bad-input")
	form.Set("check_out", day(9)) // before check-in
	form.Set("guests", "3")       // a double sleeps 2
	form.Set("guest_name", `Ana <script>alert(1)</script>`)
	form.Set("guest_email", "ana-at-example")
	resp := postForm(t, w.base, form, browserHeaders)
	if resp.status != http.StatusUnprocessableEntity {
		t.Fatalf("bad form: %d", resp.status)
	}
	mustContain(t, resp.body,
		`<p class="error" id="check_out-error">Check-out must be after check-in</p>`,
		`<p class="error" id="guest_email-error">Email must be an email address such as guest@example.com</p>`,
		`aria-invalid="true" aria-describedby="guest_email-error"`,
		// what was typed, escaped
		`value="Ana &lt;script&gt;alert(1)&lt;/script&gt;"`, `value="ana-at-example"`, `value="`+day(9)+`"`,
		// the same key, so that the corrected form still books once
		`name="idempotency_key" value="form-key-bad-input"`,
		`<option value="double" selected>`)
	mustNotContain(t, resp.body, "<script>alert(1)</script>")

	// Capacity is checked against the catalogue once the other fields are right.
	form = validForm("form-key-bad-guests")
	form.Set("guests", "3")
	resp = postForm(t, w.base, form, browserHeaders)
	mustContain(t, resp.body, `<p class="error" id="guests-error">A double room sleeps at most 2 guests</p>`)
	form.Set("guests", "two")
	resp = postForm(t, w.base, form, browserHeaders)
	mustContain(t, resp.body, `<p class="error" id="guests-error">Guests must be a whole number</p>`, `value="two"`)

	if n := testkit.QueueDepth(t, amqpURL, messaging.BookRoomQueue); n != 0 {
		t.Fatalf("%d commands published for bad forms", n)
	}
}

func TestBookingForm_ValidPostRedirectsToTheBookingAndTheSameKeyBooksOnce(t *testing.T) {
	t.Parallel()
	amqpURL := testkit.Vhost(t)
	fb := newFakeBooking(t)
	w := startWeb(t, testConfig(amqpURL, fb.URL(), "http://127.0.0.1:1"))
	first := postForm(t, w.base, validForm("form-double-click"), browserHeaders)
	second := postForm(t, w.base, validForm("form-double-click"), browserHeaders)
	if first.status != http.StatusSeeOther || second.status != http.StatusSeeOther {
		t.Fatalf("posts: %d %d: %s", first.status, second.status, first.body)
	}
	loc := first.header.Get("Location")
	if !strings.HasPrefix(loc, "/bookings/") || second.header.Get("Location") != loc {
		t.Fatalf("locations %q and %q", loc, second.header.Get("Location"))
	}
	id := strings.TrimPrefix(loc, "/bookings/")
	// Both clicks publish the same booking ID; the booking service stores it once.
	for range 2 {
		cmd := takeBookRoom(t, amqpURL)
		if cmd.BookingID != id || cmd.GuestEmail != "ana@example.com" || cmd.Guests != 2 || cmd.IdempotencyKeyHash == "" {
			t.Fatalf("command %+v, want booking %s", cmd, id)
		}
	}
	other := postForm(t, w.base, validForm("form-another-page"), browserHeaders)
	if other.header.Get("Location") == loc {
		t.Fatal("another form (another key) gave the same booking")
	}
}

func TestBookingForm_CrossSitePostIsRefused(t *testing.T) {
	t.Parallel()
	amqpURL := testkit.Vhost(t)
	fb := newFakeBooking(t)
	w := startWeb(t, testConfig(amqpURL, fb.URL(), "http://127.0.0.1:1"))
	for _, h := range []map[string]string{
		{"Sec-Fetch-Site": "cross-site"},
		{"Sec-Fetch-Site": "same-site"},
		{"Origin": "https://evil.example"}, // an older browser: no Sec-Fetch-Site
	} {
		resp := postForm(t, w.base, validForm("form-cross-site"), h)
		if resp.status != http.StatusForbidden {
			t.Errorf("%v: %d, want 403", h, resp.status)
		}
		mustContain(t, resp.body, "Request refused")
	}
	api := do(t, http.MethodPost, w.base+"/api/bookings", bookingBody(t, nil), map[string]string{"Sec-Fetch-Site": "cross-site"})
	if api.status != http.StatusForbidden || api.errorDetail(t).Code != "cross_origin" {
		t.Errorf("cross-site API call: %d %s", api.status, api.body)
	}
	if n := testkit.QueueDepth(t, amqpURL, messaging.BookRoomQueue); n != 0 {
		t.Fatalf("%d commands published for refused requests", n)
	}
	// Clients that are not browsers say nothing, and pass.
	if resp := postForm(t, w.base, validForm("form-no-browser"), nil); resp.status != http.StatusSeeOther {
		t.Fatalf("post without browser headers: %d", resp.status)
	}
}

func TestBookingPage_PendingUntilStoredThenTheDetailsAndTasks(t *testing.T) {
	t.Parallel()
	amqpURL := testkit.Vhost(t)
	fb := newFakeBooking(t)
	w := startWeb(t, testConfig(amqpURL, fb.URL(), "http://127.0.0.1:1"))
	id := strings.TrimPrefix(postForm(t, w.base, validForm("form-page"), browserHeaders).header.Get("Location"), "/bookings/")

	pending := w.get(t, "/bookings/"+id)
	if pending.status != http.StatusOK {
		t.Fatalf("pending page: %d", pending.status)
	}
	mustContain(t, pending.body, `data-state="pending">Waiting in line</span>`, `data-events-url="/api/bookings/`+id+`/events"`,
		`<noscript><meta http-equiv="refresh" content="3"></noscript>`, `<a href="/bookings/`+id+`">Refresh</a>`,
		`data-complete="false"`, `<p class="voucher" data-field="voucher" hidden>`)

	p := contracts.TaskPending
	fb.put(domain.Booking{ID: id, Version: 1, Status: contracts.StatusConfirmed, HotelID: "lisbon-alfama-house", RoomType: "double",
		CheckIn: day(10), CheckOut: day(13), Guests: 2, GuestName: "Ana Silva", TotalPrice: contracts.Money{Amount: 28500, Currency: "EUR"},
		Tasks: contracts.Tasks{Voucher: contracts.TaskDone, Email: p, Notification: p}})
	confirmed := w.get(t, "/bookings/"+id)
	mustContain(t, confirmed.body, `data-state="confirmed">Confirmed</span>`, "Alfama House", "Double room", "(3 nights)", "€285.00",
		`href="/api/bookings/`+id+`/voucher.pdf" download>`, `data-task="voucher"`, `data-state="done">Done</span>`,
		`data-email-note="pending">Your confirmation email`, `data-complete="true"`, "<noscript>")

	fb.put(domain.Booking{ID: id, Version: 4, Status: contracts.StatusConfirmed, HotelID: "lisbon-alfama-house", RoomType: "double",
		CheckIn: day(10), CheckOut: day(13), Guests: 2, GuestName: "Ana Silva",
		Tasks: contracts.Tasks{Voucher: contracts.TaskDone, Email: contracts.TaskDone, Notification: contracts.TaskDone}})
	final := w.get(t, "/bookings/"+id)
	mustContain(t, final.body, `data-final="true"`, `data-email-note="done">`)
	mustNotContain(t, final.body, "<noscript><meta")

	if r := w.get(t, "/bookings/4c9e2a1f-0b7d-4e3a-9f1c-2d8b6a5e7c30"); r.status != http.StatusNotFound {
		t.Fatalf("forged ID: %d", r.status)
	}
	fb.down()
	down := w.get(t, "/bookings/"+id)
	if down.status != http.StatusServiceUnavailable || down.header.Get("Retry-After") == "" {
		t.Fatalf("booking service down: %d %v", down.status, down.header)
	}
	mustContain(t, down.body, "Please try again in a moment", `href="/bookings/`+id+`"`)
}

func TestPages_BrowsingSurvivesABookingServiceOutage(t *testing.T) {
	t.Parallel()
	fb := newFakeBooking(t)
	w := startWeb(t, testConfig(testkit.Vhost(t), fb.URL(), "http://127.0.0.1:1"))
	testkit.Eventually(t, 5*time.Second, "catalogue cached", func() bool { return fb.catalogueCalls.Load() > 0 })
	fb.down()
	home := w.get(t, "/?check_in="+day(10)+"&check_out="+day(12))
	if home.status != http.StatusOK {
		t.Fatalf("home with the booking service down: %d", home.status)
	}
	mustContain(t, home.body, "Alfama House", "Availability cannot be checked right now")
	hotel := w.get(t, "/hotels/lisbon-alfama-house?check_in="+day(10)+"&check_out="+day(12))
	mustContain(t, hotel.body, "Availability cannot be checked right now", "Book now")
}

func TestPages_WithoutACatalogueAnswer503(t *testing.T) {
	t.Parallel()
	fb := newFakeBooking(t)
	fb.down()
	w := startWeb(t, testConfig(testkit.Vhost(t), fb.URL(), "http://127.0.0.1:1"))
	resp := w.get(t, "/")
	if resp.status != http.StatusServiceUnavailable || resp.header.Get("Retry-After") == "" {
		t.Fatalf("home without catalogue: %d", resp.status)
	}
	mustContain(t, resp.body, "Our list of hotels is not available right now")
}

func TestStatic_AssetsAreServedAndCachedByVersion(t *testing.T) {
	t.Parallel()
	fb := newFakeBooking(t)
	w := startWeb(t, testConfig(testkit.Vhost(t), fb.URL(), "http://127.0.0.1:1"))
	home := w.get(t, "/")
	m := regexp.MustCompile(`src="(/static/app\.js\?v=[0-9a-f]+)"`).FindSubmatch(home.body)
	if m == nil {
		t.Fatalf("no script link in %s", home.body)
	}
	js := w.get(t, string(m[1]))
	if js.status != 200 || !strings.Contains(js.header.Get("Content-Type"), "javascript") ||
		!strings.Contains(js.header.Get("Cache-Control"), "immutable") || !strings.Contains(string(js.body), "EventSource") {
		t.Fatalf("script: %d %v", js.status, js.header)
	}
	if css := w.get(t, "/static/app.css"); css.status != 200 || !strings.HasPrefix(css.header.Get("Content-Type"), "text/css") ||
		strings.Contains(css.header.Get("Cache-Control"), "immutable") {
		t.Fatalf("stylesheet without version: %d %v", css.status, css.header)
	}
	if r := w.get(t, "/static/../service.go"); r.status != http.StatusNotFound {
		t.Fatalf("path outside the assets: %d", r.status)
	}
}

func TestBookingPage_LinksToTheBookingsTraceInJaegerWhenItsUIIsSet(t *testing.T) {
	t.Parallel()
	amqpURL := testkit.Vhost(t)
	fb := newFakeBooking(t)
	cfg := testConfig(amqpURL, fb.URL(), "http://127.0.0.1:1")
	cfg.JaegerUIURL = "http://jaeger.example:16686"
	w := startWeb(t, cfg)
	without := startWeb(t, testConfig(amqpURL, fb.URL(), "http://127.0.0.1:1"))
	id := strings.TrimPrefix(postForm(t, w.base, validForm("form-trace"), browserHeaders).header.Get("Location"), "/bookings/")

	made := time.Now().Add(-time.Hour).UTC()
	fb.put(domain.Booking{ID: id, Version: 1, Status: contracts.StatusConfirmed, HotelID: "lisbon-alfama-house", RoomType: "double",
		CheckIn: day(10), CheckOut: day(13), Guests: 2, GuestName: "Ana Silva", CreatedAt: made, UpdatedAt: made.Add(time.Second)})
	page := w.get(t, "/bookings/"+id)
	tags := url.QueryEscape(`{"booking.id":"` + id + `"}`)
	mustContain(t, page.body, `id="trace-link"`, `href="http://jaeger.example:16686/search?`,
		"start="+fmt.Sprint(made.Add(-10*time.Minute).UnixMicro()), "tags="+html.EscapeString(tags))
	mustNotContain(t, without.get(t, "/bookings/"+id).body, `id="trace-link"`)
}
