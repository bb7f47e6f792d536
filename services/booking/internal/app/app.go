// Package app holds the booking service's use cases: book a room, record a
// background task's progress, answer queries. It sees commands and events,
// never an AMQP delivery or an HTTP request.
package app

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/staybook/staybook/services/booking/internal/adapters/postgres"
	"github.com/staybook/staybook/services/booking/internal/domain"
	"github.com/staybook/staybook/shared/contracts"
)

// Repository is the storage the use cases need (postgres.Repository).
type Repository interface {
	Catalogue(ctx context.Context) ([]domain.Hotel, error)
	Availability(ctx context.Context, hotelID string, stay domain.Stay) (map[string]int, error)
	Get(ctx context.Context, id string) (domain.Booking, error)
	BookingIDByIdempotencyKey(ctx context.Context, keyHash string) (string, error)
	CreateBooking(ctx context.Context, cmd contracts.BookRoom, d domain.Decision, ev postgres.Events) (domain.Booking, bool, error)
	SetTask(ctx context.Context, bookingID, task, state string) (domain.Booking, bool, error)
}

// ErrNotFound: no such booking or hotel.
var ErrNotFound = postgres.ErrNotFound

// Config configures the use cases.
type Config struct {
	// CommandTTL: a BookRoom command older than this is rejected as expired.
	CommandTTL time.Duration
	// CatalogueRefresh is how long the in-memory catalogue is trusted.
	CatalogueRefresh time.Duration
	Now              func() time.Time
}

// Bookings implements the use cases.
type Bookings struct {
	repo Repository
	cfg  Config

	mu        sync.Mutex
	catalogue map[string]domain.Hotel
	list      []domain.Hotel
	loadedAt  time.Time
}

// New returns the use cases on repo.
func New(repo Repository, cfg Config) *Bookings {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.CatalogueRefresh == 0 {
		cfg.CatalogueRefresh = time.Minute
	}
	return &Bookings{repo: repo, cfg: cfg}
}

// Catalogue returns the hotels, cached in memory (it changes only with migrations).
func (s *Bookings) Catalogue(ctx context.Context) ([]domain.Hotel, map[string]domain.Hotel, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.catalogue != nil && s.cfg.Now().Sub(s.loadedAt) < s.cfg.CatalogueRefresh {
		return s.list, s.catalogue, nil
	}
	list, err := s.repo.Catalogue(ctx)
	if err != nil {
		if s.catalogue != nil {
			return s.list, s.catalogue, nil
		}
		return nil, nil, err
	}
	s.list, s.catalogue, s.loadedAt = list, make(map[string]domain.Hotel, len(list)), s.cfg.Now()
	for _, h := range list {
		s.catalogue[h.ID] = h
	}
	return s.list, s.catalogue, nil
}

// BookRoom settles a BookRoom command: confirmed, or rejected with a reason.
// Delivering the same command twice stores one booking and returns it with
// created false. fanout says whether to write BookingConfirmed/Rejected (the
// events that start the background tasks) to the outbox.
func (s *Bookings) BookRoom(ctx context.Context, cmd contracts.BookRoom, fanout bool) (domain.Booking, bool, error) {
	_, hotels, err := s.Catalogue(ctx)
	if err != nil {
		return domain.Booking{}, false, fmt.Errorf("load catalogue: %w", err)
	}
	hotel, ok := hotels[cmd.HotelID]
	d := domain.Decide(cmd, hotel, ok, s.cfg.Now(), s.cfg.CommandTTL)
	b, created, err := s.repo.CreateBooking(ctx, cmd, d, postgres.Events{Fanout: fanout})
	if err != nil {
		return b, false, fmt.Errorf("book %s: %w", cmd.BookingID, err)
	}
	return b, created, nil
}

// RecordTask moves a booking's task to state (done or failed) as the rules allow.
// A booking not stored yet is ErrNotFound: the caller retries later.
func (s *Bookings) RecordTask(ctx context.Context, bookingID, task, state string) (domain.Booking, bool, error) {
	return s.repo.SetTask(ctx, bookingID, task, state)
}

// Booking returns a stored booking.
func (s *Bookings) Booking(ctx context.Context, id string) (domain.Booking, error) {
	return s.repo.Get(ctx, id)
}

// BookingIDByIdempotencyKey returns the booking made with the key's hash.
func (s *Bookings) BookingIDByIdempotencyKey(ctx context.Context, keyHash string) (string, error) {
	return s.repo.BookingIDByIdempotencyKey(ctx, keyHash)
}

// ErrInvalidStay: the dates asked for are not a stay.
var ErrInvalidStay = domain.ErrInvalidStay

// Availability returns the free rooms per room type of the hotel for the stay.
func (s *Bookings) Availability(ctx context.Context, hotelID, checkIn, checkOut string) (map[string]int, error) {
	_, hotels, err := s.Catalogue(ctx)
	if err != nil {
		return nil, err
	}
	if _, ok := hotels[hotelID]; !ok {
		return nil, ErrNotFound
	}
	stay, err := domain.ParseStay(checkIn, checkOut)
	if err != nil {
		return nil, err
	}
	return s.repo.Availability(ctx, hotelID, stay)
}

// IsNotFound reports whether err means "no such booking".
func IsNotFound(err error) bool { return errors.Is(err, ErrNotFound) }
