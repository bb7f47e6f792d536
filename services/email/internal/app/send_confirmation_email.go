// Package app holds the email service's use case: send a booking's
// confirmation email, with its voucher attached, once, and announce it.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/staybook/staybook/shared/contracts"
	"github.com/staybook/staybook/shared/logging"

	"github.com/staybook/staybook/services/email/internal/domain"
)

// EmailStore is the sent-email log.
type EmailStore interface {
	// Get returns the booking's email record, or an error wrapping domain.ErrEmailNotFound.
	Get(ctx context.Context, bookingID string) (domain.Email, error)
	// Claim inserts draft unless the booking has a record already, claims
	// the booking's record for the length of fn (so that replicas handling
	// the same booking never send at once: a later claimant waits, and
	// finds the email sent), and stores what fn made of it, whether fn
	// succeeded or not, even if the database is briefly lost after fn. fn is
	// not called when the email is sent already. It returns the stored
	// record and fn's error.
	Claim(ctx context.Context, draft domain.Email, fn func(ctx context.Context, e *domain.Email) error) (domain.Email, error)
}

// VoucherSource fetches a booking's voucher PDF.
type VoucherSource interface {
	VoucherPDF(ctx context.Context, bookingID string) ([]byte, error)
}

// Mailer hands an email to an SMTP server. An error wrapping
// domain.ErrRecipientRejected means the server refused the recipient for
// good; any other error may go away on retry.
type Mailer interface {
	Send(ctx context.Context, email domain.OutgoingEmail) error
}

// Events announces sent emails (ConfirmationEmailSent) to the other
// services, confirmed by the broker: a cqrs.EventBus.
type Events interface {
	Publish(ctx context.Context, event any) error
}

// Observer counts what the use case does (metrics); it may be nil.
type Observer interface {
	EmailSent()
	AlreadySent()
}

// Config configures SendConfirmationEmail.
type Config struct {
	Store    EmailStore
	Vouchers VoucherSource
	Mailer   Mailer
	Events   Events
	Observer Observer
	Logger   *slog.Logger
	// Now is the clock; time.Now if nil.
	Now func() time.Time
}

// SendConfirmationEmail sends a booking's confirmation email at most once
// per booking, as far as the service can tell (see README, "Idempotency").
type SendConfirmationEmail struct {
	cfg Config
}

// NewSendConfirmationEmail builds the use case.
func NewSendConfirmationEmail(cfg Config) (*SendConfirmationEmail, error) {
	if cfg.Store == nil || cfg.Vouchers == nil || cfg.Mailer == nil || cfg.Events == nil {
		return nil, errors.New("send confirmation email: Store, Vouchers, Mailer and Events are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &SendConfirmationEmail{cfg: cfg}, nil
}

// SendAndAnnounce sends the email (unless it was sent before) and publishes
// ConfirmationEmailSent, also when it had been sent before: the earlier
// publish may be the very thing that failed.
func (uc *SendConfirmationEmail) SendAndAnnounce(ctx context.Context, voucher contracts.VoucherCreated) (contracts.ConfirmationEmailSent, error) {
	event, err := uc.Send(ctx, voucher)
	if err != nil {
		return event, err
	}
	if err := uc.cfg.Events.Publish(ctx, event); err != nil {
		return event, fmt.Errorf("announce email of booking %s: %w", event.BookingID, err)
	}
	return event, nil
}

// Send sends the booking's confirmation email unless the log says it was
// sent, and returns what was sent. It publishes nothing (the direct mode's
// caller is told in its answer).
func (uc *SendConfirmationEmail) Send(ctx context.Context, voucher contracts.VoucherCreated) (contracts.ConfirmationEmailSent, error) {
	c, err := domain.NewConfirmation(voucher.BookingID, voucher.GuestName, voucher.GuestEmail,
		voucher.HotelName, voucher.CheckIn, voucher.CheckOut)
	if err != nil {
		return contracts.ConfirmationEmailSent{}, err
	}
	ctx = logging.WithAttrs(ctx,
		slog.String("booking_id", c.BookingID),
		slog.String("guest_email", logging.MaskEmail(c.GuestEmail)))

	// A cheap look first: a redelivered message needs neither the voucher
	// nor a lock. The decision that counts is taken again under the lock.
	rec, err := uc.cfg.Store.Get(ctx, c.BookingID)
	switch {
	case err == nil && rec.Sent():
		return uc.alreadySent(ctx, rec), nil
	case err != nil && !errors.Is(err, domain.ErrEmailNotFound):
		return contracts.ConfirmationEmailSent{}, fmt.Errorf("look up email of booking %s: %w", c.BookingID, err)
	}

	pdf, err := uc.cfg.Vouchers.VoucherPDF(ctx, c.BookingID)
	if err != nil {
		return contracts.ConfirmationEmailSent{}, fmt.Errorf("fetch voucher of booking %s: %w", c.BookingID, err)
	}
	out, err := domain.Compose(c, pdf)
	if err != nil {
		return contracts.ConfirmationEmailSent{}, err
	}

	sentNow := false
	rec, err = uc.cfg.Store.Claim(ctx, domain.NewEmail(c), func(ctx context.Context, e *domain.Email) error {
		if e.Sent() { // another delivery, maybe on another replica, got here first
			return nil
		}
		if err := uc.cfg.Mailer.Send(ctx, out); err != nil {
			e.MarkFailed(err)
			return err
		}
		// Truncated to what PostgreSQL keeps, so the event and the record agree.
		e.MarkSent(uc.cfg.Now().UTC().Truncate(time.Microsecond))
		sentNow = true
		return nil
	})
	if err != nil {
		return contracts.ConfirmationEmailSent{}, fmt.Errorf("send confirmation email of booking %s: %w", c.BookingID, err)
	}
	if !sentNow {
		return uc.alreadySent(ctx, rec), nil
	}
	if uc.cfg.Observer != nil {
		uc.cfg.Observer.EmailSent()
	}
	uc.cfg.Logger.InfoContext(ctx, "confirmation email sent", "message_id", rec.MessageID, "attempts", rec.Attempts)
	return SentEvent(rec), nil
}

func (uc *SendConfirmationEmail) alreadySent(ctx context.Context, rec domain.Email) contracts.ConfirmationEmailSent {
	if uc.cfg.Observer != nil {
		uc.cfg.Observer.AlreadySent()
	}
	uc.cfg.Logger.InfoContext(ctx, "confirmation email was sent before; not sending it again",
		"message_id", rec.MessageID, "sent_at", rec.SentAt)
	return SentEvent(rec)
}

// SentEvent is the ConfirmationEmailSent event of a sent email.
func SentEvent(e domain.Email) contracts.ConfirmationEmailSent {
	return contracts.ConfirmationEmailSent{
		BookingID:  e.BookingID,
		GuestName:  e.RecipientName,
		GuestEmail: e.Recipient,
		MessageID:  e.MessageID,
		SentAt:     e.SentAt,
	}
}
