package app

import (
	"testing"
	"time"

	"github.com/staybook/staybook/services/web/internal/domain"
)

var now = time.Date(2030, 3, 10, 23, 59, 0, 0, time.UTC)

// fuzzCatalogue is what the requests are checked against.
var fuzzCatalogue = &domain.Catalogue{Hotels: []domain.Hotel{
	{ID: "lisbon-alfama-house", Name: "Alfama House", City: "Lisbon", Stars: 3, RoomTypes: []domain.RoomType{
		{ID: "double", Name: "Double room", Capacity: 2, PricePerNight: 9500, Currency: "EUR", TotalRooms: 12},
		{ID: "single", Name: "Single room", Capacity: 1, PricePerNight: 6600, Currency: "EUR", TotalRooms: 4},
	}},
}}

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
		v, err := r.Validate(now)
		problems := Problems(r, now, fuzzCatalogue)
		if err == nil {
			// Normalising is idempotent: the normalised request is valid
			// and keeps its canonical body (and so its booking ID).
			again, err := BookingRequest(v).Validate(now)
			if err != nil {
				t.Fatalf("normalised request %+v refused: %v", v, err)
			}
			if string(again.Canonical()) != string(v.Canonical()) {
				t.Fatalf("canonical body changed on revalidation:\n%s\n%s", v.Canonical(), again.Canonical())
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
