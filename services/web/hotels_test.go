package main

import (
	"net/http"
	"testing"

	"github.com/staybook/staybook/shared/testkit"

	"github.com/staybook/staybook/services/web/internal/app"
	"github.com/staybook/staybook/services/web/internal/ports/api"
)

func TestHotels_ServedFromTheCatalogueInTheContractShapes(t *testing.T) {
	t.Parallel()
	amqpURL := testkit.Vhost(t)
	fb := newFakeBooking(t)
	w := startWeb(t, testConfig(amqpURL, fb.URL(), "http://127.0.0.1:1"))

	var list struct {
		Hotels []api.HotelSummary `json:"hotels"`
	}
	w.get(t, "/api/hotels").json(t, &list)
	want := []api.HotelSummary{
		{ID: "lisbon-alfama-house", Name: "Alfama House", City: "Lisbon", Stars: 3, PriceFrom: 6600, Currency: "EUR"},
		{ID: "berlin-spree-loft", Name: "Spree Loft", City: "Berlin", Stars: 4, PriceFrom: 14000, Currency: "EUR"},
	}
	if len(list.Hotels) != len(want) || list.Hotels[0] != want[0] || list.Hotels[1] != want[1] {
		t.Fatalf("hotels %+v", list.Hotels)
	}

	var h api.HotelDetail
	w.get(t, "/api/hotels/lisbon-alfama-house").json(t, &h)
	if h.Address != "Rua de São Miguel 12" || len(h.RoomTypes) != 3 || h.RoomTypes[2].ID != "suite" ||
		h.RoomTypes[2].Capacity != 4 || h.RoomTypes[2].PricePerNight != 22800 || h.RoomTypes[2].TotalRooms != 8 {
		t.Fatalf("hotel %+v", h)
	}
	if resp := w.get(t, "/api/hotels/atlantis"); resp.status != http.StatusNotFound {
		t.Fatalf("unknown hotel: %d", resp.status)
	}
	if n := fb.catalogueCalls.Load(); n != 1 {
		t.Fatalf("catalogue fetched %d times, want 1 (cached)", n)
	}
}

func TestAvailability_ValidatesTheDatesThenAsksTheBookingService(t *testing.T) {
	t.Parallel()
	amqpURL := testkit.Vhost(t)
	fb := newFakeBooking(t)
	w := startWeb(t, testConfig(amqpURL, fb.URL(), "http://127.0.0.1:1"))

	for name, q := range map[string]string{
		"missing":        "",
		"bad format":     "?check_in=tomorrow&check_out=" + day(3),
		"reversed":       "?check_in=" + day(5) + "&check_out=" + day(3),
		"in the past":    "?check_in=" + day(-2) + "&check_out=" + day(3),
		"too many night": "?check_in=" + day(1) + "&check_out=" + day(40),
	} {
		resp := w.get(t, "/api/hotels/lisbon-alfama-house/availability"+q)
		if resp.status != http.StatusUnprocessableEntity || resp.errorDetail(t).Field == "" {
			t.Errorf("%s: %d %s", name, resp.status, resp.body)
		}
	}
	if n := fb.availabilityCalls.Load(); n != 0 {
		t.Fatalf("bad dates reached the booking service %d times", n)
	}

	var av struct {
		RoomTypes []struct {
			ID        string `json:"id"`
			Available int    `json:"available"`
		} `json:"room_types"`
	}
	resp := w.get(t, "/api/hotels/lisbon-alfama-house/availability?check_in="+day(1)+"&check_out="+day(3))
	if resp.status != http.StatusOK {
		t.Fatalf("availability: %d %s", resp.status, resp.body)
	}
	resp.json(t, &av)
	if len(av.RoomTypes) != 2 || av.RoomTypes[0].ID != "double" || av.RoomTypes[0].Available != 7 {
		t.Fatalf("availability %+v", av)
	}
	if resp := w.get(t, "/api/hotels/atlantis/availability?check_in="+day(1)+"&check_out="+day(3)); resp.status != http.StatusNotFound {
		t.Fatalf("unknown hotel: %d", resp.status)
	}
	fb.down()
	resp = w.get(t, "/api/hotels/lisbon-alfama-house/availability?check_in="+day(1)+"&check_out="+day(3))
	if resp.status != http.StatusServiceUnavailable {
		t.Fatalf("booking down: %d", resp.status)
	}
}

func TestVoucher_PassedOnFromTheVoucherService(t *testing.T) {
	t.Parallel()
	amqpURL := testkit.Vhost(t)
	fb := newFakeBooking(t)
	w0 := startWeb(t, testConfig(amqpURL, fb.URL(), "http://127.0.0.1:1"))
	var made, notYet app.Accepted
	w0.post(t, bookingBody(t, nil), nil).json(t, &made)
	w0.post(t, bookingBody(t, nil), nil).json(t, &notYet)

	pdf := []byte("%PDF-1.4 voucher")
	vs := newFakeVoucher(t, map[string][]byte{made.ID: pdf})
	w := startWeb(t, testConfig(amqpURL, fb.URL(), vs.URL))

	resp := w.get(t, "/api/bookings/"+made.ID+"/voucher.pdf")
	if resp.status != http.StatusOK || string(resp.body) != string(pdf) || resp.header.Get("Content-Type") != "application/pdf" {
		t.Fatalf("voucher: %d %q %s", resp.status, resp.header.Get("Content-Type"), resp.body)
	}
	if resp := w.get(t, "/api/bookings/"+notYet.ID+"/voucher.pdf"); resp.status != http.StatusNotFound {
		t.Fatalf("voucher not created yet: %d", resp.status)
	}
	if resp := w.get(t, "/api/bookings/3f1e5c4e-8b0a-4c6e-9d2b-1a7f0e3c5b9d/voucher.pdf"); resp.status != http.StatusNotFound {
		t.Fatalf("foreign ID: %d", resp.status)
	}
	// w0 points at a voucher service that is not there.
	if resp := w0.get(t, "/api/bookings/"+made.ID+"/voucher.pdf"); resp.status != http.StatusServiceUnavailable {
		t.Fatalf("voucher service down: %d", resp.status)
	}
}
