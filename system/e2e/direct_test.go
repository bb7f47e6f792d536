package e2e

import (
	"net/http"
	"testing"
	"time"

	"github.com/staybook/staybook/shared/messaging"
	"github.com/staybook/staybook/shared/testkit"
)

// Direct mode (BOOKING_TRANSPORT=direct) is the story's "without a queue"
// design, which make demo-async compares with the queue: web calls booking,
// which books and calls voucher, email and notification over HTTP, and the
// customer is answered when all of it is done. The same checks as the
// queue-mode pipeline test, on the real binaries.
func TestDirectMode_OneBookingRunsEveryTaskInTheRequestAndTheGuestGetsOneEmail(t *testing.T) {
	t.Parallel()
	requireServices(t, backgroundServices)
	s := newSystem(t, backgroundServices, nil, map[string]map[string]string{"web": {"BOOKING_TRANSPORT": "direct"}})
	mail := s.startMailpit(t)
	s.start(t, backgroundServices...)
	web := s.URL("web")
	// Copies of what the booking service publishes: no BookingConfirmed
	// (which would start the workers a second time), and its status
	// changes (proof that the copies work).
	confirmedCopies := probeQueue(t, s.amqpURL, messaging.EventTopic(messaging.EventBookingConfirmed))
	statusCopies := probeQueue(t, s.amqpURL, messaging.NotificationsExchange)

	body := booking("loadtest-riverside-resort", "double", 1)
	body["guest_name"] = "Zoë Łukasiewicz"
	body["guest_email"] = "zoe.direct@example.com"
	key := map[string]string{"Idempotency-Key": "direct-" + testkit.Name("key")}
	r := do(t, http.MethodPost, web+"/api/bookings", body, key)
	tasks, _ := r.Body["tasks"].(map[string]any)
	// Answered at the end: confirmed, and every task already done.
	if r.Status != http.StatusCreated || r.Body["status"] != "confirmed" || r.Body["version"] != float64(4) ||
		tasks["voucher"] != "done" || tasks["email"] != "done" || tasks["notification"] != "done" {
		t.Fatalf("POST: %d %s", r.Status, r.Raw)
	}
	id := r.Body["id"].(string)
	if r.Header.Get("Location") != "/api/bookings/"+id || r.Body["voucher_url"] != "/api/bookings/"+id+"/voucher.pdf" {
		t.Fatalf("Location %q, voucher_url %v", r.Header.Get("Location"), r.Body["voucher_url"])
	}
	got := do(t, http.MethodGet, web+"/api/bookings/"+id, nil, nil)
	if got.Status != http.StatusOK || got.Body["status"] != "confirmed" || got.Body["version"] != float64(4) {
		t.Fatalf("GET: %d %s", got.Status, got.Raw)
	}

	// The SMTP server accepted the email before the answer; Mailpit lists
	// it a moment later.
	requireOneVoucherEmail(t, mail, web, id, "zoe.direct@example.com", 10*time.Second)

	// The client retries with its key: the booking made before, nothing
	// run again.
	again := do(t, http.MethodPost, web+"/api/bookings", body, key)
	if again.Status != http.StatusOK || again.Body["id"] != id {
		t.Fatalf("retry: %d %s", again.Status, again.Raw)
	}
	if n := s.bookingCount(t, `SELECT count(*) FROM bookings`); n != 1 {
		t.Fatalf("%d bookings stored, want 1", n)
	}
	// Nothing went through the queue. The outbox forwards the booking's
	// events in the order they were written: once the fourth status change
	// (the last, written after the notification) is in its copy, any
	// BookingConfirmed (written with the first) is in its copy too.
	testkit.Eventually(t, 30*time.Second, "the 4 status changes forwarded", func() bool {
		return testkit.QueueDepth(t, s.amqpURL, statusCopies) >= 4
	})
	if n := testkit.QueueDepth(t, s.amqpURL, confirmedCopies); n != 0 {
		t.Errorf("%d BookingConfirmed events published in direct mode, want 0", n)
	}
	if n := testkit.QueueDepth(t, s.amqpURL, statusCopies); n != 4 {
		t.Errorf("%d BookingStatusChanged events, want 4 (stored, voucher, email, notification)", n)
	}
	if n := testkit.QueueDepth(t, s.amqpURL, messaging.BookRoomQueue); n != 0 {
		t.Errorf("%d BookRoom commands queued in direct mode", n)
	}
	if n := len(mail.messagesTo(t, "zoe.direct@example.com")); n != 1 {
		t.Fatalf("%d emails after the retry, want 1", n)
	}
}

// probeQueue binds a queue of the test's own to exchange, so that the test
// can count what is published there; it returns the queue's name.
func probeQueue(t *testing.T, amqpURL, exchange string) string {
	t.Helper()
	ch := testkit.Channel(t, amqpURL)
	name := testkit.Name("probe")
	_, err := ch.QueueDeclare(name, true, false, false, false, nil)
	testkit.Must(t, err)
	testkit.Must(t, ch.QueueBind(name, "", exchange, false, nil))
	return name
}
