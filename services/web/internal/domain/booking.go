package domain

import (
	"time"

	"github.com/staybook/staybook/shared/contracts"
)

// Booking is a booking as GET /internal/bookings/{id} shows it.
type Booking struct {
	ID         string          `json:"id"`
	Version    int64           `json:"version"`
	Status     string          `json:"status"`
	Reason     string          `json:"reason"`
	HotelID    string          `json:"hotel_id"`
	RoomType   string          `json:"room_type"`
	CheckIn    string          `json:"check_in"`
	CheckOut   string          `json:"check_out"`
	Guests     int             `json:"guests"`
	GuestName  string          `json:"guest_name"`
	TotalPrice contracts.Money `json:"total_price"`
	Tasks      contracts.Tasks `json:"tasks"`
	CreatedAt  time.Time       `json:"created_at"`
	UpdatedAt  time.Time       `json:"updated_at"`
}

// Availability is how many rooms of each type are free on every night of a stay.
type Availability struct {
	RoomTypes []RoomAvailability `json:"room_types"`
}

// RoomAvailability is one room type's free rooms.
type RoomAvailability struct {
	ID        string `json:"id"`
	Available int    `json:"available"`
}
