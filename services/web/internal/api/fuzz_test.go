package api

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/staybook/staybook/shared/contracts"
	"github.com/staybook/staybook/shared/testkit"

	"github.com/staybook/staybook/services/web/internal/booking"
	"github.com/staybook/staybook/services/web/internal/bookingid"
	"github.com/staybook/staybook/services/web/internal/catalogue"
	"github.com/staybook/staybook/services/web/internal/live"
	"github.com/staybook/staybook/services/web/internal/ratelimit"
	"github.com/staybook/staybook/services/web/internal/voucher"
)

// fuzzCatalogue is what the fakes sell.
var fuzzCatalogue = &catalogue.Catalogue{Hotels: []catalogue.Hotel{
	{ID: "lisbon-alfama-house", Name: "Alfama House", City: "Lisbon", Stars: 3, RoomTypes: []catalogue.RoomType{
		{ID: "double", Name: "Double room", Capacity: 2, PricePerNight: 9500, Currency: "EUR", TotalRooms: 12},
		{ID: "single", Name: "Single room", Capacity: 1, PricePerNight: 6600, Currency: "EUR", TotalRooms: 4},
	}},
}}

type staticCatalogue struct{}

func (staticCatalogue) Get(context.Context) (*catalogue.Catalogue, error) { return fuzzCatalogue, nil }

// recordingBookings is the booking service in memory: it books whatever it
// is sent and counts direct bookings.
type recordingBookings struct {
	mu    sync.Mutex
	books int
}

func (*recordingBookings) Booking(context.Context, string) (*booking.Booking, error) {
	return nil, booking.ErrNotFound
}

func (*recordingBookings) IdempotencyKeyBooking(context.Context, string) (string, error) {
	return "", booking.ErrNotFound
}

func (*recordingBookings) Availability(context.Context, string, string, string) (*booking.Availability, error) {
	return &booking.Availability{}, nil
}

func (b *recordingBookings) Book(_ context.Context, cmd contracts.BookRoom) (*booking.Booking, bool, error) {
	b.mu.Lock()
	b.books++
	b.mu.Unlock()
	return &booking.Booking{ID: cmd.BookingID, Status: contracts.StatusConfirmed, HotelID: cmd.HotelID, RoomType: cmd.RoomType,
		CheckIn: cmd.CheckIn, CheckOut: cmd.CheckOut, Guests: cmd.Guests, GuestName: cmd.GuestName}, true, nil
}

func (b *recordingBookings) count() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.books
}

type noVouchers struct{}

func (noVouchers) Voucher(context.Context, string) (*voucher.PDF, error) {
	return nil, voucher.ErrNotFound
}

// fuzzAPI is an API over the fakes, its clock at now.
func fuzzAPI(t testing.TB, transport string) (*API, *testkit.CountingPublisher, *recordingBookings) {
	t.Helper()
	ids, err := bookingid.New(bookingid.Config{Namespace: "6ba7b811-9dad-11d1-80b4-00c04fd430c8", Secret: []byte("fuzz-secret-0123456789")})
	if err != nil {
		t.Fatal(err)
	}
	pub, books := &testkit.CountingPublisher{}, &recordingBookings{}
	cfg := Config{Transport: transport, IDs: ids, Bookings: books, Catalogue: staticCatalogue{}, Vouchers: noVouchers{},
		Hub: live.NewHub(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Now: func() time.Time { return now },
		Streams: live.NewStreams(live.StreamLimits{Max: 10, MaxPerClient: 10}), ClientAddress: ratelimit.ClientAddresses{}.Of}
	if transport == TransportQueue {
		cfg.Publisher = pub
	}
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return a, pub, books
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
	queue, pub, _ := fuzzAPI(f, TransportQueue)
	direct, _, books := fuzzAPI(f, TransportDirect)
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
	if pub.Count() != 1 || books.count() != 1 {
		f.Fatalf("valid requests: %d published, %d booked; want 1 and 1", pub.Count(), books.count())
	}
	f.Fuzz(func(t *testing.T, body []byte, key string, isDirect bool) {
		req := httptest.NewRequest(http.MethodPost, "/api/bookings", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if key != "" {
			// A header value with CR, LF or NUL cannot be sent; the
			// handler still must not crash on what arrives.
			req.Header.Set(idempotencyHeader, key)
		}
		published, booked := pub.Count(), books.count()
		rec := httptest.NewRecorder()
		muxes[isDirect].ServeHTTP(rec, req)
		switch {
		case rec.Code >= 500:
			t.Fatalf("status %d for body %q key %q: %s", rec.Code, body, key, rec.Body)
		case rec.Code >= 400:
			if pub.Count() != published || books.count() != booked {
				t.Fatalf("status %d but the booking went out (body %q key %q)", rec.Code, body, key)
			}
		case rec.Code < 200 || rec.Code > 201 && rec.Code != http.StatusAccepted && rec.Code != http.StatusOK:
			t.Fatalf("unexpected status %d: %s", rec.Code, rec.Body)
		}
	})
}

// FuzzBookingRequestProblems checks that validation never panics, that a
// request validate refuses has problems to show on the form, that every
// problem is a 4xx naming a field, and that normalising is idempotent.
func FuzzBookingRequestProblems(f *testing.F) {
	f.Add("lisbon-alfama-house", "double", "2030-03-12", "2030-03-14", 2, "Ana Silva", "ana@example.com")
	f.Add("", "", "", "", 0, "", "")
	f.Add("lisbon-alfama-house", "single", "2030-03-10", "2030-04-09", 1, " \t ", " ana@example.com ")
	f.Add("x", "y", "2030-3-12", "14.03.2030", -1, "a\x00b", "a@b")
	f.Add("h", "r", "2032-03-10", "2032-03-11", 1<<62, "\xff", "<a@b.c>")
	f.Add("h", "r", "+2030-03-10", "2030-03-11", 20, "\u202eevil", "a@[127.0.0.1]")
	f.Fuzz(func(t *testing.T, hotel, room, in, out string, guests int, name, email string) {
		r := BookingRequest{HotelID: hotel, RoomType: room, CheckIn: in, CheckOut: out, Guests: guests, GuestName: name, GuestEmail: email}
		v, err := r.validate(now)
		problems := r.Problems(now, fuzzCatalogue)
		if err == nil {
			// Normalising is idempotent: the normalised request is valid
			// and keeps its canonical body (and so its booking ID).
			again, err := BookingRequest(v).validate(now)
			if err != nil {
				t.Fatalf("normalised request %+v refused: %v", v, err)
			}
			if string(again.canonical()) != string(v.canonical()) {
				t.Fatalf("canonical body changed on revalidation:\n%s\n%s", v.canonical(), again.canonical())
			}
		}
		if err != nil && len(problems) == 0 {
			t.Fatalf("validate says %v but Problems finds nothing", err)
		}
		for _, p := range problems {
			if p.Status < 400 || p.Status >= 500 || p.Field == "" {
				t.Fatalf("problem %+v is not a 4xx naming a field", p)
			}
		}
	})
}
