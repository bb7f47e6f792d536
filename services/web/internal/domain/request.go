// Booking requests: what the web tier accepts before it books (the same
// rules for the JSON API and the booking form), each bad field a Problem.

package domain

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Limits of a booking request.
const (
	MaxNights         = 30
	MaxYearsAhead     = 2
	MaxGuests         = 20 // whatever the catalogue says: no hotel room sleeps more
	MaxGuestNameRunes = 100
	MaxEmailBytes     = 254 // RFC 5321's limit on a forward path
	MaxIDBytes        = 100 // hotel and room type IDs
	MaxIdempotencyKey = 255
	dateLayout        = time.DateOnly
	// IdempotencyKeyField is the field an idempotency key problem names.
	IdempotencyKeyField = "Idempotency-Key"
)

// Problem is what is wrong with one field of a booking request.
type Problem struct {
	// Code is ProblemInvalidField, ProblemUnknownHotel, ProblemUnknownRoomType
	// or ProblemInvalidIdempotencyKey.
	Code    string
	Field   string
	Message string
}

func (p *Problem) Error() string { return p.Message }

// Codes of the problems.
const (
	ProblemInvalidField          = "invalid_field"
	ProblemUnknownHotel          = "unknown_hotel"
	ProblemUnknownRoomType       = "unknown_room_type"
	ProblemInvalidIdempotencyKey = "invalid_idempotency_key"
)

// fieldProblem is an invalid value of field.
func fieldProblem(field, message string) *Problem {
	return &Problem{Code: ProblemInvalidField, Field: field, Message: message}
}

// BookingRequest is a booking request as sent: the body of POST
// /api/bookings, or the fields of the booking form (POST /bookings). Both go
// through the same validation.
type BookingRequest struct {
	HotelID    string `json:"hotel_id"`
	RoomType   string `json:"room_type"`
	CheckIn    string `json:"check_in"`
	CheckOut   string `json:"check_out"`
	Guests     int    `json:"guests"`
	GuestName  string `json:"guest_name"`
	GuestEmail string `json:"guest_email"`
}

// ValidBooking is a booking request that passed validation, its fields
// normalised (trimmed, dates re-formatted). Its JSON is the canonical body
// from which an Idempotency-Key's booking ID is derived: a fixed field order
// and normalised values, so that whitespace, field order or unknown fields in
// what the client sent do not change the ID.
type ValidBooking struct {
	HotelID    string `json:"hotel_id"`
	RoomType   string `json:"room_type"`
	CheckIn    string `json:"check_in"`
	CheckOut   string `json:"check_out"`
	Guests     int    `json:"guests"`
	GuestName  string `json:"guest_name"`
	GuestEmail string `json:"guest_email"`
}

func (v ValidBooking) Canonical() []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("encode canonical booking: %v", err)) // strings and ints always encode
	}
	return b
}

// Validate checks every field that needs no catalogue and returns the
// normalised request, or the problem of the first bad field.
func (r BookingRequest) Validate(now time.Time) (ValidBooking, error) {
	v, problems := r.check(now)
	if len(problems) > 0 {
		return v, problems[0]
	}
	return v, nil
}

// check checks every field that needs no catalogue and returns the
// normalised request and a problem for each bad field, in the order of the
// fields (the JSON API reports the first; the form shows them all).
func (r BookingRequest) check(now time.Time) (ValidBooking, []*Problem) {
	v := ValidBooking{HotelID: r.HotelID, RoomType: r.RoomType, Guests: r.Guests}
	var problems []*Problem
	add := func(err error) {
		var re *Problem
		if errors.As(err, &re) {
			problems = append(problems, re)
		}
	}
	add(validateID("hotel_id", r.HotelID))
	add(validateID("room_type", r.RoomType))
	if in, out, err := validateStay(r.CheckIn, r.CheckOut, now); err != nil {
		add(err)
	} else {
		v.CheckIn, v.CheckOut = in.Format(dateLayout), out.Format(dateLayout)
	}
	add(validateGuests(r.Guests))
	var err error
	v.GuestName, err = validateGuestName(r.GuestName)
	add(err)
	v.GuestEmail, err = validateEmail(r.GuestEmail)
	add(err)
	return v, problems
}

