// Package domain holds what a Staybook voucher says and how it says it: the
// data printed on it, the rules that make a confirmed booking printable, and
// the formatting of money, dates and counts. It does no I/O.
package domain

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
)

// ErrNotFound: no voucher is stored for the booking.
var ErrNotFound = errors.New("voucher not found")

// ErrInvalid marks booking data that can never make a voucher; every
// *ValidationError matches it with errors.Is.
var ErrInvalid = errors.New("invalid booking data")

// ValidationError says which field of a confirmed booking is unusable and why.
type ValidationError struct {
	Field   string // the JSON name of the field, as in contracts.BookingConfirmed
	Message string
}

func (e *ValidationError) Error() string { return e.Field + ": " + e.Message }

// Is makes errors.Is(err, ErrInvalid) hold for every ValidationError.
func (e *ValidationError) Is(target error) bool { return target == ErrInvalid }

func invalid(field, format string, args ...any) error {
	return &ValidationError{Field: field, Message: fmt.Sprintf(format, args...)}
}

// Money is an amount in minor units of an ISO 4217 currency.
type Money struct {
	Amount   int64
	Currency string
}

// ConfirmedBooking is what the booking service tells about a confirmed
// booking (contracts.BookingConfirmed), before any check.
type ConfirmedBooking struct {
	BookingID    string
	HotelName    string
	HotelAddress string
	HotelCity    string
	RoomType     string // the room type's ID, printed only when it has no name
	RoomTypeName string
	CheckIn      string // YYYY-MM-DD
	CheckOut     string // YYYY-MM-DD
	Nights       int    // 0 when the sender left it out
	Guests       int
	GuestName    string
	GuestEmail   string
	TotalPrice   Money
}

// Voucher is the content of one voucher, checked and ready to print.
type Voucher struct {
	BookingID    string // canonical lower-case UUID; printed as the booking reference
	HotelName    string
	HotelAddress string
	HotelCity    string
	RoomTypeName string
	CheckIn      time.Time // a date, at midnight UTC
	CheckOut     time.Time
	Nights       int
	Guests       int
	GuestName    string
	GuestEmail   string
	TotalPrice   Money
	IssuedAt     time.Time
}

// DateLayout is the wire format of check-in and check-out dates.
const DateLayout = "2006-01-02"

// NewVoucher checks b and builds the voucher issued at issuedAt. Every error
// is a *ValidationError: data that no retry can fix.
func NewVoucher(b ConfirmedBooking, issuedAt time.Time) (Voucher, error) {
	id, err := ParseBookingID(b.BookingID)
	if err != nil {
		return Voucher{}, err
	}
	v := Voucher{
		BookingID:    id,
		HotelName:    strings.TrimSpace(b.HotelName),
		HotelAddress: strings.TrimSpace(b.HotelAddress),
		HotelCity:    strings.TrimSpace(b.HotelCity),
		RoomTypeName: strings.TrimSpace(b.RoomTypeName),
		Guests:       b.Guests,
		GuestName:    strings.TrimSpace(b.GuestName),
		GuestEmail:   strings.TrimSpace(b.GuestEmail),
		TotalPrice:   b.TotalPrice,
		IssuedAt:     issuedAt.UTC(),
	}
	if v.RoomTypeName == "" {
		v.RoomTypeName = strings.TrimSpace(b.RoomType)
	}
	switch {
	case v.HotelName == "":
		return Voucher{}, invalid("hotel_name", "is missing")
	case v.GuestName == "":
		return Voucher{}, invalid("guest_name", "is missing")
	case v.RoomTypeName == "":
		return Voucher{}, invalid("room_type_name", "is missing (and so is room_type)")
	case v.Guests < 1:
		return Voucher{}, invalid("guests", "%d must be at least 1", v.Guests)
	}
	if v.CheckIn, err = parseDate("check_in", b.CheckIn); err != nil {
		return Voucher{}, err
	}
	if v.CheckOut, err = parseDate("check_out", b.CheckOut); err != nil {
		return Voucher{}, err
	}
	if !v.CheckOut.After(v.CheckIn) {
		return Voucher{}, invalid("check_out", "%s is not after check_in %s", b.CheckOut, b.CheckIn)
	}
	v.Nights = int(v.CheckOut.Sub(v.CheckIn).Hours() / 24)
	// A count that disagrees with the dates means the sender has a bug; a
	// voucher must not print one of the two silently.
	if b.Nights != 0 && b.Nights != v.Nights {
		return Voucher{}, invalid("nights", "%d disagrees with the dates (%d nights)", b.Nights, v.Nights)
	}
	if err := validateMoney(b.TotalPrice); err != nil {
		return Voucher{}, err
	}
	v.TotalPrice.Currency = strings.ToUpper(b.TotalPrice.Currency)
	return v, nil
}

// ParseBookingID checks that s is a booking ID (a UUID in its canonical
// 36-character form) and returns it in lower case, the form vouchers are
// stored under.
func ParseBookingID(s string) (string, error) {
	if len(s) != 36 {
		return "", invalid("booking_id", "%q is not a UUID", s)
	}
	u, err := uuid.Parse(s)
	if err != nil {
		return "", invalid("booking_id", "%q is not a UUID", s)
	}
	return u.String(), nil
}

func parseDate(field, s string) (time.Time, error) {
	t, err := time.Parse(DateLayout, s)
	if err != nil {
		return time.Time{}, invalid(field, "%q is not a date (YYYY-MM-DD)", s)
	}
	return t, nil
}

func validateMoney(m Money) error {
	if len(m.Currency) != 3 || strings.Trim(strings.ToUpper(m.Currency), "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != "" {
		return invalid("total_price.currency", "%q is not an ISO 4217 code", m.Currency)
	}
	if m.Amount < 0 {
		return invalid("total_price.amount", "%d is negative", m.Amount)
	}
	return nil
}

// Record is a stored voucher: the PDF and what is known about it.
type Record struct {
	BookingID string
	PDF       []byte // nil when only the metadata was read
	SizeBytes int
	SHA256    []byte
	CreatedAt time.Time
}

// URL is the public path of a booking's voucher (served by the web tier).
func URL(bookingID string) string { return "/api/bookings/" + bookingID + "/voucher.pdf" }
