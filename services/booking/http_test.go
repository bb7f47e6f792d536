package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/staybook/staybook/shared/contracts"
	"github.com/staybook/staybook/shared/testkit"
)

// getJSON GETs path from the instance and decodes the JSON answer into out.
func getJSON(t testing.TB, in *instance, path string, out any) int {
	t.Helper()
	resp, err := http.Get("http://" + in.svc.Addr() + path)
	testkit.Must(t, err)
	defer resp.Body.Close()
	if out != nil {
		json.NewDecoder(resp.Body).Decode(out)
	}
	return resp.StatusCode
}

type availability struct {
	RoomTypes []struct {
		ID        string `json:"id"`
		Available int    `json:"available"`
	} `json:"room_types"`
}

// free asks the service for the hotel's free rooms per room type for a stay.
func free(t testing.TB, in *instance, hotel, checkIn, checkOut string) map[string]int {
	t.Helper()
	var a availability
	q := url.Values{"check_in": {checkIn}, "check_out": {checkOut}}
	if code := getJSON(t, in, "/internal/hotels/"+hotel+"/availability?"+q.Encode(), &a); code != http.StatusOK {
		t.Fatalf("availability %s %s-%s: %d", hotel, checkIn, checkOut, code)
	}
	out := map[string]int{}
	for _, rt := range a.RoomTypes {
		out[rt.ID] = rt.Available
	}
	return out
}

func stay(c contracts.BookRoom, in, out string) contracts.BookRoom {
	c.CheckIn, c.CheckOut = in, out
	return c
}

// settle sends the commands and waits until each is stored with the status wanted.
func (s *stack) settle(t testing.TB, in *instance, want string, cmds ...contracts.BookRoom) {
	t.Helper()
	s.send(t, cmds...)
	for _, c := range cmds {
		testkit.Eventually(t, 20*time.Second, c.BookingID+" "+want, func() bool {
			b, _ := s.getBooking(t, in, c.BookingID)
			return b["status"] == want
		})
	}
}

func TestAvailability_IsTheFreeCountOnTheFullestNightOfTheStay(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	in := s.start(t, 2)
	// A room type of three rooms, of its own, so the numbers are exact.
	s.exec(t, `INSERT INTO room_types VALUES ('lisbon-alfama-house', 'loft', 'Loft', 2, 7000, 'EUR', 3)`)
	loft := func(in, out string) contracts.BookRoom { return stay(command("lisbon-alfama-house", "loft"), in, out) }

	if got := free(t, in, "lisbon-alfama-house", "2031-03-10", "2031-03-14"); got["loft"] != 3 {
		t.Fatalf("nothing booked yet: %v", got)
	}
	// Nights booked: 10th 1, 11th 3, 12th 2, 13th 1, 14th 0.
	s.settle(t, in, "confirmed",
		loft("2031-03-10", "2031-03-13"), loft("2031-03-11", "2031-03-12"),
		loft("2031-03-12", "2031-03-14"), loft("2031-03-11", "2031-03-12"))
	// Sold out on the 11th: rejected, and takes no room on the 10th either.
	s.settle(t, in, "rejected", loft("2031-03-10", "2031-03-12"))

	for _, c := range []struct {
		in, out string
		free    int
	}{
		{"2031-03-09", "2031-03-10", 3}, // the night before the first booking
		{"2031-03-10", "2031-03-11", 2},
		{"2031-03-11", "2031-03-12", 0},
		{"2031-03-12", "2031-03-13", 1},
		{"2031-03-13", "2031-03-14", 2},
		{"2031-03-14", "2031-03-15", 3}, // check-out day of the last: free again
		{"2031-03-10", "2031-03-14", 0}, // a stay is as free as its fullest night
		{"2031-03-12", "2031-03-14", 1},
		{"2031-03-13", "2031-03-16", 2},
	} {
		if got := free(t, in, "lisbon-alfama-house", c.in, c.out); got["loft"] != c.free {
			t.Errorf("loft %s to %s: %d free, want %d", c.in, c.out, got["loft"], c.free)
		}
	}
	// The hotel's other room types are untouched, each at its total.
	want := map[string]int{"single": 4, "double": 12, "twin": 4, "suite": 8, "loft": 0}
	got := free(t, in, "lisbon-alfama-house", "2031-03-11", "2031-03-12")
	if len(got) != len(want) {
		t.Fatalf("room types %v, want %v", got, want)
	}
	for id, n := range want {
		if got[id] != n {
			t.Errorf("%s: %d free, want %d", id, got[id], n)
		}
	}
}

func TestAvailability_UnknownHotelIs404AndABadStayIs422(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	in := s.start(t, 1)
	if code := getJSON(t, in, "/internal/hotels/atlantis/availability?check_in=2031-03-10&check_out=2031-03-11", nil); code != http.StatusNotFound {
		t.Errorf("unknown hotel: %d", code)
	}
	for _, q := range []string{"check_in=2031-03-11&check_out=2031-03-10", "check_in=2031-03-10&check_out=2031-04-10", "check_in=soon&check_out=2031-03-10", ""} {
		var body struct {
			Error struct{ Field string } `json:"error"`
		}
		if code := getJSON(t, in, "/internal/hotels/lisbon-alfama-house/availability?"+q, &body); code != http.StatusUnprocessableEntity || body.Error.Field != "check_in" {
			t.Errorf("%q: %d %+v, want 422 on check_in", q, code, body)
		}
	}
}

