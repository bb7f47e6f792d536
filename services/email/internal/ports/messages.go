// Package ports receives the email service's work: VoucherCreated messages
// from the broker and the internal HTTP API. Each port decodes, calls the use
// case and maps its errors; the rules are the use case's.
package ports

import (
	"context"
	"log/slog"

	"github.com/ThreeDotsLabs/watermill/components/cqrs"

	"github.com/staybook/staybook/shared/contracts"
	"github.com/staybook/staybook/shared/logging"
	"github.com/staybook/staybook/shared/messaging"

	"github.com/staybook/staybook/services/email/internal/domain"
)

// HandlerName names the VoucherCreated handler in logs, metrics, dead
// letters (dl_handler) and its retry variables (SEND_CONFIRMATION_EMAIL_*).
const HandlerName = "send_confirmation_email"

// ConfirmationSender is the use case as the ports see it.
type ConfirmationSender interface {
	Send(ctx context.Context, voucher contracts.VoucherCreated) (contracts.ConfirmationEmailSent, error)
	SendAndAnnounce(ctx context.Context, voucher contracts.VoucherCreated) (contracts.ConfirmationEmailSent, error)
}

// NewVoucherCreatedHandler is the handler of VoucherCreated events: it
// sends the confirmation email and announces it. An undecodable message
// (the cqrs marshaler refuses it), an unusable booking ID or address, and a
// recipient the SMTP server refuses for good are permanent (dead-lettered at
// once); anything else is retried.
func NewVoucherCreatedHandler(uc ConfirmationSender) cqrs.EventHandler {
	if uc == nil {
		panic("ports: nil use case")
	}
	return cqrs.NewEventHandler(HandlerName, func(ctx context.Context, voucher *contracts.VoucherCreated) error {
		ctx = logging.WithAttrs(ctx, slog.String("booking_id", voucher.BookingID))
		if _, err := uc.SendAndAnnounce(ctx, *voucher); err != nil {
			if domain.IsPermanent(err) {
				return messaging.Permanent(err)
			}
			return err
		}
		return nil
	})
}
