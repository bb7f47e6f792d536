package domain

import (
	"errors"
	"testing"
	"time"
)

func TestFormatMoney_UsesCodeThousandsSeparatorsAndTheCurrencysDecimals(t *testing.T) {
	t.Parallel()
	cases := []struct {
		m    Money
		want string
	}{
		{Money{123450, "EUR"}, "EUR 1,234.50"},
		{Money{0, "EUR"}, "EUR 0.00"},
		{Money{5, "USD"}, "USD 0.05"},
		{Money{99, "GBP"}, "GBP 0.99"},
		{Money{12345, "EUR"}, "EUR 123.45"},        // three digits: no separator before them
		{Money{12345600, "EUR"}, "EUR 123,456.00"}, // nor before the first group of three
		{Money{100000000, "CHF"}, "CHF 1,000,000.00"},
		{Money{12000, "JPY"}, "JPY 12,000"},
		{Money{1250, "KWD"}, "KWD 1.250"},
		{Money{-123450, "EUR"}, "EUR -1,234.50"},
	}
	for _, c := range cases {
		if got := FormatMoney(c.m); got != c.want {
			t.Errorf("FormatMoney(%+v) = %q, want %q", c.m, got, c.want)
		}
	}
}

func TestFormatDateAndCounts(t *testing.T) {
	t.Parallel()
	d := time.Date(2025, 6, 2, 0, 0, 0, 0, time.UTC)
	if got := FormatDate(d); got != "Mon, 2 Jun 2025" {
		t.Errorf("FormatDate = %q", got)
	}
	if FormatNights(1) != "1 night" || FormatNights(3) != "3 nights" {
		t.Errorf("nights: %q %q", FormatNights(1), FormatNights(3))
	}
	if FormatGuests(1) != "1 guest" || FormatGuests(2) != "2 guests" {
		t.Errorf("guests: %q %q", FormatGuests(1), FormatGuests(2))
	}
}

func validBooking() ConfirmedBooking {
	return ConfirmedBooking{
		BookingID:    "3F1C1A34-6E0B-4F0E-9C1E-5F7A2B8D9E01",
		HotelName:    " Hotel Aurora ",
		HotelAddress: "Karl Johans gate 1",
		HotelCity:    "Oslo",
		RoomType:     "rt-double",
		RoomTypeName: "Double room",
		CheckIn:      "2025-06-02",
		CheckOut:     "2025-06-05",
		Nights:       3,
		Guests:       2,
		GuestName:    "Zoë Ångström",
		GuestEmail:   "zoe@example.com",
		TotalPrice:   Money{123450, "eur"},
	}
}

func TestNewVoucher_NormalisesAndDerivesNights(t *testing.T) {
	t.Parallel()
	issued := time.Date(2025, 5, 1, 10, 0, 0, 0, time.FixedZone("CEST", 7200))
	v, err := NewVoucher(validBooking(), issued)
	if err != nil {
		t.Fatal(err)
	}
	if v.BookingID != "3f1c1a34-6e0b-4f0e-9c1e-5f7a2b8d9e01" {
		t.Errorf("booking ID not canonical: %q", v.BookingID)
	}
	if v.HotelName != "Hotel Aurora" || v.Nights != 3 || v.TotalPrice.Currency != "EUR" {
		t.Errorf("voucher %+v", v)
	}
	if v.IssuedAt.Location() != time.UTC {
		t.Errorf("issued at %v, want UTC", v.IssuedAt)
	}

	free := validBooking()
	free.TotalPrice.Amount = 0 // a free stay (a voucher, a promotion) is a stay
	if v, err := NewVoucher(free, issued); err != nil || v.TotalPrice.Amount != 0 {
		t.Fatalf("free stay: %+v, %v", v, err)
	}

	b := validBooking()
	b.Nights = 0 // left out by the sender: derived from the dates
	b.RoomTypeName = ""
	v, err = NewVoucher(b, issued)
	if err != nil || v.Nights != 3 || v.RoomTypeName != "rt-double" {
		t.Fatalf("got %+v, %v", v, err)
	}
}

func TestNewVoucher_RejectsDataNoRetryCanFix(t *testing.T) {
	t.Parallel()
	cases := []struct {
		field  string
		change func(*ConfirmedBooking)
	}{
		{"booking_id", func(b *ConfirmedBooking) { b.BookingID = "booking-1" }},
		{"booking_id", func(b *ConfirmedBooking) { b.BookingID = "{3f1c1a34-6e0b-4f0e-9c1e-5f7a2b8d9e}" }},
		{"hotel_name", func(b *ConfirmedBooking) { b.HotelName = "  " }},
		{"guest_name", func(b *ConfirmedBooking) { b.GuestName = "" }},
		{"room_type_name", func(b *ConfirmedBooking) { b.RoomTypeName, b.RoomType = "", "" }},
		{"guests", func(b *ConfirmedBooking) { b.Guests = 0 }},
		{"check_in", func(b *ConfirmedBooking) { b.CheckIn = "02/06/2025" }},
		{"check_out", func(b *ConfirmedBooking) { b.CheckOut = "" }},
		{"check_out", func(b *ConfirmedBooking) { b.CheckOut = b.CheckIn }},
		{"nights", func(b *ConfirmedBooking) { b.Nights = 4 }},
		{"total_price.currency", func(b *ConfirmedBooking) { b.TotalPrice.Currency = "EURO" }},
		{"total_price.currency", func(b *ConfirmedBooking) { b.TotalPrice.Currency = "E1R" }},
		{"total_price.amount", func(b *ConfirmedBooking) { b.TotalPrice.Amount = -1 }},
	}
	for _, c := range cases {
		b := validBooking()
		c.change(&b)
		_, err := NewVoucher(b, time.Now())
		var ve *ValidationError
		if !errors.As(err, &ve) || ve.Field != c.field || !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: got %v, want a validation error on %s", c.field, err, c.field)
		}
	}
}

func TestURL_IsThePublicPath(t *testing.T) {
	t.Parallel()
	if got := URL("abc"); got != "/api/bookings/abc/voucher.pdf" {
		t.Fatal(got)
	}
}
