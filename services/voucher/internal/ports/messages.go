// Package ports lets the world reach the voucher use cases: the handler of
// BookingConfirmed messages and the internal HTTP API.
package ports

import (
	"context"
	"errors"

	"github.com/ThreeDotsLabs/watermill/components/cqrs"

	"github.com/staybook/staybook/services/voucher/internal/app"
	"github.com/staybook/staybook/shared/contracts"
	"github.com/staybook/staybook/shared/messaging"
)

// HandlerName names the BookingConfirmed handler in logs, metrics, dead
// letters and its retry variables (CREATE_VOUCHER_MAX_ATTEMPTS, ...).
const HandlerName = "create_voucher"

// VoucherCreator is the use case behind both ports.
type VoucherCreator interface {
	Handle(ctx context.Context, ev contracts.BookingConfirmed) (contracts.VoucherCreated, error)
	Create(ctx context.Context, ev contracts.BookingConfirmed) (contracts.VoucherCreated, bool, error)
}

// NewBookingConfirmedHandler is the handler of BookingConfirmed events: it
// creates the booking's voucher and announces it. A booking that can never
// make a voucher is a permanent error (dead-lettered at once), as is an
// undecodable message (the cqrs marshaler refuses it); anything else is
// transient (retried).
func NewBookingConfirmedHandler(uc VoucherCreator) cqrs.EventHandler {
	if uc == nil {
		panic("ports: nil use case")
	}
	return cqrs.NewEventHandler(HandlerName, func(ctx context.Context, ev *contracts.BookingConfirmed) error {
		if _, err := uc.Handle(ctx, *ev); err != nil {
			if errors.Is(err, app.ErrInvalidBooking) {
				return messaging.Permanent(err)
			}
			return err
		}
		return nil
	})
}
