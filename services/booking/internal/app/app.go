// Package app holds the booking service's use cases: book a room, record a
// background task's progress, answer queries. It sees commands and events,
// never an AMQP delivery or an HTTP request.
package app

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/staybook/staybook/services/booking/internal/domain"
	"github.com/staybook/staybook/shared/contracts"
)

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
// created false. A new booking is announced by BookingConfirmed or
// BookingRejected, which start the background tasks, and by
// BookingStatusChanged.
func (s *Bookings) BookRoom(ctx context.Context, cmd contracts.BookRoom) (domain.Booking, bool, error) {
	return s.book(ctx, cmd, s.fanout)
}

// book settles cmd; announce gives the events of the booking as stored.
func (s *Bookings) book(ctx context.Context, cmd contracts.BookRoom, announce func(domain.Decision) Announce) (domain.Booking, bool, error) {
	_, hotels, err := s.Catalogue(ctx)
	if err != nil {
		return domain.Booking{}, false, fmt.Errorf("load catalogue: %w", err)
	}
	hotel, ok := hotels[cmd.HotelID]
	d := domain.Decide(cmd, hotel, ok, s.cfg.Now(), s.cfg.CommandTTL)
	b, created, err := s.repo.CreateBooking(ctx, cmd, d, announce(d))
	if err != nil {
		return b, false, fmt.Errorf("book %s: %w", cmd.BookingID, err)
	}
	return b, created, nil
}

// fanout announces a booking to everyone: BookingConfirmed or
// BookingRejected (the voucher, email and notification services act on
// them), then BookingStatusChanged.
func (s *Bookings) fanout(d domain.Decision) Announce {
	return func(b domain.Booking) []contracts.Contract {
		now := s.cfg.Now().UTC()
		var outcome contracts.Contract = b.Rejected(now)
		if b.Status == contracts.StatusConfirmed {
			outcome = b.Confirmed(d)
		}
		return []contracts.Contract{outcome, b.StatusChanged(now)}
	}
}

// statusOnly announces a booking by BookingStatusChanged alone: nobody
// starts a background task for it (direct mode runs them itself).
func (s *Bookings) statusOnly(domain.Decision) Announce {
	return func(b domain.Booking) []contracts.Contract {
		return []contracts.Contract{b.StatusChanged(s.cfg.Now().UTC())}
	}
}

// RecordTask moves a booking's task to state (done or failed) as the rules
// allow; a change bumps the booking's version and is announced by
// BookingStatusChanged. A booking not stored yet is ErrNotFound: the
// caller retries later.
func (s *Bookings) RecordTask(ctx context.Context, bookingID, task, state string) (domain.Booking, bool, error) {
	b, changed, err := s.repo.UpdateBooking(ctx, bookingID, func(b *domain.Booking) (bool, []contracts.Contract, error) {
		changed, err := b.SetTask(task, state)
		if err != nil || !changed {
			return false, nil, err
		}
		b.Version++
		return true, []contracts.Contract{b.StatusChanged(s.cfg.Now().UTC())}, nil
	})
	if err != nil && !IsNotFound(err) {
		return b, false, fmt.Errorf("set task %s of %s: %w", task, bookingID, err)
	}
	return b, changed, err
}

// Booking returns a stored booking.
func (s *Bookings) Booking(ctx context.Context, id string) (domain.Booking, error) {
	return s.repo.Get(ctx, id)
}

// BookingIDByIdempotencyKey returns the booking made with the key's hash.
func (s *Bookings) BookingIDByIdempotencyKey(ctx context.Context, keyHash string) (string, error) {
	return s.repo.BookingIDByIdempotencyKey(ctx, keyHash)
}

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