// Problems returns what is wrong with the request, one problem per bad field,
// checked against the catalogue too when there is one: what POST
// /api/bookings would refuse, for a form to show next to its fields.
func (r BookingRequest) Problems(now time.Time, cat *Catalogue) []*Problem {
	v, problems := r.check(now)
	if cat == nil {
		return problems
	}
	bad := func(field string) bool {
		for _, p := range problems {
			if p.Field == field {
				return true
			}
		}
		return false
	}
	if bad("hotel_id") || bad("room_type") || bad("guests") {
		return problems
	}
	var re *Problem
	if err := v.CheckCatalogue(cat); errors.As(err, &re) {
		problems = append(problems, re)
	}
	return problems
}

// ValidateIdempotencyKey checks an idempotency key (the Idempotency-Key
// header, or the booking form's hidden field): 1 to 255 printable ASCII characters.
func ValidateIdempotencyKey(key string) error {
	bad := func(msg string) error {
		return &Problem{Code: ProblemInvalidIdempotencyKey, Field: IdempotencyKeyField, Message: msg}
	}
	if key == "" || len(key) > MaxIdempotencyKey {
		return bad(fmt.Sprintf("Idempotency-Key must be 1 to %d characters", MaxIdempotencyKey))
	}
	for i := 0; i < len(key); i++ {
		if key[i] < 0x20 || key[i] > 0x7e {
			return bad("Idempotency-Key must be printable ASCII")
		}
	}
	return nil
}

// CheckCatalogue checks the hotel, the room type and the guests against the catalogue.
func (v ValidBooking) CheckCatalogue(cat *Catalogue) error {
	hotel, ok := cat.Hotel(v.HotelID)
	if !ok {
		return &Problem{Code: ProblemUnknownHotel, Field: "hotel_id",
			Message: fmt.Sprintf("hotel_id %q is not a hotel we offer", v.HotelID)}
	}
	rt, ok := hotel.RoomType(v.RoomType)
	if !ok {
		return &Problem{Code: ProblemUnknownRoomType, Field: "room_type",
			Message: fmt.Sprintf("room_type %q is not a room type of hotel %q", v.RoomType, v.HotelID)}
	}
	if v.Guests > rt.Capacity {
		most := fmt.Sprintf("%d guests", rt.Capacity)
		if rt.Capacity == 1 {
			most = "1 guest"
		}
		return fieldProblem("guests", fmt.Sprintf("a %s room sleeps at most %s", rt.ID, most))
	}
	return nil
}

func validateGuests(guests int) error {
	if guests < 1 || guests > MaxGuests {
		return fieldProblem("guests", fmt.Sprintf("guests must be between 1 and %d", MaxGuests))
	}
	return nil
}

func validateID(field, id string) error {
	switch {
	case id == "":
		return fieldProblem(field, field+" is required")
	case len(id) > MaxIDBytes:
		return fieldProblem(field, fmt.Sprintf("%s must be at most %d bytes", field, MaxIDBytes))
	}
	return nil
}

// ValidateStay checks the dates of a stay as a booking request does (a
// search form uses it too, so that both accept the same dates).
func ValidateStay(checkIn, checkOut string, now time.Time) (in, out time.Time, err error) {
	return validateStay(checkIn, checkOut, now)
}

// validateStay checks check_in and check_out: dates YYYY-MM-DD, check-in
// today (UTC) or later and at most MaxYearsAhead years ahead, check-out after
// check-in, at most MaxNights nights.
func validateStay(checkIn, checkOut string, now time.Time) (in, out time.Time, err error) {
	in, err = parseDate("check_in", checkIn)
	if err != nil {
		return in, out, err
	}
	out, err = parseDate("check_out", checkOut)
	if err != nil {
		return in, out, err
	}
	y, m, d := now.UTC().Date()
	today := time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	switch {
	case in.Before(today):
		return in, out, fieldProblem("check_in", "check_in must be today or later (UTC)")
	case in.After(today.AddDate(MaxYearsAhead, 0, 0)):
		return in, out, fieldProblem("check_in", fmt.Sprintf("check_in must be at most %d years ahead", MaxYearsAhead))
	case !out.After(in):
		return in, out, fieldProblem("check_out", "check_out must be after check_in")
	case out.After(in.AddDate(0, 0, MaxNights)):
		return in, out, fieldProblem("check_out", fmt.Sprintf("a stay must be at most %d nights", MaxNights))
	}
	return in, out, nil
}

