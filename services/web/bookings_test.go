package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/staybook/staybook/shared/contracts"
	"github.com/staybook/staybook/shared/messaging"
	"github.com/staybook/staybook/shared/testkit"

	"github.com/staybook/staybook/services/web/internal/app"
	"github.com/staybook/staybook/services/web/internal/domain"
)

// day is a date days from today (UTC), as the API takes it.
func day(days int) string { return time.Now().UTC().AddDate(0, 0, days).Format(time.DateOnly) }

func bookingFields() map[string]any {
	return map[string]any{
		"hotel_id": "lisbon-alfama-house", "room_type": "double",
		"check_in": day(10), "check_out": day(13), "guests": 2,
		"guest_name": "Ana Silva", "guest_email": "ana@example.com",
	}
}

// bookingBody is a valid booking request with the given fields changed (nil removes one).
func bookingBody(t *testing.T, changes map[string]any) string {
	t.Helper()
	f := bookingFields()
	for k, v := range changes {
		if v == nil {
			delete(f, k)
		} else {
			f[k] = v
		}
	}
	b, err := json.Marshal(f)
	testkit.Must(t, err)
	return string(b)
}

func TestCreateBooking_BadInputIsA4xxNamingTheProblemAndPublishesNothing(t *testing.T) {
	t.Parallel()
	amqpURL := testkit.Vhost(t)
	fb := newFakeBooking(t)
	w := startWeb(t, testConfig(amqpURL, fb.URL(), "http://127.0.0.1:1"))

	cases := []struct {
		name   string
		body   string
		header map[string]string
		status int
		code   string
		field  string
	}{
		{"malformed JSON", `{"hotel_id": "lisbon-alfama-house",`, nil, 400, "malformed_json", ""},
		{"not an object", `[1,2]`, nil, 400, "malformed_json", ""},
		{"wrong type", bookingBody(t, map[string]any{"guests": "two"}), nil, 400, "malformed_json", "guests"},
		{"empty object", `{}`, nil, 422, "invalid_field", "hotel_id"},
		{"missing room type", bookingBody(t, map[string]any{"room_type": nil}), nil, 422, "invalid_field", "room_type"},
		{"missing check-in", bookingBody(t, map[string]any{"check_in": nil}), nil, 422, "invalid_field", "check_in"},
		{"missing guest name", bookingBody(t, map[string]any{"guest_name": nil}), nil, 422, "invalid_field", "guest_name"},
		{"missing guest email", bookingBody(t, map[string]any{"guest_email": nil}), nil, 422, "invalid_field", "guest_email"},
		{"date not YYYY-MM-DD", bookingBody(t, map[string]any{"check_in": "10/05/2030"}), nil, 422, "invalid_field", "check_in"},
		{"check-in in the past", bookingBody(t, map[string]any{"check_in": day(-1)}), nil, 422, "invalid_field", "check_in"},
		{"check-in over 2 years ahead", bookingBody(t, map[string]any{"check_in": day(800), "check_out": day(801)}), nil, 422, "invalid_field", "check_in"},
		{"check-out before check-in", bookingBody(t, map[string]any{"check_in": day(10), "check_out": day(9)}), nil, 422, "invalid_field", "check_out"},
		{"check-out on check-in", bookingBody(t, map[string]any{"check_in": day(10), "check_out": day(10)}), nil, 422, "invalid_field", "check_out"},
		{"31 nights", bookingBody(t, map[string]any{"check_in": day(10), "check_out": day(41)}), nil, 422, "invalid_field", "check_out"},
		{"0 guests", bookingBody(t, map[string]any{"guests": 0}), nil, 422, "invalid_field", "guests"},
		{"100 guests", bookingBody(t, map[string]any{"guests": 100}), nil, 422, "invalid_field", "guests"},
		{"more guests than the room sleeps", bookingBody(t, map[string]any{"guests": 3}), nil, 422, "invalid_field", "guests"},
		{"invalid email", bookingBody(t, map[string]any{"guest_email": "ana-at-example.com"}), nil, 422, "invalid_field", "guest_email"},
		{"email with display name", bookingBody(t, map[string]any{"guest_email": "Ana <ana@example.com>"}), nil, 422, "invalid_field", "guest_email"},
		{"email too long", bookingBody(t, map[string]any{"guest_email": strings.Repeat("a", 250) + "@example.com"}), nil, 422, "invalid_field", "guest_email"},
		{"control character in the name", bookingBody(t, map[string]any{"guest_name": "Ana\u0007 Silva"}), nil, 422, "invalid_field", "guest_name"},
		{"newline in the name", bookingBody(t, map[string]any{"guest_name": "Ana\nSilva"}), nil, 422, "invalid_field", "guest_name"},
		{"invalid UTF-8 in the name", `{"hotel_id":"lisbon-alfama-house","room_type":"double","check_in":"` + day(10) + `","check_out":"` + day(12) +
			`","guests":1,"guest_name":"Ana ` + "\xff\xfe" + `","guest_email":"ana@example.com"}`, nil, 422, "invalid_field", "guest_name"},
		{"name of 101 characters", bookingBody(t, map[string]any{"guest_name": strings.Repeat("é", 101)}), nil, 422, "invalid_field", "guest_name"},
		{"blank name", bookingBody(t, map[string]any{"guest_name": "   "}), nil, 422, "invalid_field", "guest_name"},
		{"oversized body", bookingBody(t, map[string]any{"guest_name": strings.Repeat("x", 20000)}), nil, 413, "body_too_large", ""},
		{"unknown hotel", bookingBody(t, map[string]any{"hotel_id": "atlantis-palace"}), nil, 422, app.CodeUnknownHotel, "hotel_id"},
		{"unknown room type", bookingBody(t, map[string]any{"room_type": "penthouse"}), nil, 422, app.CodeUnknownRoomType, "room_type"},
		{"room type of another hotel", bookingBody(t, map[string]any{"hotel_id": "berlin-spree-loft", "room_type": "suite"}), nil, 422, app.CodeUnknownRoomType, "room_type"},
		{"Idempotency-Key not ASCII", bookingBody(t, nil), map[string]string{"Idempotency-Key": "clé"}, 400, app.CodeInvalidIdempotencyKey, "Idempotency-Key"},
		{"Idempotency-Key too long", bookingBody(t, nil), map[string]string{"Idempotency-Key": strings.Repeat("k", 256)}, 400, app.CodeInvalidIdempotencyKey, "Idempotency-Key"},
		{"Idempotency-Key empty", bookingBody(t, nil), map[string]string{"Idempotency-Key": ""}, 400, app.CodeInvalidIdempotencyKey, "Idempotency-Key"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp := w.post(t, tc.body, tc.header)
			if resp.status != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.status, tc.status, resp.body)
			}
			e := resp.errorDetail(t)
			if e.Code != tc.code || e.Field != tc.field || e.Message == "" {
				t.Fatalf("error %+v, want code %q field %q and a message", e, tc.code, tc.field)
			}
			if got := testkit.QueueDepth(t, amqpURL, messaging.BookRoomQueue); got != 0 {
				t.Fatalf("commands.BookRoom holds %d messages after bad input", got)
			}
		})
	}

	t.Run("wrong content type", func(t *testing.T) {
		resp := do(t, http.MethodPost, w.base+"/api/bookings", bookingBody(t, nil), map[string]string{"Content-Type": "text/plain"})
		if resp.status != http.StatusUnsupportedMediaType {
			t.Fatalf("status %d", resp.status)
		}
	})

	// The same service does publish a valid request: the checks above could fail.
	if resp := w.post(t, bookingBody(t, nil), nil); resp.status != http.StatusAccepted {
		t.Fatalf("valid booking: %d %s", resp.status, resp.body)
	}
	if got := testkit.QueueDepth(t, amqpURL, messaging.BookRoomQueue); got != 1 {
		t.Fatalf("commands.BookRoom holds %d messages, want 1", got)
	}
}

