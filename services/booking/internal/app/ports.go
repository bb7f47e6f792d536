package app

import (
	"context"
	"errors"

	"github.com/staybook/staybook/services/booking/internal/domain"
	"github.com/staybook/staybook/shared/contracts"
)

// Repository is the storage the use cases need (adapters/postgres). Every
// change it stores is stored with the events the use case gives for it, in
// the same transaction (the outbox): a change is never announced without
// being stored, nor stored without being announced.
type Repository interface {
	// Catalogue returns every hotel with its room types.
	Catalogue(ctx context.Context) ([]domain.Hotel, error)
	// Availability returns the rooms free on every night of stay, per room type of the hotel.
	Availability(ctx context.Context, hotelID string, stay domain.Stay) (map[string]int, error)
	// Get returns the booking with id, or ErrNotFound.
	Get(ctx context.Context, id string) (domain.Booking, error)
	// BookingIDByIdempotencyKey returns the ID of the booking made with the
	// key's hash, or ErrNotFound.
	BookingIDByIdempotencyKey(ctx context.Context, keyHash string) (string, error)
	// CreateBooking stores the booking of cmd as d decided, with a room on
	// every night of its stay; a decision to confirm may still end rejected
	// (sold_out: no room free on some night; idempotency_key_reused: the
	// key made another booking). Once the booking is stored, and in the
	// same transaction, it stores the events announce returns for it. A
	// booking with cmd's ID stored already is returned as it is, with
	// created false: nothing is written and announce is not called.
	CreateBooking(ctx context.Context, cmd contracts.BookRoom, d domain.Decision, announce Announce) (b domain.Booking, created bool, err error)
	// UpdateBooking applies change to the booking with id, loaded for
	// update, and if change reports a change, stores the booking and the
	// events change returns in one transaction. ErrNotFound if no booking
	// has that ID.
	UpdateBooking(ctx context.Context, id string, change Change) (b domain.Booking, changed bool, err error)
}

// Announce returns the events that announce a booking just stored, as stored.
type Announce func(b domain.Booking) []contracts.Contract

// Change changes a booking loaded for update. It reports whether anything
// changed, and the events announcing the change.
type Change func(b *domain.Booking) (changed bool, events []contracts.Contract, err error)

// Downstream is the synchronous way to the other services, used by direct
// mode only (adapters/downstreamclient calls their HTTP endpoints).
type Downstream interface {
	CreateVoucher(ctx context.Context, ev contracts.BookingConfirmed) (contracts.VoucherCreated, error)
	SendEmail(ctx context.Context, ev contracts.VoucherCreated) (contracts.ConfirmationEmailSent, error)
	Notify(ctx context.Context, event string, payload any) (contracts.CustomerNotified, error)
}

// ErrNotFound: no such booking, key or hotel. The Repository returns it.
var ErrNotFound = errors.New("not found")

// ErrInvalidStay: the dates asked for are not a stay.
var ErrInvalidStay = domain.ErrInvalidStay

// IsNotFound reports whether err means "no such booking".
func IsNotFound(err error) bool { return errors.Is(err, ErrNotFound) }
