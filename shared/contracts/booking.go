package contracts

import (
	"errors"
	"time"
)

// Date is a calendar date, "YYYY-MM-DD" in JSON.
type Date = string

// BookRoom is the command the web tier puts on commands.BookRoom.
type BookRoom struct {
	BookingID  string `json:"booking_id"`
	HotelID    string `json:"hotel_id"`
	RoomType   string `json:"room_type"`
	CheckIn    Date   `json:"check_in"`
	CheckOut   Date   `json:"check_out"`
	Guests     int    `json:"guests"`
	GuestName  string `json:"guest_name"`
	GuestEmail string `json:"guest_email"`
	// IdempotencyKeyHash is the SHA-256 of the client's Idempotency-Key, if it sent one.
	IdempotencyKeyHash string    `json:"idempotency_key_hash,omitempty"`
	RequestedAt        time.Time `json:"requested_at"`
}

func (BookRoom) SchemaName() string { return "BookRoom" }
func (BookRoom) SchemaVersion() int { return 1 }

// Validate rejects a command without the identity it needs; field rules
// (dates, guests) are the booking service's to judge, as rejections.
func (c *BookRoom) Validate() error {
	if c.BookingID == "" {
		return errors.New("booking_id is missing")
	}
	return nil
}

// Money is an amount in minor units (cents) of an ISO 4217 currency.
type Money struct {
	Amount   int64  `json:"amount"`
	Currency string `json:"currency"`
}

// BookingConfirmed is published when a booking holds its rooms.
type BookingConfirmed struct {
	BookingID    string    `json:"booking_id"`
	HotelID      string    `json:"hotel_id"`
	HotelName    string    `json:"hotel_name"`
	HotelAddress string    `json:"hotel_address"`
	HotelCity    string    `json:"hotel_city"`
	RoomType     string    `json:"room_type"`
	RoomTypeName string    `json:"room_type_name"`
	CheckIn      Date      `json:"check_in"`
	CheckOut     Date      `json:"check_out"`
	Nights       int       `json:"nights"`
	Guests       int       `json:"guests"`
	GuestName    string    `json:"guest_name"`
	GuestEmail   string    `json:"guest_email"`
	TotalPrice   Money     `json:"total_price"`
	ConfirmedAt  time.Time `json:"confirmed_at"`
}

func (BookingConfirmed) SchemaName() string { return "BookingConfirmed" }
func (BookingConfirmed) SchemaVersion() int { return 1 }

func (e *BookingConfirmed) Validate() error {
	if e.BookingID == "" {
		return errors.New("booking_id is missing")
	}
	return nil
}

// Rejection reasons (docs/architecture.md).
const (
	ReasonSoldOut         = "sold_out"
	ReasonUnknownRoomType = "unknown_room_type"
	ReasonInvalidStay     = "invalid_stay"
	ReasonExpired         = "expired"
	// ReasonIdempotencyKeyReused: the Idempotency-Key was used before for another request.
	ReasonIdempotencyKeyReused = "idempotency_key_reused"
)

// BookingRejected is published when a booking cannot be made.
type BookingRejected struct {
	BookingID  string    `json:"booking_id"`
	HotelID    string    `json:"hotel_id"`
	RoomType   string    `json:"room_type"`
	CheckIn    Date      `json:"check_in"`
	CheckOut   Date      `json:"check_out"`
	GuestName  string    `json:"guest_name"`
	GuestEmail string    `json:"guest_email"`
	Reason     string    `json:"reason"`
	RejectedAt time.Time `json:"rejected_at"`
}

func (BookingRejected) SchemaName() string { return "BookingRejected" }
func (BookingRejected) SchemaVersion() int { return 1 }

func (e *BookingRejected) Validate() error {
	if e.BookingID == "" {
		return errors.New("booking_id is missing")
	}
	return nil
}

// CorrelationID is the booking the message is about (Correlated).
func (c BookRoom) CorrelationID() string { return c.BookingID }

// CorrelationID is the booking the message is about (Correlated).
func (e BookingConfirmed) CorrelationID() string { return e.BookingID }

// CorrelationID is the booking the message is about (Correlated).
func (e BookingRejected) CorrelationID() string { return e.BookingID }
