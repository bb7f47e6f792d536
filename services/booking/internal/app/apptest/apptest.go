// Package apptest is an in-memory double of the booking use cases' storage
// port (app.Repository), for tests of the use cases without a database.
package apptest

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/staybook/staybook/services/booking/internal/app"
	"github.com/staybook/staybook/services/booking/internal/domain"
	"github.com/staybook/staybook/shared/contracts"
)

// Repository is an app.Repository in memory. It keeps the rules of
// adapters/postgres that the use cases rely on: a duplicate booking ID
// stores nothing and announces nothing; a reused idempotency key and a
// room type with no room left turn a confirmation into a rejection; a
// change and its events are stored together or not at all. Its inventory
// is simpler: a room taken is taken for every night.
type Repository struct {
	mu       sync.Mutex
	hotels   []domain.Hotel
	bookings map[string]domain.Booking
	keys     map[string]string
	taken    map[string]int // rooms taken, by hotel and room type
	outbox   []contracts.Contract
	creates  []Create
	stays    []domain.Stay
	loads    int

	// CatalogueErr, CreateErr and UpdateErr, if set, fail those calls
	// (nothing is stored).
	CatalogueErr, CreateErr, UpdateErr error
	// AfterCreate, if set, runs once a booking is stored.
	AfterCreate func()
}

// Create is one call of CreateBooking.
type Create struct {
	Cmd      contracts.BookRoom
	Decision domain.Decision
}

// New returns a Repository whose catalogue is hotels.
func New(hotels ...domain.Hotel) *Repository {
	return &Repository{
		hotels: hotels, bookings: map[string]domain.Booking{}, keys: map[string]string{}, taken: map[string]int{},
	}
}

var _ app.Repository = (*Repository)(nil)

// Catalogue returns the hotels.
func (r *Repository) Catalogue(context.Context) ([]domain.Hotel, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.loads++
	if r.CatalogueErr != nil {
		return nil, r.CatalogueErr
	}
	return slices.Clone(r.hotels), nil
}

// Availability returns the rooms not taken of each room type of the hotel.
func (r *Repository) Availability(_ context.Context, hotelID string, stay domain.Stay) (map[string]int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stays = append(r.stays, stay)
	out := map[string]int{}
	for _, h := range r.hotels {
		if h.ID == hotelID {
			for _, rt := range h.RoomTypes {
				out[rt.ID] = rt.TotalRooms - r.taken[h.ID+"/"+rt.ID]
			}
		}
	}
	return out, nil
}

// Get returns the booking with id, or app.ErrNotFound.
func (r *Repository) Get(_ context.Context, id string) (domain.Booking, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	b, ok := r.bookings[id]
	if !ok {
		return b, app.ErrNotFound
	}
	return b, nil
}

// BookingIDByIdempotencyKey returns the booking made with keyHash, or app.ErrNotFound.
func (r *Repository) BookingIDByIdempotencyKey(_ context.Context, keyHash string) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	id, ok := r.keys[keyHash]
	if !ok {
		return "", app.ErrNotFound
	}
	return id, nil
}

// CreateBooking stores the booking of cmd as d decided, and announce's events.
func (r *Repository) CreateBooking(_ context.Context, cmd contracts.BookRoom, d domain.Decision, announce app.Announce) (domain.Booking, bool, error) {
	r.mu.Lock()
	r.creates = append(r.creates, Create{Cmd: cmd, Decision: d})
	if r.CreateErr != nil {
		r.mu.Unlock()
		return domain.Booking{}, false, r.CreateErr
	}
	if b, ok := r.bookings[cmd.BookingID]; ok {
		r.mu.Unlock()
		return b, false, nil
	}
	reason, total := d.Reject, d.Total
	if other, ok := r.keys[cmd.IdempotencyKeyHash]; ok && cmd.IdempotencyKeyHash != "" && other != cmd.BookingID {
		reason = contracts.ReasonIdempotencyKeyReused
	}
	room := cmd.HotelID + "/" + cmd.RoomType
	if reason == "" && r.taken[room] >= d.RoomType.TotalRooms {
		reason, total = contracts.ReasonSoldOut, contracts.Money{}
	}
	status := contracts.StatusConfirmed
	if reason != "" {
		status = contracts.StatusRejected
	} else {
		r.taken[room]++
	}
	now := time.Now()
	b := domain.Booking{
		ID: cmd.BookingID, HotelID: cmd.HotelID, RoomType: cmd.RoomType, CheckIn: cmd.CheckIn, CheckOut: cmd.CheckOut,
		Guests: cmd.Guests, GuestName: cmd.GuestName, GuestEmail: cmd.GuestEmail, Status: status, Reason: reason,
		TotalPrice: total, Version: 1, Tasks: domain.InitialTasks(status), CreatedAt: now, UpdatedAt: now, RequestedAt: cmd.RequestedAt,
	}
	r.bookings[b.ID] = b
	if cmd.IdempotencyKeyHash != "" && reason != contracts.ReasonIdempotencyKeyReused {
		r.keys[cmd.IdempotencyKeyHash] = b.ID
	}
	r.outbox = append(r.outbox, announce(b)...)
	after := r.AfterCreate
	r.mu.Unlock()
	if after != nil {
		after()
	}
	return b, true, nil
}

// UpdateBooking applies change to the booking with id and, if it changed
// anything, stores the booking and change's events.
func (r *Repository) UpdateBooking(_ context.Context, id string, change app.Change) (domain.Booking, bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	b, ok := r.bookings[id]
	if !ok {
		return b, false, app.ErrNotFound
	}
	changed, events, err := change(&b)
	if err != nil || !changed {
		return b, false, err
	}
	if r.UpdateErr != nil {
		return domain.Booking{}, false, r.UpdateErr
	}
	b.UpdatedAt = time.Now()
	r.bookings[id] = b
	r.outbox = append(r.outbox, events...)
	return b, true, nil
}

// Outbox returns the events stored so far, in order.
func (r *Repository) Outbox() []contracts.Contract {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.outbox)
}

// Creates returns the calls of CreateBooking so far.
func (r *Repository) Creates() []Create {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.creates)
}

// Stays returns the stays Availability was asked about.
func (r *Repository) Stays() []domain.Stay {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.stays)
}

// CatalogueLoads is how many times Catalogue was called.
func (r *Repository) CatalogueLoads() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.loads
}
