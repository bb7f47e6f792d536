// Package domain holds the email service's rules, without I/O: who a
// confirmation email goes to, what it says, how it is identified, and when a
// booking's email counts as sent.
package domain

import (
	"errors"
	"fmt"
	"net/mail"
	"regexp"
	"strings"
	"time"
)

// Errors that no retry can fix: the message is dead-lettered at once (or the
// HTTP caller gets a 4xx).
var (
	// ErrInvalidBooking: the booking ID is missing or cannot be used in a Message-ID or a URL.
	ErrInvalidBooking = errors.New("invalid booking id")
	// ErrInvalidRecipient: the guest's address is not an email address.
	ErrInvalidRecipient = errors.New("invalid recipient address")
	// ErrRecipientRejected: the SMTP server refused the recipient for good (5xx).
	ErrRecipientRejected = errors.New("recipient rejected by the smtp server")
)

// IsPermanent reports whether err is one of the errors above.
func IsPermanent(err error) bool {
	return errors.Is(err, ErrInvalidBooking) || errors.Is(err, ErrInvalidRecipient) || errors.Is(err, ErrRecipientRejected)
}

// Booking IDs are UUIDs; anything outside this alphabet would have to be
// escaped in the Message-ID header and in the voucher URL, so it is refused.
var bookingIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

// Confirmation is what the guest is told: a booked stay, and where to send it.
type Confirmation struct {
	BookingID  string
	GuestName  string
	GuestEmail string // a bare address, as parsed
	HotelName  string
	CheckIn    string // YYYY-MM-DD
	CheckOut   string // YYYY-MM-DD
}

// NewConfirmation checks the parts of a confirmation that would make the
// email unsendable; other fields are shown as they are.
func NewConfirmation(bookingID, guestName, guestEmail, hotelName, checkIn, checkOut string) (Confirmation, error) {
	if !bookingIDPattern.MatchString(bookingID) {
		return Confirmation{}, fmt.Errorf("%w: %q", ErrInvalidBooking, bookingID)
	}
	addr, err := mail.ParseAddress(strings.TrimSpace(guestEmail))
	if err != nil || addr.Address == "" {
		// The address itself is not logged: it is the guest's.
		return Confirmation{}, fmt.Errorf("%w for booking %s", ErrInvalidRecipient, bookingID)
	}
	return Confirmation{
		BookingID:  bookingID,
		GuestName:  oneLine(guestName),
		GuestEmail: addr.Address,
		HotelName:  oneLine(hotelName),
		CheckIn:    oneLine(checkIn),
		CheckOut:   oneLine(checkOut),
	}, nil
}

// oneLine keeps a value on one line, so that it cannot add header lines or
// break the layout of the plain-text body.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// MessageID is the Message-ID header of a booking's confirmation email,
// angle brackets included. It depends on the booking alone, so a duplicate
// send (the one the service cannot rule out) is recognisable as the same email.
func MessageID(bookingID string) string { return "<" + bookingID + "@staybook>" }

// ShortRef is the booking reference shown to the guest: the first eight
// characters of the booking ID, dashes dropped, in upper case.
func ShortRef(bookingID string) string {
	ref := strings.ToUpper(strings.ReplaceAll(bookingID, "-", ""))
	if len(ref) > 8 {
		ref = ref[:8]
	}
	return ref
}

// Subject is the email's subject line.
func (c Confirmation) Subject() string { return "Your Staybook booking " + ShortRef(c.BookingID) }

// AttachmentName is the file name of the voucher attached to the email.
func (c Confirmation) AttachmentName() string { return "staybook-voucher-" + c.BookingID + ".pdf" }

// Status of a booking's email in the sent-email log.
type Status string

const (
	// StatusPending: not (yet) accepted by the SMTP server, and nobody is sending it.
	StatusPending Status = "pending"
	// StatusSending: a worker claimed it and may be talking to the SMTP
	// server; nobody else sends it until the claim's lease expires.
	StatusSending Status = "sending"
	// StatusSent: the SMTP server accepted it; it is never sent again.
	StatusSent Status = "sent"
)

// Email is the service's record of a booking's confirmation email.
type Email struct {
	BookingID     string
	MessageID     string
	Recipient     string // the guest's address
	RecipientName string
	Subject       string
	Status        Status
	Attempts      int    // sends tried, failed ones included
	LastError     string // why the last failed attempt failed
	SentAt        time.Time
	CreatedAt     time.Time
	UpdatedAt     time.Time
}

// NewEmail is the record of an email not sent yet.
func NewEmail(c Confirmation) Email {
	return Email{
		BookingID:     c.BookingID,
		MessageID:     MessageID(c.BookingID),
		Recipient:     c.GuestEmail,
		RecipientName: c.GuestName,
		Subject:       c.Subject(),
		Status:        StatusPending,
	}
}

// Sent reports whether the SMTP server accepted this email: if so, it must
// not be sent again.
func (e Email) Sent() bool { return e.Status == StatusSent }

// MarkSent records the SMTP server's acceptance.
func (e *Email) MarkSent(at time.Time) {
	e.Status = StatusSent
	e.SentAt = at
	e.Attempts++
	e.LastError = ""
}

// maxErrorLength bounds what is kept of a failure's text.
const maxErrorLength = 1000

// MarkFailed records a failed attempt; the email stays pending.
func (e *Email) MarkFailed(err error) {
	e.Attempts++
	msg := err.Error()
	if len(msg) > maxErrorLength {
		msg = msg[:maxErrorLength]
	}
	e.LastError = msg
}