func TestCreateBooking_AnswersAcceptedOnceTheCommandIsInTheQueue(t *testing.T) {
	t.Parallel()
	amqpURL := testkit.Vhost(t)
	fb := newFakeBooking(t)
	w := startWeb(t, testConfig(amqpURL, fb.URL(), "http://127.0.0.1:1"))

	// Whitespace around the name and email is not part of them.
	resp := w.post(t, bookingBody(t, map[string]any{"guest_name": "  Ana Silva ", "guest_email": " ana@example.com"}), nil)
	if resp.status != http.StatusAccepted {
		t.Fatalf("status %d: %s", resp.status, resp.body)
	}
	// Checked at once, not eventually: the broker confirmed before the 202.
	if got := testkit.QueueDepth(t, amqpURL, messaging.BookRoomQueue); got != 1 {
		t.Fatalf("commands.BookRoom holds %d messages at the 202, want 1", got)
	}
	var accepted app.Accepted
	resp.json(t, &accepted)
	if accepted.Status != "pending" || accepted.StatusURL != "/api/bookings/"+accepted.ID {
		t.Fatalf("answer %+v", accepted)
	}
	if loc := resp.header.Get("Location"); loc != accepted.StatusURL {
		t.Fatalf("Location %q", loc)
	}
	if ra := resp.header.Get("Retry-After"); ra != "1" {
		t.Fatalf("Retry-After %q", ra)
	}
	if u := uuid.MustParse(accepted.ID); u.Version() != 4 {
		t.Fatalf("ID %s without a key is version %d, want 4", accepted.ID, u.Version())
	}

	cmd := takeBookRoom(t, amqpURL)
	want := contracts.BookRoom{
		BookingID: accepted.ID, HotelID: "lisbon-alfama-house", RoomType: "double", CheckIn: day(10), CheckOut: day(13),
		Guests: 2, GuestName: "Ana Silva", GuestEmail: "ana@example.com", RequestedAt: cmd.RequestedAt,
	}
	if cmd != want {
		t.Fatalf("command %+v\nwant    %+v", cmd, want)
	}
	if time.Since(cmd.RequestedAt) > time.Minute || cmd.RequestedAt.Location() != time.UTC {
		t.Fatalf("requested_at %s", cmd.RequestedAt)
	}
}

