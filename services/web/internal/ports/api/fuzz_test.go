package api

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/staybook/staybook/services/web/internal/app"
	"github.com/staybook/staybook/services/web/internal/app/apptest"
	"github.com/staybook/staybook/services/web/internal/ports/ratelimit"
)

var now = time.Date(2030, 3, 10, 23, 59, 0, 0, time.UTC)

// fuzzAPI is an API over the use cases over in-memory doubles, its clock at now.
func fuzzAPI(t testing.TB, transport string) (*API, *apptest.Commands, *apptest.BookingService) {
	t.Helper()
	bookings, commands, books := apptest.Bookings(t, transport, now)
	a, err := New(Config{Bookings: bookings, Hub: app.NewHub(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Streams: app.NewStreams(app.StreamLimits{Max: 10, MaxPerClient: 10}), ClientAddress: ratelimit.ClientAddresses{}.Of})
	if err != nil {
		t.Fatal(err)
	}
	return a, commands, books
}

// FuzzCreateBooking drives POST /api/bookings with arbitrary bodies and
// Idempotency-Keys: it must never panic or answer 5xx (the fakes are always
// up), and a refused request must neither queue nor book anything.
func FuzzCreateBooking(f *testing.F) {
	valid := `{"hotel_id":"lisbon-alfama-house","room_type":"double","check_in":"2030-03-12","check_out":"2030-03-14",` +
		`"guests":2,"guest_name":"Ana Silva","guest_email":"ana@example.com"}`
	seeds := []struct {
		body, key string
		direct    bool
	}{
		{valid, "", false},
		{valid, "key-1", false},
		{valid, "key-1", true},
		{valid, "", true},
		{"", "", false},
		{"{}", "", false},
		{"null", "", false},
		{"[]", "", false},
		{valid + valid, "", false},
		{valid + " x", "", false},
		{`{"hotel_id":1}`, "", false},
		{`{"guests":"2"}`, "", false},
		{`{"guests":1e400}`, "", false},
		{`{"guests":99999999999999999999999}`, "", false},
		{`{"guests":-9223372036854775808}`, "", false},
		{`{"guests":2.5}`, "", false},
		{strings.Replace(valid, `"guests":2`, `"guests":3`, 1), "", false},       // over capacity
		{strings.Replace(valid, `"guests":2`, `"guests":21`, 1), "", false},      // over the limit
		{strings.Replace(valid, "lisbon-alfama-house", "nowhere", 1), "", false}, // unknown hotel
		{strings.Replace(valid, `"double"`, `"penthouse"`, 1), "", false},        // unknown room type
		{strings.Replace(valid, "2030-03-12", "2030-03-09", 1), "", false},       // yesterday
		{strings.Replace(valid, "2030-03-14", "2030-04-14", 1), "", false},       // too long
		{strings.Replace(valid, "2030-03-12", "9999-12-31", 1), "", false},       // far future
		{strings.Replace(valid, "2030-03-12", "2030-02-30", 1), "", false},       // no such day
		{strings.Replace(valid, "Ana Silva", `Ana\u0000Silva`, 1), "", false},    // control character
		{strings.Replace(valid, "Ana Silva", `Ana\ud800Silva`, 1), "", false},    // lone surrogate
		{strings.Replace(valid, "Ana Silva", "Ana \xff Silva", 1), "", false},    // invalid UTF-8
		{strings.Replace(valid, "Ana Silva", "José Ñúñez 李小龍 🏨", 1), "", false},  // unicode name
		{strings.Replace(valid, "Ana Silva", strings.Repeat("é", 101), 1), "", false},
		{strings.Replace(valid, "ana@example.com", "Ana <ana@example.com>", 1), "", false},
		{strings.Replace(valid, "ana@example.com", "not-an-email", 1), "", false},
		{strings.Replace(valid, "ana@example.com", `\"a b\"@example.com`, 1), "", false},
		{strings.Replace(valid, "ana@example.com", "ana@exämple.com", 1), "", false},
		{strings.Replace(valid, "lisbon-alfama-house", strings.Repeat("h", 101), 1), "", false},
		{valid, "key\x00", false},
		{valid, "ключ", false},
		{valid, strings.Repeat("k", 256), false},
		{valid, "\xff\xfe", false},
		{`{"hotel_id":"lisbon-alfama-house"` + strings.Repeat(" ", 20<<10) + `}`, "", false}, // over MaxBodyBytes
		{strings.Repeat("[", 10000), "", false},
	}
	for _, s := range seeds {
		f.Add([]byte(s.body), s.key, s.direct)
	}
	queue, pub, _ := fuzzAPI(f, app.TransportQueue)
	direct, _, books := fuzzAPI(f, app.TransportDirect)
	muxes := map[bool]*http.ServeMux{false: http.NewServeMux(), true: http.NewServeMux()}
	queue.Register(muxes[false])
	direct.Register(muxes[true])
	// The fakes take a valid request, so the targets reach the queue and
	// the booking service, not only the validation.
	for isDirect, want := range map[bool]int{false: http.StatusAccepted, true: http.StatusCreated} {
		rec := httptest.NewRecorder()
		muxes[isDirect].ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/api/bookings", strings.NewReader(valid)))
		if rec.Code != want {
			f.Fatalf("valid request (direct %v): status %d, want %d: %s", isDirect, rec.Code, want, rec.Body)
		}
	}
	if pub.Sent() != 1 || books.Booked() != 1 {
		f.Fatalf("valid requests: %d published, %d booked; want 1 and 1", pub.Sent(), books.Booked())
	}
	f.Fuzz(func(t *testing.T, body []byte, key string, isDirect bool) {
		req := httptest.NewRequest(http.MethodPost, "/api/bookings", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if key != "" {
			// A header value with CR, LF or NUL cannot be sent; the
			// handler still must not crash on what arrives.
			req.Header.Set(app.IdempotencyKeyField, key)
		}
		published, booked := pub.Sent(), books.Booked()
		rec := httptest.NewRecorder()
		muxes[isDirect].ServeHTTP(rec, req)
		switch {
		case rec.Code >= 500:
			t.Fatalf("status %d for body %q key %q: %s", rec.Code, body, key, rec.Body)
		case rec.Code >= 400:
			if pub.Sent() != published || books.Booked() != booked {
				t.Fatalf("status %d but the booking went out (body %q key %q)", rec.Code, body, key)
			}
		case rec.Code < 200 || rec.Code > 201 && rec.Code != http.StatusAccepted && rec.Code != http.StatusOK:
			t.Fatalf("unexpected status %d: %s", rec.Code, rec.Body)
		}
	})
}
