package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/staybook/staybook/shared/contracts"
	"github.com/staybook/staybook/shared/httpx"
	"github.com/staybook/staybook/shared/logging"
	"github.com/staybook/staybook/shared/messaging"
	"github.com/staybook/staybook/shared/telemetry"

	"github.com/staybook/staybook/services/web/internal/domain"
)

// How bookings reach the booking service (BOOKING_TRANSPORT).
const (
	TransportQueue  = "queue"  // a BookRoom command on commands.BookRoom; 202
	TransportDirect = "direct" // POST /internal/bookings in the request; 201
)

// Commands sends commands to their queues: a cqrs.CommandBus
// (messaging.CommandBus), BookRoom to commands.BookRoom, returning once the
// broker confirmed it.
type Commands interface {
	Send(ctx context.Context, cmd any) error
}

// Catalogue is the cached catalogue (CatalogueCache).
type Catalogue interface {
	Get(ctx context.Context) (*domain.Catalogue, error)
}

// BookingsConfig configures the booking use cases.
type BookingsConfig struct {
	Transport string
	IDs       *domain.Issuer
	Service   BookingService
	Catalogue Catalogue
	Commands  Commands // queue transport only
	Vouchers  Vouchers
	// Keys are the Idempotency-Keys this replica knows to be taken (a
	// reused key with another body is a 422); default: 100,000 keys.
	Keys    *TakenKeys
	Metrics *Metrics
	Logger  *slog.Logger
	// Now is the clock ("today" for dates).
	Now func() time.Time
}

// Bookings are the web tier's booking use cases, for the JSON API and the
// pages alike: place a booking (validate, assign its ID, send BookRoom or,
// in direct mode, book over HTTP), read its status, its voucher, the
// catalogue and the availability of a hotel.
type Bookings struct {
	cfg BookingsConfig
	log *slog.Logger
}