func TestCreateBooking_EveryAnswerCarriesTheBookingsTraceID(t *testing.T) {
	t.Parallel()
	amqpURL := testkit.Vhost(t)
	fb := newFakeBooking(t)
	queued := startWeb(t, testConfig(amqpURL, fb.URL(), "http://127.0.0.1:1"))
	cfg := testConfig(amqpURL, fb.URL(), "http://127.0.0.1:1")
	cfg.BookingTransport = app.TransportDirect
	direct := startWeb(t, cfg)

	const callerTrace = "4bf92f3577b34da6a3ce929d0e0e4736"
	for name, w := range map[string]*web{"queue": queued, "direct": direct} {
		// A client that starts the trace itself (the load test does).
		resp := w.post(t, bookingBody(t, nil), map[string]string{"traceparent": "00-" + callerTrace + "-00f067aa0ba902b7-01"})
		var v struct {
			TraceID string `json:"trace_id"`
		}
		resp.json(t, &v)
		if v.TraceID != callerTrace || !strings.HasPrefix(resp.header.Get("traceparent"), "00-"+callerTrace+"-") {
			t.Errorf("%s: %d trace_id %q, traceparent %q: want the caller's trace", name, resp.status, v.TraceID, resp.header.Get("traceparent"))
		}
		// A client that does not: a trace of its own, named in both places.
		resp = w.post(t, bookingBody(t, nil), nil)
		resp.json(t, &v)
		if len(v.TraceID) != 32 || v.TraceID == callerTrace || !strings.HasPrefix(resp.header.Get("traceparent"), "00-"+v.TraceID+"-") {
			t.Errorf("%s: %d trace_id %q, traceparent %q: want one new trace in both", name, resp.status, v.TraceID, resp.header.Get("traceparent"))
		}
		// A refused request has no booking, but its traceparent still
		// finds the request in Jaeger.
		resp = w.post(t, bookingBody(t, map[string]any{"guests": 0}), nil)
		if resp.status != http.StatusUnprocessableEntity || len(resp.header.Get("traceparent")) != 55 {
			t.Errorf("%s: refused request: %d, traceparent %q", name, resp.status, resp.header.Get("traceparent"))
		}
	}
}