func TestCatalogue_ListsEveryHotelWithItsRoomTypes(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	in := s.start(t, 1)
	var body struct {
		Hotels []struct {
			ID, Name, City, Address string
			Stars                   int
			RoomTypes               []struct {
				ID            string `json:"id"`
				Name          string `json:"name"`
				Capacity      int    `json:"capacity"`
				PricePerNight int64  `json:"price_per_night"`
				Currency      string `json:"currency"`
				TotalRooms    int    `json:"total_rooms"`
			} `json:"room_types"`
		} `json:"hotels"`
	}
	if code := getJSON(t, in, "/internal/catalogue", &body); code != http.StatusOK {
		t.Fatalf("catalogue: %d", code)
	}
	if len(body.Hotels) != 20 {
		t.Fatalf("%d hotels, want the 20 of the seed", len(body.Hotels))
	}
	for _, h := range body.Hotels {
		if h.ID != "lisbon-alfama-house" {
			continue
		}
		if h.Name != "Alfama House" || h.City != "Lisbon" || h.Address != "Rua de São Miguel 12, 1100-544 Lisboa" || h.Stars != 3 {
			t.Fatalf("hotel %+v", h)
		}
		// By price, then ID.
		want := []string{"single 1 6600 EUR 4", "double 2 9500 EUR 12", "twin 2 9500 EUR 4", "suite 4 22800 EUR 8"}
		var got []string
		for _, rt := range h.RoomTypes {
			got = append(got, rt.ID+" "+itoa(rt.Capacity)+" "+itoa(int(rt.PricePerNight))+" "+rt.Currency+" "+itoa(rt.TotalRooms))
		}
		if len(got) != len(want) {
			t.Fatalf("room types %v, want %v", got, want)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("room types %v, want %v", got, want)
			}
		}
		return
	}
	t.Fatal("Alfama House is not in the catalogue")
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

func keyHash(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

func TestIdempotencyKey_FindsTheBookingMadeWithIt(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	in := s.start(t, 1)
	first := command("paris-opera-palace", "single")
	first.IdempotencyKeyHash = keyHash("key-1")
	s.settle(t, in, "confirmed", first)

	var found map[string]string
	if code := getJSON(t, in, "/internal/idempotency-keys/"+first.IdempotencyKeyHash, &found); code != http.StatusOK || found["booking_id"] != first.BookingID {
		t.Fatalf("key lookup: %d %v, want %s", code, found, first.BookingID)
	}
	// Another booking with the same key is rejected, and the key still
	// leads to the first.
	second := command("paris-opera-palace", "single")
	second.IdempotencyKeyHash = first.IdempotencyKeyHash
	s.settle(t, in, "rejected", second)
	if b, _ := s.getBooking(t, in, second.BookingID); b["reason"] != contracts.ReasonIdempotencyKeyReused {
		t.Fatalf("second booking with the key: %v", b)
	}
	found = nil
	getJSON(t, in, "/internal/idempotency-keys/"+first.IdempotencyKeyHash, &found)
	if found["booking_id"] != first.BookingID {
		t.Fatalf("after reuse the key leads to %v", found)
	}
	for _, hash := range []string{keyHash("never-used"), "not-a-hash", first.IdempotencyKeyHash[:63]} {
		if code := getJSON(t, in, "/internal/idempotency-keys/"+hash, nil); code != http.StatusNotFound {
			t.Errorf("key %q: %d, want 404", hash, code)
		}
	}
	for _, id := range []string{uuid.NewString(), "not-a-uuid"} {
		if code := getJSON(t, in, "/internal/bookings/"+id, nil); code != http.StatusNotFound {
			t.Errorf("booking %q: %d, want 404", id, code)
		}
	}
}

// make reset runs `booking reset`, program.Commands["reset"].
func TestReset_LeavesNoBookingAndEveryRoomFree(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	in := s.start(t, 1)
	s.exec(t, `INSERT INTO room_types VALUES ('lisbon-alfama-house', 'loft', 'Loft', 2, 7000, 'EUR', 1)`)
	booked := stay(command("lisbon-alfama-house", "loft"), "2031-03-10", "2031-03-12")
	s.settle(t, in, "confirmed", booked)
	if got := free(t, in, "lisbon-alfama-house", "2031-03-10", "2031-03-12"); got["loft"] != 0 {
		t.Fatalf("booked: %v", got)
	}
	// Events waiting in the outbox go too (the forwarder is stopped first,
	// as make reset runs with the system down).
	in.stop()
	s.exec(t, `INSERT INTO watermill_outbox (uuid, payload, metadata) VALUES ('00000000-0000-0000-0000-000000000001', '{}', '{}')`)

	cfg := DefaultConfig()
	cfg.DatabaseURL = s.dbURL
	testkit.Must(t, program.Commands["reset"](context.Background(), cfg, quiet()))

	for table, want := range map[string]int{"bookings": 0, "inventory": 0, "watermill_outbox": 0, "hotels": 20} {
		if n := s.count(t, `SELECT count(*) FROM `+table); n != want {
			t.Errorf("%s: %d rows after reset, want %d", table, n, want)
		}
	}
	in = s.start(t, 1)
	if got := free(t, in, "lisbon-alfama-house", "2031-03-10", "2031-03-12"); got["loft"] != 1 {
		t.Fatalf("after reset: %v", got)
	}
	if _, code := s.getBooking(t, in, booked.BookingID); code != http.StatusNotFound {
		t.Fatalf("the booking is still there: %d", code)
	}
	// A second reset (nothing to delete) is fine too.
	testkit.Must(t, program.Commands["reset"](context.Background(), cfg, quiet()))
}
