// Package app holds the voucher service's use cases: CreateVoucher turns a
// confirmed booking into a stored PDF and announces it; Vouchers serves the
// stored ones. They see neither AMQP deliveries nor HTTP requests.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/staybook/staybook/services/voucher/internal/domain"
	"github.com/staybook/staybook/shared/contracts"
	"github.com/staybook/staybook/shared/logging"
)

// ErrInvalidBooking wraps a *domain.ValidationError: the booking can never
// make a voucher, so retrying is pointless.
var ErrInvalidBooking = errors.New("booking cannot make a voucher")

// VoucherStore keeps one voucher per booking.
type VoucherStore interface {
	// Find returns the metadata of a booking's voucher or domain.ErrNotFound.
	Find(ctx context.Context, bookingID string) (domain.Record, error)
	// Save stores rec unless the booking has a voucher already; it returns
	// the stored voucher's metadata and whether rec was stored.
	Save(ctx context.Context, rec domain.Record) (domain.Record, bool, error)
	// Get returns a booking's voucher with its PDF or domain.ErrNotFound.
	Get(ctx context.Context, bookingID string) (domain.Record, error)
}

// Renderer draws a voucher as a PDF.
type Renderer interface {
	Render(ctx context.Context, v domain.Voucher) ([]byte, error)
}

// Events announces a created voucher (VoucherCreated), confirmed by the
// broker: a cqrs.EventBus.
type Events interface {
	Publish(ctx context.Context, event any) error
}

// Config configures CreateVoucher.
type Config struct {
	Store    VoucherStore
	Renderer Renderer
	Events   Events
	Now      func() time.Time // the clock; time.Now by default
	Logger   *slog.Logger
	// OnOutcome, if set, is told whether each call created a voucher or
	// found one (metrics go here).
	OnOutcome func(created bool)
}

// CreateVoucher renders, stores and announces the voucher of a confirmed
// booking, once per booking however often it is asked.
type CreateVoucher struct {
	cfg Config
}

// NewCreateVoucher builds the use case.
func NewCreateVoucher(cfg Config) *CreateVoucher {
	if cfg.Store == nil || cfg.Renderer == nil || cfg.Events == nil {
		panic("app: CreateVoucher needs a store, a renderer and an event publisher")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &CreateVoucher{cfg: cfg}
}

// Handle creates the voucher of ev (see Create) and publishes VoucherCreated.
// It publishes again when the voucher existed already: the message may be a
// redelivery whose first publish was lost, and the consumers are idempotent.
// Only an error wrapping ErrInvalidBooking is permanent; a failed publish
// is transient (the voucher is kept, so a retry does not render again).
func (uc *CreateVoucher) Handle(ctx context.Context, ev contracts.BookingConfirmed) (contracts.VoucherCreated, error) {
	created, _, err := uc.Create(ctx, ev)
	if err != nil {
		return contracts.VoucherCreated{}, err
	}
	if err := uc.cfg.Events.Publish(ctx, created); err != nil {
		return contracts.VoucherCreated{}, fmt.Errorf("announce voucher %s: %w", created.BookingID, err)
	}
	return created, nil
}

// Create renders and stores the voucher of ev unless the booking has one,
// and returns the VoucherCreated event that describes the stored voucher
// and whether this call stored it. It publishes nothing: the direct mode's
// caller hands the result on itself.
func (uc *CreateVoucher) Create(ctx context.Context, ev contracts.BookingConfirmed) (contracts.VoucherCreated, bool, error) {
	v, err := domain.NewVoucher(confirmedBooking(ev), uc.cfg.Now())
	if err != nil {
		return contracts.VoucherCreated{}, false, fmt.Errorf("%w: %w", ErrInvalidBooking, err)
	}
	ctx = logging.WithAttrs(ctx, slog.String("booking_id", v.BookingID))

	rec, err := uc.cfg.Store.Find(ctx, v.BookingID)
	switch {
	case err == nil:
		uc.cfg.Logger.InfoContext(ctx, "voucher exists already; not rendered again", "size_bytes", rec.SizeBytes)
		uc.outcome(false)
		return voucherCreated(v, rec), false, nil
	case !errors.Is(err, domain.ErrNotFound):
		return contracts.VoucherCreated{}, false, fmt.Errorf("create voucher %s: %w", v.BookingID, err)
	}

	doc, err := uc.cfg.Renderer.Render(ctx, v)
	if err != nil {
		return contracts.VoucherCreated{}, false, fmt.Errorf("create voucher %s: %w", v.BookingID, err)
	}
	rec, stored, err := uc.cfg.Store.Save(ctx, domain.Record{BookingID: v.BookingID, PDF: doc, CreatedAt: v.IssuedAt})
	if err != nil {
		return contracts.VoucherCreated{}, false, fmt.Errorf("create voucher %s: %w", v.BookingID, err)
	}
	if stored {
		uc.cfg.Logger.InfoContext(ctx, "voucher created", "size_bytes", rec.SizeBytes)
	} else {
		uc.cfg.Logger.InfoContext(ctx, "voucher stored meanwhile by another delivery; keeping that one")
	}
	uc.outcome(stored)
	return voucherCreated(v, rec), stored, nil
}

func (uc *CreateVoucher) outcome(created bool) {
	if uc.cfg.OnOutcome != nil {
		uc.cfg.OnOutcome(created)
	}
}

func confirmedBooking(ev contracts.BookingConfirmed) domain.ConfirmedBooking {
	return domain.ConfirmedBooking{
		BookingID:    ev.BookingID,
		HotelName:    ev.HotelName,
		HotelAddress: ev.HotelAddress,
		HotelCity:    ev.HotelCity,
		RoomType:     ev.RoomType,
		RoomTypeName: ev.RoomTypeName,
		CheckIn:      ev.CheckIn,
		CheckOut:     ev.CheckOut,
		Nights:       ev.Nights,
		Guests:       ev.Guests,
		GuestName:    ev.GuestName,
		GuestEmail:   ev.GuestEmail,
		TotalPrice:   domain.Money{Amount: ev.TotalPrice.Amount, Currency: ev.TotalPrice.Currency},
	}
}

func voucherCreated(v domain.Voucher, rec domain.Record) contracts.VoucherCreated {
	return contracts.VoucherCreated{
		BookingID:  v.BookingID,
		GuestName:  v.GuestName,
		GuestEmail: v.GuestEmail,
		HotelName:  v.HotelName,
		CheckIn:    v.CheckIn.Format(domain.DateLayout),
		CheckOut:   v.CheckOut.Format(domain.DateLayout),
		VoucherURL: domain.URL(v.BookingID),
		SizeBytes:  rec.SizeBytes,
		CreatedAt:  rec.CreatedAt.UTC(),
	}
}