func TestCreateBooking_SameIdempotencyKeyAndBodyGiveTheSameIDOnEveryReplica(t *testing.T) {
	t.Parallel()
	amqpURL := testkit.Vhost(t)
	fb := newFakeBooking(t)
	cfg := testConfig(amqpURL, fb.URL(), "http://127.0.0.1:1")
	a, b := startWeb(t, cfg), startWeb(t, cfg)
	key := map[string]string{"Idempotency-Key": "order-4711"}

	first := a.post(t, bookingBody(t, nil), key)
	// The same request written differently: other field order, whitespace, an unknown field.
	f := bookingFields()
	again := fmt.Sprintf(`  { "guest_email" : " %s ", "guests": %d, "check_out": %q, "check_in": %q,
		"room_type": %q, "hotel_id": %q, "guest_name": "%s  ", "coupon": "x" }`,
		f["guest_email"], f["guests"], f["check_out"], f["check_in"], f["room_type"], f["hotel_id"], f["guest_name"])
	second := b.post(t, again, key)
	for _, r := range []response{first, second} {
		if r.status != http.StatusAccepted {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
	}
	var one, two app.Accepted
	first.json(t, &one)
	second.json(t, &two)
	if one.ID != two.ID {
		t.Fatalf("replicas gave %s and %s for the same key and body", one.ID, two.ID)
	}
	if u := uuid.MustParse(one.ID); u.Version() != 5 {
		t.Fatalf("ID with a key is version %d, want 5", u.Version())
	}
	// Both were published (the booking service ignores the duplicate).
	if got := testkit.QueueDepth(t, amqpURL, messaging.BookRoomQueue); got != 2 {
		t.Fatalf("commands.BookRoom holds %d, want 2", got)
	}
	for range 2 {
		cmd := takeBookRoom(t, amqpURL)
		if cmd.BookingID != one.ID || cmd.IdempotencyKeyHash != domain.KeyHash("order-4711") {
			t.Fatalf("command %+v", cmd)
		}
	}

	// Another key for the same body is another booking.
	other := a.post(t, bookingBody(t, nil), map[string]string{"Idempotency-Key": "order-4712"})
	var three app.Accepted
	other.json(t, &three)
	if three.ID == one.ID {
		t.Fatal("another key gave the same ID")
	}
}

func TestCreateBooking_SameKeyWithAnotherBodyIs422WithoutAskingTheBookingService(t *testing.T) {
	t.Parallel()
	amqpURL := testkit.Vhost(t)
	fb := newFakeBooking(t)
	w := startWeb(t, testConfig(amqpURL, fb.URL(), "http://127.0.0.1:1"))
	key := map[string]string{"Idempotency-Key": "order-9"}

	resp := w.post(t, bookingBody(t, nil), key)
	if resp.status != http.StatusAccepted {
		t.Fatalf("status %d: %s", resp.status, resp.body)
	}
	var accepted app.Accepted
	resp.json(t, &accepted)

	// This replica accepted the key: another body is refused at once.
	resp = w.post(t, bookingBody(t, map[string]any{"guests": 1}), key)
	if resp.status != http.StatusUnprocessableEntity {
		t.Fatalf("status %d: %s", resp.status, resp.body)
	}
	if e := resp.errorDetail(t); e.Code != app.CodeIdempotencyKeyReused || e.Field != "Idempotency-Key" {
		t.Fatalf("error %+v", e)
	}
	if got := testkit.QueueDepth(t, amqpURL, messaging.BookRoomQueue); got != 1 {
		t.Fatalf("commands.BookRoom holds %d, want 1 (nothing published for the reused key)", got)
	}

	// The same body again is still the same booking.
	resp = w.post(t, bookingBody(t, nil), key)
	var again app.Accepted
	resp.json(t, &again)
	if resp.status != http.StatusAccepted || again.ID != accepted.ID {
		t.Fatalf("repeat: %d %+v, want 202 with %s", resp.status, again, accepted.ID)
	}
	if n := fb.otherCalls.Load(); n != 0 {
		t.Errorf("the booking service got %d requests besides the catalogue; a key is checked without it", n)
	}
}

// A key another replica accepted is learned from the booking's status
// change on the notifications fanout, as the booking service announces it.
func TestCreateBooking_AKeyTakenThroughAnotherReplicaIsLearnedFromTheStatusFanout(t *testing.T) {
	t.Parallel()
	amqpURL := testkit.Vhost(t)
	fb := newFakeBooking(t)
	cfg := testConfig(amqpURL, fb.URL(), "http://127.0.0.1:1")
	w := startWeb(t, cfg)
	pub := newTestPublisher(t, amqpURL, cfg)
	stored := statusChange("1f0c3c52-0000-5000-8000-000000000001", 1, contracts.Tasks{})
	stored.IdempotencyKeyHash = domain.KeyHash("order-77")
	publishStatus(t, pub, stored)

	testkit.Eventually(t, 20*time.Second, "the key learned from the fanout", func() bool {
		resp := w.post(t, bookingBody(t, nil), map[string]string{"Idempotency-Key": "order-77"})
		return resp.status == http.StatusUnprocessableEntity
	})
}

func TestGetBooking_IssuedButNotStoredIsPendingAndNeverIssuedIs404(t *testing.T) {
	t.Parallel()
	amqpURL := testkit.Vhost(t)
	fb := newFakeBooking(t)
	w := startWeb(t, testConfig(amqpURL, fb.URL(), "http://127.0.0.1:1"))

	resp := w.post(t, bookingBody(t, nil), nil)
	var accepted app.Accepted
	resp.json(t, &accepted)

	resp = w.get(t, accepted.StatusURL)
	if resp.status != http.StatusOK {
		t.Fatalf("status %d: %s", resp.status, resp.body)
	}
	want := fmt.Sprintf(`{"id":%q,"version":0,"status":"pending","reason":"",`+
		`"tasks":{"voucher":"pending","email":"pending","notification":"pending"},"voucher_url":""}`, accepted.ID)
	if got := strings.TrimSpace(string(resp.body)); got != want {
		t.Fatalf("pending booking:\n got %s\nwant %s", got, want)
	}

	for _, id := range []string{uuid.NewString(), "not-a-uuid", strings.ToUpper(accepted.ID)} {
		if resp := w.get(t, "/api/bookings/"+id); resp.status != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", id, resp.status)
		} else if e := resp.errorDetail(t); e.Code != app.CodeNotFound {
			t.Errorf("GET %s: error %+v", id, e)
		}
	}

	// Once stored, its state, with the voucher link once the voucher exists.
	fb.put(domain.Booking{ID: accepted.ID, Version: 3, Status: contracts.StatusConfirmed,
		Tasks: contracts.Tasks{Voucher: contracts.TaskDone, Email: contracts.TaskPending, Notification: contracts.TaskFailedState}})
	var v app.BookingView
	w.get(t, accepted.StatusURL).json(t, &v)
	wantView := app.BookingView{ID: accepted.ID, Version: 3, Status: "confirmed",
		Tasks:      contracts.Tasks{Voucher: "done", Email: "pending", Notification: "failed"},
		VoucherURL: "/api/bookings/" + accepted.ID + "/voucher.pdf"}
	if v != wantView {
		t.Fatalf("got %+v\nwant %+v", v, wantView)
	}

	fb.put(domain.Booking{ID: accepted.ID, Version: 2, Status: contracts.StatusRejected, Reason: contracts.ReasonSoldOut,
		Tasks: contracts.Tasks{Voucher: contracts.TaskSkipped, Email: contracts.TaskSkipped, Notification: contracts.TaskPending}})
	w.get(t, accepted.StatusURL).json(t, &v)
	if v.Status != "rejected" || v.Reason != "sold_out" || v.VoucherURL != "" {
		t.Fatalf("rejected booking %+v", v)
	}

	// The booking service down: the status is not known, which is not "pending".
	fb.down()
	resp = w.get(t, accepted.StatusURL)
	if resp.status != http.StatusServiceUnavailable || resp.header.Get("Retry-After") == "" {
		t.Fatalf("booking down: %d %v", resp.status, resp.header)
	}
}

