// Package domain holds the booking rules: what a valid stay is, how a
// booking is priced, and how background tasks may change state. No I/O.
package domain

import (
	"errors"
	"fmt"
	"time"

	"github.com/staybook/staybook/shared/contracts"
)

// MaxNights is the longest stay that can be booked.
const MaxNights = 30

// DateLayout is the layout of dates in commands and the API.
const DateLayout = "2006-01-02"

// Hotel is a hotel of the catalogue.
type Hotel struct {
	ID        string     `json:"id"`
	Name      string     `json:"name"`
	City      string     `json:"city"`
	Address   string     `json:"address"`
	Stars     int        `json:"stars"`
	RoomTypes []RoomType `json:"room_types"`
}

// RoomType is a kind of room of a hotel, with its price and how many there are.
type RoomType struct {
	ID            string `json:"id"`
	Name          string `json:"name"`
	Capacity      int    `json:"capacity"`
	PricePerNight int64  `json:"price_per_night"` // minor units
	Currency      string `json:"currency"`
	TotalRooms    int    `json:"total_rooms"`
}

// RoomType returns the hotel's room type with id.
func (h Hotel) RoomType(id string) (RoomType, bool) {
	for _, rt := range h.RoomTypes {
		if rt.ID == id {
			return rt, true
		}
	}
	return RoomType{}, false
}

// Stay is a check-in and check-out date.
type Stay struct {
	CheckIn, CheckOut time.Time
}

// ErrInvalidStay: the dates do not make a stay that can be booked.
var ErrInvalidStay = errors.New("invalid stay")

// ParseStay parses and checks the dates: check-out after check-in, at most MaxNights.
func ParseStay(checkIn, checkOut string) (Stay, error) {
	in, err := time.Parse(DateLayout, checkIn)
	if err != nil {
		return Stay{}, fmt.Errorf("%w: check_in %q is not YYYY-MM-DD", ErrInvalidStay, checkIn)
	}
	out, err := time.Parse(DateLayout, checkOut)
	if err != nil {
		return Stay{}, fmt.Errorf("%w: check_out %q is not YYYY-MM-DD", ErrInvalidStay, checkOut)
	}
	s := Stay{CheckIn: in, CheckOut: out}
	if n := s.Nights(); n < 1 || n > MaxNights {
		return Stay{}, fmt.Errorf("%w: %d nights, want 1 to %d", ErrInvalidStay, n, MaxNights)
	}
	return s, nil
}

// Nights is the number of nights of the stay.
func (s Stay) Nights() int { return int(s.CheckOut.Sub(s.CheckIn).Hours() / 24) }

// Booking is a booking as stored.
type Booking struct {
	ID          string
	HotelID     string
	RoomType    string
	CheckIn     string
	CheckOut    string
	Guests      int
	GuestName   string
	GuestEmail  string
	Status      string // confirmed or rejected (pending is never stored)
	Reason      string
	TotalPrice  contracts.Money
	Version     int64
	Tasks       contracts.Tasks
	CreatedAt   time.Time
	UpdatedAt   time.Time
	RequestedAt time.Time
}

// Decision is the outcome of checking a BookRoom command against the catalogue.
type Decision struct {
	Reject   string // a rejection reason, or "" to try to take the rooms
	Hotel    Hotel
	RoomType RoomType
	Stay     Stay
	Total    contracts.Money
}