func parseDate(field, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, fieldProblem(field, field+" is required (YYYY-MM-DD)")
	}
	t, err := time.ParseInLocation(dateLayout, s, time.UTC)
	if err != nil {
		return time.Time{}, fieldProblem(field, field+" must be a date YYYY-MM-DD")
	}
	return t, nil
}

func validateGuestName(name string) (string, error) {
	name = strings.TrimSpace(name)
	n := utf8.RuneCountInString(name)
	switch {
	case n == 0:
		return "", fieldProblem("guest_name", "guest_name is required")
	case n > MaxGuestNameRunes:
		return "", fieldProblem("guest_name", fmt.Sprintf("guest_name must be at most %d characters", MaxGuestNameRunes))
	// encoding/json turns invalid UTF-8 (and lone surrogate escapes) into
	// U+FFFD, so the replacement character is what is left of them.
	case !utf8.ValidString(name) || strings.ContainsRune(name, utf8.RuneError):
		return "", fieldProblem("guest_name", "guest_name must be valid UTF-8")
	case strings.ContainsFunc(name, unicode.IsControl):
		return "", fieldProblem("guest_name", "guest_name must not contain control characters")
	case hasInvisible(name):
		return "", fieldProblem("guest_name", "guest_name must not contain invisible or bidirectional formatting characters")
	}
	return name, nil
}

// hasInvisible reports an invisible or bidirectional formatting character
// in a name, except a zero-width non-joiner or joiner (U+200C, U+200D) that
// joins two letters or marks of a script that uses them (Persian
// "می‌خواهم", Devanagari "क्‍ष"): there they are part of correct spelling,
// and they cannot reorder text. Between Latin, Greek or Cyrillic letters, or
// at an edge, they are refused like the rest.
func hasInvisible(name string) bool {
	runes := []rune(name)
	for i, r := range runes {
		if !invisible(r) {
			continue
		}
		if (r == '\u200c' || r == '\u200d') && i > 0 && i < len(runes)-1 &&
			joins(runes[i-1]) && joins(runes[i+1]) {
			continue
		}
		return true
	}
	return false
}

// joins reports a letter or mark of a script whose spelling uses zero-width
// joiners: anything but the Latin, Greek, Cyrillic and common (punctuation,
// digits) ones.
func joins(r rune) bool {
	if !unicode.In(r, unicode.L, unicode.M) {
		return false
	}
	return !unicode.In(r, unicode.Latin, unicode.Greek, unicode.Cyrillic, unicode.Common, unicode.Inherited) ||
		unicode.In(r, unicode.M) // a virama or vowel sign before a joiner
}

// invisible reports a format character (category Cf: the bidirectional
// embeddings, overrides and isolates U+202A-202E and U+2066-2069, the
// marks U+200E-200F, the zero-width characters U+200B-200D and U+FEFF, the
// soft hyphen...) or a line or paragraph separator. In a name they change
// how the text around it reads on pages, in emails and in push
// notifications (a name can appear to be something else), and nobody types
// them by accident.
func invisible(r rune) bool {
	return unicode.In(r, unicode.Cf, unicode.Zl, unicode.Zp)
}

// validateEmail accepts a bare address (guest@example.com), not a display
// name with an address ("Guest <guest@example.com>").
func validateEmail(email string) (string, error) {
	email = strings.TrimSpace(email)
	switch {
	case email == "":
		return "", fieldProblem("guest_email", "guest_email is required")
	case len(email) > MaxEmailBytes:
		return "", fieldProblem("guest_email", fmt.Sprintf("guest_email must be at most %d bytes", MaxEmailBytes))
	}
	if strings.ContainsFunc(email, func(r rune) bool { return unicode.IsControl(r) || invisible(r) }) {
		return "", fieldProblem("guest_email", "guest_email must not contain control, invisible or bidirectional formatting characters")
	}
	addr, err := mail.ParseAddress(email)
	if err != nil || addr.Name != "" || addr.Address != email {
		return "", fieldProblem("guest_email", "guest_email must be an email address such as guest@example.com")
	}
	return email, nil
}