func TestCreateBooking_FullQueueIs503WithRetryAfter(t *testing.T) {
	t.Parallel()
	amqpURL := testkit.Vhost(t)
	fb := newFakeBooking(t)
	cfg := testConfig(amqpURL, fb.URL(), "http://127.0.0.1:1")
	cfg.BookingQueueMax = 2
	w := startWeb(t, cfg)

	for i := range 2 {
		if resp := w.post(t, bookingBody(t, nil), nil); resp.status != http.StatusAccepted {
			t.Fatalf("booking %d: %d %s", i, resp.status, resp.body)
		}
	}
	resp := w.post(t, bookingBody(t, nil), nil)
	if resp.status != http.StatusServiceUnavailable {
		t.Fatalf("third booking: %d %s, want 503", resp.status, resp.body)
	}
	if resp.header.Get("Retry-After") != "1" {
		t.Fatalf("Retry-After %q", resp.header.Get("Retry-After"))
	}
	if e := resp.errorDetail(t); e.Code != app.CodeUnavailable {
		t.Fatalf("error %+v", e)
	}
	if got := testkit.QueueDepth(t, amqpURL, messaging.BookRoomQueue); got != 2 {
		t.Fatalf("commands.BookRoom holds %d, want 2", got)
	}
}

// commands.BookRoom deleted while the web tier runs (an operator changing
// its bound or type): the broker confirms a command no queue received, and
// returns it. The customer gets 503, not a 202 for a booking that vanished,
// and the same request succeeds once the queue is back.
func TestCreateBooking_CommandQueueDeletedIs503AndLosesNothing(t *testing.T) {
	t.Parallel()
	amqpURL := testkit.Vhost(t)
	fb := newFakeBooking(t)
	w := startWeb(t, testConfig(amqpURL, fb.URL(), "http://127.0.0.1:1"))
	ch := testkit.Channel(t, amqpURL)
	_, err := ch.QueueDelete(messaging.BookRoomQueue, false, false, false)
	testkit.Must(t, err)

	key := map[string]string{"Idempotency-Key": "while-the-queue-is-gone"}
	resp := w.post(t, bookingBody(t, nil), key)
	if resp.status != http.StatusServiceUnavailable || resp.header.Get("Retry-After") == "" {
		t.Fatalf("command queue deleted: %d %s %v, want 503 with Retry-After", resp.status, resp.body, resp.header)
	}
	if e := resp.errorDetail(t); e.Code != app.CodeUnavailable {
		t.Fatalf("error %+v", e)
	}

	cfg := testConfig(amqpURL, "", "")
	topology := messaging.Topology{QueueType: cfg.AMQPQueueType, BookingQueueMax: cfg.BookingQueueMax, DeliveryLimit: cfg.QuorumDeliveryMax}
	testkit.Must(t, topology.Declare(ch))
	if resp := w.post(t, bookingBody(t, nil), key); resp.status != http.StatusAccepted {
		t.Fatalf("retry once the queue is back: %d %s", resp.status, resp.body)
	}
	if got := testkit.QueueDepth(t, amqpURL, messaging.BookRoomQueue); got != 1 {
		t.Fatalf("commands.BookRoom holds %d, want 1", got)
	}
}