// Decide checks cmd, received at now, against hotel (ok false if unknown).
// It does not know about inventory: a Decision without Reject still needs
// a free room on every night.
func Decide(cmd contracts.BookRoom, hotel Hotel, ok bool, now time.Time, ttl time.Duration) Decision {
	if ttl > 0 && !cmd.RequestedAt.IsZero() && now.Sub(cmd.RequestedAt) > ttl {
		return Decision{Reject: contracts.ReasonExpired}
	}
	if !ok {
		return Decision{Reject: contracts.ReasonUnknownRoomType}
	}
	rt, ok := hotel.RoomType(cmd.RoomType)
	if !ok {
		return Decision{Reject: contracts.ReasonUnknownRoomType, Hotel: hotel}
	}
	stay, err := ParseStay(cmd.CheckIn, cmd.CheckOut)
	if err != nil || cmd.Guests < 1 || cmd.Guests > rt.Capacity {
		return Decision{Reject: contracts.ReasonInvalidStay, Hotel: hotel, RoomType: rt}
	}
	return Decision{
		Hotel: hotel, RoomType: rt, Stay: stay,
		Total: contracts.Money{Amount: rt.PricePerNight * int64(stay.Nights()), Currency: rt.Currency},
	}
}

// InitialTasks are the tasks of a booking just confirmed or rejected.
func InitialTasks(status string) contracts.Tasks {
	if status == contracts.StatusConfirmed {
		return contracts.Tasks{Voucher: contracts.TaskPending, Email: contracts.TaskPending, Notification: contracts.TaskPending}
	}
	return contracts.Tasks{Voucher: contracts.TaskSkipped, Email: contracts.TaskSkipped, Notification: contracts.TaskPending}
}

// Transition applies a task event to a task's state and reports whether it
// changed. Allowed: pending -> done, pending -> failed, failed -> done. A late
// failure never undoes done; skipped never changes.
func Transition(current, next string) (string, bool) {
	switch {
	case current == next:
		return current, false
	case current == contracts.TaskPending && (next == contracts.TaskDone || next == contracts.TaskFailedState):
		return next, true
	case current == contracts.TaskFailedState && next == contracts.TaskDone:
		return next, true
	default:
		return current, false
	}
}

// SetTask applies next to the named task of b; it reports whether anything changed.
func (b *Booking) SetTask(task, next string) (bool, error) {
	var field *string
	switch task {
	case contracts.TaskVoucher:
		field = &b.Tasks.Voucher
	case contracts.TaskEmail:
		field = &b.Tasks.Email
	case contracts.TaskNotification:
		field = &b.Tasks.Notification
	default:
		return false, fmt.Errorf("unknown task %q", task)
	}
	s, changed := Transition(*field, next)
	*field = s
	return changed, nil
}

// StatusChanged is the event announcing b's current state.
func (b *Booking) StatusChanged(now time.Time) contracts.BookingStatusChanged {
	return contracts.BookingStatusChanged{
		BookingID: b.ID, Version: b.Version, Status: b.Status, Reason: b.Reason, Tasks: b.Tasks, ChangedAt: now,
	}
}

// Confirmed is the BookingConfirmed event of b, confirmed as d decided
// (d gives the hotel's and the room type's names and the nights).
func (b *Booking) Confirmed(d Decision) contracts.BookingConfirmed {
	return contracts.BookingConfirmed{
		BookingID: b.ID, HotelID: b.HotelID, HotelName: d.Hotel.Name, HotelAddress: d.Hotel.Address, HotelCity: d.Hotel.City,
		RoomType: b.RoomType, RoomTypeName: d.RoomType.Name, CheckIn: b.CheckIn, CheckOut: b.CheckOut,
		Nights: d.Stay.Nights(), Guests: b.Guests, GuestName: b.GuestName, GuestEmail: b.GuestEmail,
		TotalPrice: b.TotalPrice, ConfirmedAt: b.CreatedAt.UTC(),
	}
}

// Rejected is the BookingRejected event of b, rejected at now.
func (b *Booking) Rejected(now time.Time) contracts.BookingRejected {
	return contracts.BookingRejected{
		BookingID: b.ID, HotelID: b.HotelID, RoomType: b.RoomType, CheckIn: b.CheckIn, CheckOut: b.CheckOut,
		GuestName: b.GuestName, GuestEmail: b.GuestEmail, Reason: b.Reason, RejectedAt: now,
	}
}