// NewBookings builds the use cases.
func NewBookings(cfg BookingsConfig) (*Bookings, error) {
	if cfg.IDs == nil || cfg.Service == nil || cfg.Catalogue == nil || cfg.Vouchers == nil {
		panic("app: missing dependency")
	}
	switch cfg.Transport {
	case TransportQueue:
		if cfg.Commands == nil {
			panic("app: queue transport without Commands")
		}
	case TransportDirect:
	default:
		return nil, fmt.Errorf("transport %q is not %q or %q", cfg.Transport, TransportQueue, TransportDirect)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Keys == nil {
		cfg.Keys = NewTakenKeys(100_000)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics(nil)
	}
	return &Bookings{cfg: cfg, log: cfg.Logger}, nil
}

// Now is the use cases' clock ("today" for dates).
func (b *Bookings) Now() time.Time { return b.cfg.Now() }

// Metrics are the use cases' metrics.
func (b *Bookings) Metrics() *Metrics { return b.cfg.Metrics }

// Verify tells a booking ID this web tier issued.
func (b *Bookings) Verify(id string) bool { return b.cfg.IDs.Verify(id) }

// Catalogue is the cached catalogue; ErrCatalogueUnavailable if none was ever fetched.
func (b *Bookings) Catalogue(ctx context.Context) (*domain.Catalogue, error) {
	return b.cfg.Catalogue.Get(ctx)
}

// Booking is the booking as the booking service has it; ErrBookingNotFound
// if it has not stored it (yet).
func (b *Bookings) Booking(ctx context.Context, id string) (*domain.Booking, error) {
	return b.cfg.Service.Booking(ctx, id)
}

// Availability is the rooms free on every night of a stay (live, not cached).
func (b *Bookings) Availability(ctx context.Context, hotelID, checkIn, checkOut string) (*domain.Availability, error) {
	return b.cfg.Service.Availability(ctx, hotelID, checkIn, checkOut)
}

// Voucher opens the booking's voucher PDF; ErrVoucherNotFound if there is none yet.
func (b *Bookings) Voucher(ctx context.Context, id string) (*VoucherPDF, error) {
	return b.cfg.Vouchers.Voucher(ctx, id)
}

// RequestRejected counts a booking request refused before it reached the
// use case (a bad header or body), by its error code.
func (b *Bookings) RequestRejected(err error) { b.rejected(err) }

// Placed is a booking request that was accepted.
type Placed struct {
	// ID is the booking's ID.
	ID string
	// Booking is the booking as made in direct mode; nil when the request
	// was queued (its status is pending until the booking service takes it).
	Booking *domain.Booking
	// Created is false in direct mode when the booking existed already (a
	// repeated idempotency key).
	Created bool
}

// UnavailableError is a booking request that could not be taken now (503):
// no catalogue, the broker or the booking service unreachable. Retrying with
// the same idempotency key is safe.
type UnavailableError struct {
	Code    string
	Message string
}

func (e *UnavailableError) Error() string { return e.Code + ": " + e.Message }

// Place validates a booking request, assigns its ID (from key, the
// idempotency key, when not empty) and queues the BookRoom command, or in
// direct mode books over HTTP. It is the one way in for the JSON API and the
// booking form. Errors: *httpx.RequestError for bad input,
// *StatusError for a direct booking the booking service refused,
// *UnavailableError when it cannot be taken now; anything else is internal.
func (b *Bookings) Place(ctx context.Context, req BookingRequest, key string) (Placed, error) {
	if key != "" {
		if err := ValidateIdempotencyKey(key); err != nil {
			return Placed{}, b.rejected(err)
		}
	}
	valid, err := req.Validate(b.cfg.Now())
	if err != nil {
		return Placed{}, b.rejected(requestError(err))
	}
	cat, err := b.cfg.Catalogue.Get(ctx)
	if err != nil {
		b.log.ErrorContext(ctx, "booking refused: no catalogue", "err", err)
		b.cfg.Metrics.booking(resultUnavailable)
		return Placed{}, &UnavailableError{Code: CodeCatalogueUnavailable, Message: "the hotel catalogue is not available yet; retry later"}
	}
	if err := valid.CheckCatalogue(cat); err != nil {
		return Placed{}, b.rejected(requestError(err))
	}

	cmd := contracts.BookRoom{
		HotelID: valid.HotelID, RoomType: valid.RoomType, CheckIn: valid.CheckIn, CheckOut: valid.CheckOut,
		Guests: valid.Guests, GuestName: valid.GuestName, GuestEmail: valid.GuestEmail,
		RequestedAt: b.cfg.Now().UTC(),
	}
	if key != "" {
		cmd.BookingID = b.cfg.IDs.FromKey(key, valid.Canonical())
		cmd.IdempotencyKeyHash = domain.KeyHash(key)
	} else if cmd.BookingID, err = b.cfg.IDs.Random(); err != nil {
		b.log.ErrorContext(ctx, "booking ID", "err", err)
		return Placed{}, fmt.Errorf("issue booking ID: %w", err)
	}
	ctx = logging.WithAttrs(ctx, slog.String("booking_id", cmd.BookingID))
	// The request's span carries the booking ID, so that the admin trace
	// page finds the whole booking from the browser's request on.
	trace.SpanFromContext(ctx).SetAttributes(telemetry.BookingIDKey.String(cmd.BookingID))
	if other, ok := b.cfg.Keys.Booking(cmd.IdempotencyKeyHash); ok && other != cmd.BookingID {
		return Placed{}, b.rejected(&httpx.RequestError{Status: http.StatusUnprocessableEntity, Code: CodeIdempotencyKeyReused,
			Field: IdempotencyKeyField, Message: "this Idempotency-Key was used for another booking request"})
	}

	if b.cfg.Transport == TransportDirect {
		return b.bookDirect(ctx, cmd)
	}
	return b.enqueue(ctx, cmd)
}

// enqueue sends the command to commands.BookRoom (Commands) and returns once the broker
// has confirmed it; an *UnavailableError if it did not within the deadline,
// refused it (the queue is full) or cannot be reached.
func (b *Bookings) enqueue(ctx context.Context, cmd contracts.BookRoom) (Placed, error) {
	// The publish goes on if the client hangs up: the outcome is the same
	// either way and a half-made publish helps nobody.
	if err := b.cfg.Commands.Send(context.WithoutCancel(ctx), cmd); err != nil {
		b.log.WarnContext(ctx, "booking not queued", "err", err)
		b.cfg.Metrics.booking(resultUnavailable)
		if errors.Is(err, messaging.ErrBusy) {
			// Nothing was sent: the broker had not confirmed the messages
			// already in flight, and no room came free in time.
			return Placed{}, &UnavailableError{Code: CodeUnavailable,
				Message: "too many bookings are awaiting the broker; nothing was queued: retry later"}
		}
		return Placed{}, &UnavailableError{Code: CodeUnavailable,
			Message: "the booking could not be queued; retry with the same Idempotency-Key (a booking may have been made)"}
	}
	b.cfg.Keys.Learn(cmd.IdempotencyKeyHash, cmd.BookingID)
	b.log.InfoContext(ctx, "booking queued", "hotel_id", cmd.HotelID, "room_type", cmd.RoomType,
		"guest_email", logging.MaskEmail(cmd.GuestEmail), "idempotent", cmd.IdempotencyKeyHash != "")
	b.cfg.Metrics.booking(resultAccepted)
	return Placed{ID: cmd.BookingID}, nil
}

// bookDirect books in the request (the design without a queue): the final
// state, the booking service's 4xx as a *StatusError, an
// *UnavailableError if it is down or failed.
func (b *Bookings) bookDirect(ctx context.Context, cmd contracts.BookRoom) (Placed, error) {
	made, created, err := b.cfg.Service.Book(ctx, cmd)
	var se *StatusError
	switch {
	case errors.As(err, &se):
		b.log.InfoContext(ctx, "booking refused by the booking service", "status", se.Status, "code", se.Body.Error.Code)
		b.cfg.Metrics.booking(resultInvalid)
		return Placed{}, se
	case err != nil:
		b.log.WarnContext(ctx, "direct booking failed", "err", err)
		b.cfg.Metrics.booking(resultUnavailable)
		return Placed{}, &UnavailableError{Code: CodeBookingUnavailable, Message: "the booking service is not available; retry with the same Idempotency-Key"}
	}
	b.cfg.Keys.Learn(cmd.IdempotencyKeyHash, cmd.BookingID)
	b.log.InfoContext(ctx, "booking made directly", "status", made.Status, "created", created)
	b.cfg.Metrics.booking(resultCreated)
	return Placed{ID: cmd.BookingID, Booking: made, Created: created}, nil
}

// rejected counts a refused request by its error code and returns err.
func (b *Bookings) rejected(err error) error {
	var re *httpx.RequestError
	if errors.As(err, &re) {
		b.cfg.Metrics.booking(re.Code)
	}
	return err
}

// Status is the booking's current state; an issued ID the booking service
// does not know yet is pending (its command is still queued).
func (b *Bookings) Status(ctx context.Context, id string) (BookingView, error) {
	stored, err := b.cfg.Service.Booking(ctx, id)
	switch {
	case errors.Is(err, ErrBookingNotFound):
		return pendingView(id), nil
	case err != nil:
		b.log.WarnContext(ctx, "booking status not available", "booking_id", id, "err", err)
		return BookingView{}, err
	}
	return ViewOfBooking(stored), nil
}