func TestCreateBooking_BrokerConnectionLost_Is503AndNotReady(t *testing.T) {
	testkit.SkipIfConnectionLossUnderRace(t)
	t.Parallel()
	amqpURL := testkit.Vhost(t)
	proxied, proxy := testkit.ProxyURL(t, amqpURL)
	fb := newFakeBooking(t)
	w := startWeb(t, testConfig(proxied, fb.URL(), "http://127.0.0.1:1"))

	if resp := w.get(t, "/readyz"); resp.status != http.StatusOK {
		t.Fatalf("readyz %d: %s", resp.status, resp.body)
	}
	if resp := w.post(t, bookingBody(t, nil), nil); resp.status != http.StatusAccepted {
		t.Fatalf("before the cut: %d %s", resp.status, resp.body)
	}
	proxy.Cut()
	testkit.Eventually(t, 10*time.Second, "readyz reports the broker down", func() bool {
		return w.get(t, "/readyz").status == http.StatusServiceUnavailable
	})
	resp := w.post(t, bookingBody(t, nil), map[string]string{"Idempotency-Key": "after-cut"})
	if resp.status != http.StatusServiceUnavailable || resp.header.Get("Retry-After") == "" {
		t.Fatalf("broker down: %d %s %v", resp.status, resp.body, resp.header)
	}
	if got := testkit.QueueDepth(t, amqpURL, messaging.BookRoomQueue); got != 1 {
		t.Fatalf("commands.BookRoom holds %d, want 1", got)
	}
	// The web tier stays alive.
	if resp := w.get(t, "/healthz"); resp.status != http.StatusOK {
		t.Fatalf("healthz %d", resp.status)
	}
}

