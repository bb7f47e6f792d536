// Package ports lets the world reach the voucher use cases: the handler of
// BookingConfirmed messages and the internal HTTP API.
package ports

import (
	"context"
	"errors"
	"fmt"

	"github.com/ThreeDotsLabs/watermill/message"

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

// BookingConfirmedHandler handles events.BookingConfirmed messages.
type BookingConfirmedHandler struct {
	uc VoucherCreator
}

// NewBookingConfirmedHandler builds the handler.
func NewBookingConfirmedHandler(uc VoucherCreator) *BookingConfirmedHandler {
	if uc == nil {
		panic("ports: nil use case")
	}
	return &BookingConfirmedHandler{uc: uc}
}

// Handle decodes msg and creates its voucher. An undecodable message or a
// booking that can never make a voucher is a permanent error (dead-lettered
// at once); anything else is transient (retried).
func (h *BookingConfirmedHandler) Handle(msg *message.Message) error {
	ev, err := contracts.Decode[contracts.BookingConfirmed](msg)
	if err != nil {
		return fmt.Errorf("%s: %w", HandlerName, err) // wraps contracts.ErrMalformed: permanent
	}
	if _, err := h.uc.Handle(msg.Context(), ev); err != nil {
		if errors.Is(err, app.ErrInvalidBooking) {
			return messaging.Permanent(err)
		}
		return err
	}
	return nil
}
