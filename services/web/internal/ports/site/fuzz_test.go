package site

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/staybook/staybook/services/web/internal/app"
	"github.com/staybook/staybook/services/web/internal/app/apptest"
)

var fuzzNow = time.Date(2030, 3, 10, 12, 0, 0, 0, time.UTC)

// formSite is the site over the real use cases (the same as the JSON
// API's), queueing to in-memory commands.
func formSite(t testing.TB) (http.Handler, *apptest.Commands) {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	bookings, commands, _ := apptest.Bookings(t, app.TransportQueue, fuzzNow)
	s, err := New(Config{Catalogue: apptest.StaticCatalogue{}, Bookings: bookings, Placer: bookings, VerifyBookingID: bookings.Verify,
		Logger: log, Now: func() time.Time { return fuzzNow }})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	s.Register(mux)
	return mux, commands
}

// FuzzBookingForm posts arbitrary form values to POST /bookings: the form
// must never panic or answer 5xx, and a refused form must queue nothing.
func FuzzBookingForm(f *testing.F) {
	type form struct{ hotel, room, in, out, guests, name, email, key string }
	valid := form{"lisbon-alfama-house", "double", "2030-03-12", "2030-03-14", "2", "Ana Silva", "ana@example.com", "form-0123"}
	seeds := []form{valid}
	with := func(change func(*form)) {
		s := valid
		change(&s)
		seeds = append(seeds, s)
	}
	with(func(s *form) { s.key = "" })
	with(func(s *form) { s.key = "k\x00ey" })
	with(func(s *form) { s.key = strings.Repeat("k", 256) })
	with(func(s *form) { s.hotel = "" })
	with(func(s *form) { s.hotel = "nowhere" })
	with(func(s *form) { s.room = "penthouse" })
	with(func(s *form) { s.room = strings.Repeat("r", 101) })
	with(func(s *form) { s.guests = "3" })
	with(func(s *form) { s.guests = " 2 " })
	with(func(s *form) { s.guests = "two" })
	with(func(s *form) { s.guests = "99999999999999999999999" })
	with(func(s *form) { s.guests = "-9223372036854775808" })
	with(func(s *form) { s.guests = "1e3" })
	with(func(s *form) { s.in = "2030-03-09" })
	with(func(s *form) { s.in = "2030-02-30" })
	with(func(s *form) { s.in, s.out = "2030-03-12", "2030-03-12" })
	with(func(s *form) { s.out = "2030-05-12" })
	with(func(s *form) { s.in = "99999-01-01" })
	with(func(s *form) { s.name = "" })
	with(func(s *form) { s.name = "Ana\x00Silva" })
	with(func(s *form) { s.name = "Ana\x1b[31mSilva" })
	with(func(s *form) { s.name = "Ana \xff Silva" })
	with(func(s *form) { s.name = "José Ñúñez 李小龍 🏨" })
	with(func(s *form) { s.name = "<script>alert(1)</script>" })
	with(func(s *form) { s.name = strings.Repeat("é", 101) })
	with(func(s *form) { s.email = "Ana <ana@example.com>" })
	with(func(s *form) { s.email = "ana@" })
	with(func(s *form) { s.email = "ana\r\n@example.com" })
	for _, s := range seeds {
		f.Add(s.hotel, s.room, s.in, s.out, s.guests, s.name, s.email, s.key)
	}
	h, pub := formSite(f)
	post := func(body string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, "/bookings", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	// The fakes take a valid form, so the target reaches the queue.
	v := url.Values{"hotel_id": {valid.hotel}, "room_type": {valid.room}, "check_in": {valid.in}, "check_out": {valid.out},
		"guests": {valid.guests}, "guest_name": {valid.name}, "guest_email": {valid.email}, "idempotency_key": {valid.key}}
	if rec := post(v.Encode()); rec.Code != http.StatusSeeOther || pub.Sent() != 1 {
		f.Fatalf("valid form: status %d, %d published; want 303 and 1", rec.Code, pub.Sent())
	}
	// Bodies that are not form encoding at all.
	f.Add("%zz", "", "", "", "", "", "", "")
	f.Add(strings.Repeat("a", 20<<10), "", "", "", "", "", "", "")
	f.Fuzz(func(t *testing.T, hotel, room, in, out, guests, name, email, key string) {
		v := url.Values{"hotel_id": {hotel}, "room_type": {room}, "check_in": {in}, "check_out": {out},
			"guests": {guests}, "guest_name": {name}, "guest_email": {email}, "idempotency_key": {key}}
		for _, body := range []string{v.Encode(), hotel} { // encoded, and raw bytes as the body
			published := pub.Sent()
			rec := post(body)
			switch {
			case rec.Code >= 500:
				t.Fatalf("status %d for form %q: %s", rec.Code, body, rec.Body)
			case rec.Code >= 400 && pub.Sent() != published:
				t.Fatalf("status %d but the booking was queued (form %q)", rec.Code, body)
			case rec.Code < 400 && rec.Code != http.StatusSeeOther:
				t.Fatalf("unexpected status %d for form %q", rec.Code, body)
			case rec.Code == http.StatusSeeOther && pub.Sent() != published+1:
				t.Fatalf("redirected to the booking but %d messages queued (form %q)", pub.Sent()-published, body)
			}
		}
	})
}