func TestCreateBooking_BookingServiceDownStillAcceptsFromTheCachedCatalogue(t *testing.T) {
	t.Parallel()
	amqpURL := testkit.Vhost(t)
	fb := newFakeBooking(t)
	cfg := testConfig(amqpURL, fb.URL(), "http://127.0.0.1:1")
	cfg.CatalogueTTL = time.Nanosecond // every request refreshes: the stale path is taken at once
	w := startWeb(t, cfg)

	var fetched int32
	for i := range 2 {
		if resp := w.post(t, bookingBody(t, nil), nil); resp.status != http.StatusAccepted {
			t.Fatalf("status %d: %s", resp.status, resp.body)
		}
		n := fb.catalogueCalls.Load()
		if i > 0 && n <= fetched {
			t.Fatalf("catalogue not fetched again after its TTL (%d fetches)", n)
		}
		fetched = n
	}
	fb.down()

	resp := w.post(t, bookingBody(t, nil), map[string]string{"Idempotency-Key": "while-booking-is-down"})
	if resp.status != http.StatusAccepted {
		t.Fatalf("booking service down: %d %s", resp.status, resp.body)
	}
	if resp := w.post(t, bookingBody(t, map[string]any{"room_type": "penthouse"}), nil); resp.status != http.StatusUnprocessableEntity {
		t.Fatalf("unknown room type with a stale catalogue: %d", resp.status)
	}
	if got := testkit.QueueDepth(t, amqpURL, messaging.BookRoomQueue); got != 3 {
		t.Fatalf("commands.BookRoom holds %d, want 3", got)
	}
	if resp := w.get(t, "/api/hotels"); resp.status != http.StatusOK {
		t.Fatalf("hotels from the stale catalogue: %d", resp.status)
	}
	if resp := w.get(t, "/readyz"); resp.status != http.StatusOK {
		t.Fatalf("readyz with booking down: %d %s", resp.status, resp.body)
	}

	// A replica that never had the catalogue cannot validate: 503, nothing queued.
	fresh := startWeb(t, cfg)
	resp = fresh.post(t, bookingBody(t, nil), nil)
	if resp.status != http.StatusServiceUnavailable || resp.header.Get("Retry-After") == "" {
		t.Fatalf("no catalogue at all: %d %s", resp.status, resp.body)
	}
	if e := resp.errorDetail(t); e.Code != app.CodeCatalogueUnavailable {
		t.Fatalf("error %+v", e)
	}
	if got := testkit.QueueDepth(t, amqpURL, messaging.BookRoomQueue); got != 3 {
		t.Fatalf("commands.BookRoom holds %d, want 3", got)
	}
}

func TestCreateBooking_DirectModeBooksOverHTTPAndPublishesNothing(t *testing.T) {
	t.Parallel()
	amqpURL := testkit.Vhost(t)
	fb := newFakeBooking(t)
	cfg := testConfig(amqpURL, fb.URL(), "http://127.0.0.1:1")
	cfg.BookingTransport = app.TransportDirect
	w := startWeb(t, cfg)

	resp := w.post(t, bookingBody(t, nil), nil)
	if resp.status != http.StatusCreated {
		t.Fatalf("status %d: %s", resp.status, resp.body)
	}
	var v app.BookingView
	resp.json(t, &v)
	if v.Status != "confirmed" || v.Version != 4 || v.VoucherURL != "/api/bookings/"+v.ID+"/voucher.pdf" {
		t.Fatalf("answer %+v", v)
	}
	if resp.header.Get("Location") != "/api/bookings/"+v.ID {
		t.Fatalf("Location %q", resp.header.Get("Location"))
	}
	if got := testkit.QueueDepth(t, amqpURL, messaging.BookRoomQueue); got != 0 {
		t.Fatalf("direct mode published %d commands", got)
	}
	// Bad input is still refused before the booking service is called.
	calls := fb.directCalls.Load()
	if resp := w.post(t, bookingBody(t, map[string]any{"guests": 0}), nil); resp.status != http.StatusUnprocessableEntity {
		t.Fatalf("bad input: %d", resp.status)
	}
	if fb.directCalls.Load() != calls {
		t.Fatal("bad input reached the booking service")
	}

	// The booking service's 4xx is passed on; its 5xx is a 503.
	fb.mu.Lock()
	fb.directStatus = http.StatusConflict
	fb.mu.Unlock()
	if resp := w.post(t, bookingBody(t, nil), nil); resp.status != http.StatusConflict || resp.errorDetail(t).Code != "refused" {
		t.Fatalf("4xx from booking: %d %s", resp.status, resp.body)
	}
	fb.mu.Lock()
	fb.directStatus = http.StatusServiceUnavailable
	fb.mu.Unlock()
	if resp := w.post(t, bookingBody(t, nil), nil); resp.status != http.StatusServiceUnavailable || resp.header.Get("Retry-After") == "" {
		t.Fatalf("5xx from booking: %d %s", resp.status, resp.body)
	}
}

func TestShutdown_FinishesABookingInFlight(t *testing.T) {
	t.Parallel()
	amqpURL := testkit.Vhost(t)
	fb := newFakeBooking(t)
	gate := make(chan struct{})
	fb.mu.Lock()
	fb.directGate = gate
	fb.mu.Unlock()
	cfg := testConfig(amqpURL, fb.URL(), "http://127.0.0.1:1")
	cfg.BookingTransport = app.TransportDirect
	w := startWeb(t, cfg)
	w.get(t, "/api/hotels") // warm the catalogue

	got := make(chan response, 1)
	go func() { got <- w.post(t, bookingBody(t, nil), nil) }()
	<-fb.directArrived // the request is in flight
	stopped := make(chan struct{})
	go func() { w.stop(); close(stopped) }()
	testkit.Eventually(t, 10*time.Second, "the server stops accepting", func() bool {
		resp, err := http.Get(w.base + "/healthz")
		if err != nil {
			return true
		}
		resp.Body.Close()
		return false
	})
	close(gate)
	if resp := <-got; resp.status != http.StatusCreated {
		t.Fatalf("in-flight booking got %d: %s", resp.status, resp.body)
	}
	<-stopped
}

func TestMetrics_CountBookingRequests(t *testing.T) {
	t.Parallel()
	amqpURL := testkit.Vhost(t)
	fb := newFakeBooking(t)
	w := startWeb(t, testConfig(amqpURL, fb.URL(), "http://127.0.0.1:1"))
	w.post(t, bookingBody(t, nil), nil)
	w.post(t, bookingBody(t, map[string]any{"guests": 0}), nil)
	body := string(w.get(t, "/metrics").body)
	for _, want := range []string{
		`staybook_web_booking_requests_total{result="accepted"} 1`,
		`staybook_web_booking_requests_total{result="invalid_field"} 1`,
		`staybook_http_requests_total{code="202",method="POST",route="POST /api/bookings"} 1`,
		`staybook_http_request_duration_seconds_count{method="POST",route="POST /api/bookings"} 2`,
		`staybook_publish_time_seconds_count`, // the publisher is measured
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// A broker that takes messages but confirms none: once every message the
// publisher may have in flight awaits its confirm (one here), further
// bookings are answered 503 with Retry-After at once, while the one in
// flight still waits for its confirm, and nothing of theirs is published.
func TestCreateBooking_BrokerNotConfirming_IsA503AtOnceBeyondTheMessagesInFlight(t *testing.T) {
	t.Parallel()
	amqpURL := testkit.Vhost(t)
	proxied, proxy := testkit.ProxyURL(t, amqpURL)
	fb := newFakeBooking(t)
	cfg := testConfig(proxied, fb.URL(), "http://127.0.0.1:1")
	cfg.PublishMaxInFlight = 1
	cfg.PublishTimeout = 30 * time.Second
	w := startWeb(t, cfg)
	if resp := w.post(t, bookingBody(t, nil), nil); resp.status != http.StatusAccepted {
		t.Fatalf("before the stall: %d %s", resp.status, resp.body)
	}

	proxy.Stall()
	answers := make(chan response, 3)
	for i := range 3 {
		go func() {
			answers <- w.post(t, bookingBody(t, nil), map[string]string{"Idempotency-Key": fmt.Sprint("stalled-", i)})
		}()
	}
	// At most one of the three holds the only room; the other two are busy.
	for range 2 {
		var resp response
		select {
		case resp = <-answers:
		case <-time.After(20 * time.Second): // PUBLISH_TIMEOUT is 30 s: the busy ones did not wait for it
			t.Fatal("no booking answered within 20 s of the stall: they wait for the broker instead of answering 503")
		}
		if resp.status != http.StatusServiceUnavailable || resp.header.Get("Retry-After") == "" {
			t.Fatalf("beyond the messages in flight: %d %s %v, want 503 with Retry-After", resp.status, resp.body, resp.header)
		}
		// It says so: unlike a publish that timed out, this one sent nothing.
		if !strings.Contains(string(resp.body), "nothing was queued") {
			t.Fatalf("beyond the messages in flight: %s, want the client told that nothing was queued", resp.body)
		}
	}
	select {
	case resp := <-answers:
		t.Fatalf("the booking in flight was answered (%d %s) before the broker confirmed it", resp.status, resp.body)
	default:
	}
	proxy.Resume()
	if resp := <-answers; resp.status != http.StatusAccepted {
		t.Fatalf("the booking in flight, once confirmed: %d %s", resp.status, resp.body)
	}
	if got := testkit.QueueDepth(t, amqpURL, messaging.BookRoomQueue); got != 2 {
		t.Fatalf("commands.BookRoom holds %d, want 2 (the busy bookings published nothing)", got)
	}
}
