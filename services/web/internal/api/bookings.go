package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"

	"go.opentelemetry.io/otel/trace"

	"github.com/staybook/staybook/shared/contracts"
	"github.com/staybook/staybook/shared/httpx"
	"github.com/staybook/staybook/shared/logging"
	"github.com/staybook/staybook/shared/messaging"
	"github.com/staybook/staybook/shared/telemetry"

	"github.com/staybook/staybook/services/web/internal/booking"
	"github.com/staybook/staybook/services/web/internal/bookingid"
	"github.com/staybook/staybook/services/web/internal/catalogue"
	"github.com/staybook/staybook/services/web/internal/voucher"
)

// createBooking is POST /api/bookings: validate, assign the ID, then queue
// the BookRoom command (202) or, in direct mode, book over HTTP (201).
func (a *API) createBooking(w http.ResponseWriter, r *http.Request) {
	key, err := idempotencyKey(r)
	if err != nil {
		a.reject(w, err)
		return
	}
	var req BookingRequest
	if err := httpx.DecodeJSON(w, r, &req, a.cfg.MaxBodyBytes); err != nil {
		a.reject(w, err)
		return
	}
	placed, err := a.Place(r.Context(), req, key)
	var (
		se *booking.StatusError
		ue *UnavailableError
	)
	switch {
	case errors.As(err, &se):
		httpx.WriteJSON(w, se.Status, se.Body)
		return
	case errors.As(err, &ue):
		a.unavailable(w, ue.Code, ue.Message)
		return
	case err != nil:
		httpx.WriteRequestError(w, err) // a *RequestError keeps its 4xx; anything else is a 500
		return
	}
	w.Header().Set("Location", statusURL(placed.ID))
	if placed.Booking == nil {
		w.Header().Set("Retry-After", a.retryAfter)
		httpx.WriteJSON(w, http.StatusAccepted, Accepted{ID: placed.ID, Status: contracts.StatusPending,
			StatusURL: statusURL(placed.ID), TraceID: telemetry.TraceID(r.Context())})
		return
	}
	status := http.StatusCreated
	if !placed.Created {
		status = http.StatusOK // a repeated Idempotency-Key: the booking made before
	}
	v := viewOfBooking(placed.Booking)
	v.TraceID = telemetry.TraceID(r.Context())
	httpx.WriteJSON(w, status, v)
}

// Placed is a booking request that was accepted.
type Placed struct {
	// ID is the booking's ID.
	ID string
	// Booking is the booking as made in direct mode; nil when the request
	// was queued (its status is pending until the booking service takes it).
	Booking *booking.Booking
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
// *booking.StatusError for a direct booking the booking service refused,
// *UnavailableError when it cannot be taken now; anything else is internal.
func (a *API) Place(ctx context.Context, req BookingRequest, key string) (Placed, error) {
	if key != "" {
		if err := ValidateIdempotencyKey(key); err != nil {
			return Placed{}, a.rejected(err)
		}
	}
	valid, err := req.validate(a.cfg.Now())
	if err != nil {
		return Placed{}, a.rejected(err)
	}
	cat, err := a.cfg.Catalogue.Get(ctx)
	if err != nil {
		a.log.ErrorContext(ctx, "booking refused: no catalogue", "err", err)
		a.cfg.Metrics.booking(resultUnavailable)
		return Placed{}, &UnavailableError{Code: CodeCatalogueUnavailable, Message: "the hotel catalogue is not available yet; retry later"}
	}
	if err := valid.checkCatalogue(cat); err != nil {
		return Placed{}, a.rejected(err)
	}

	cmd := contracts.BookRoom{
		HotelID: valid.HotelID, RoomType: valid.RoomType, CheckIn: valid.CheckIn, CheckOut: valid.CheckOut,
		Guests: valid.Guests, GuestName: valid.GuestName, GuestEmail: valid.GuestEmail,
		RequestedAt: a.cfg.Now().UTC(),
	}
	if key != "" {
		cmd.BookingID = a.cfg.IDs.FromKey(key, valid.canonical())
		cmd.IdempotencyKeyHash = bookingid.KeyHash(key)
	} else if cmd.BookingID, err = a.cfg.IDs.Random(); err != nil {
		a.log.ErrorContext(ctx, "booking ID", "err", err)
		return Placed{}, fmt.Errorf("issue booking ID: %w", err)
	}
	ctx = logging.WithAttrs(ctx, slog.String("booking_id", cmd.BookingID))
	// The request's span carries the booking ID, so that the admin trace
	// page finds the whole booking from the browser's request on.
	trace.SpanFromContext(ctx).SetAttributes(telemetry.BookingIDKey.String(cmd.BookingID))
	if key != "" && a.keyUsedElsewhere(ctx, cmd) {
		return Placed{}, a.rejected(&httpx.RequestError{Status: http.StatusUnprocessableEntity, Code: CodeIdempotencyKeyReused,
			Field: idempotencyHeader, Message: "this Idempotency-Key was used for another booking request"})
	}

	if a.cfg.Transport == TransportDirect {
		return a.bookDirect(ctx, cmd)
	}
	return a.enqueue(ctx, cmd)
}

// keyUsedElsewhere asks the booking service whether the key already belongs
// to another booking. If it cannot answer, the command goes ahead: the
// booking service checks the key again when it stores the booking (and
// rejects it with reason idempotency_key_reused).
func (a *API) keyUsedElsewhere(ctx context.Context, cmd contracts.BookRoom) bool {
	other, err := a.cfg.Bookings.IdempotencyKeyBooking(ctx, cmd.IdempotencyKeyHash)
	switch {
	case errors.Is(err, booking.ErrNotFound):
		return false
	case err != nil:
		a.log.WarnContext(ctx, "idempotency key not checked: booking service did not answer", "err", err)
		return false
	}
	return other != cmd.BookingID
}

// enqueue puts the command on commands.BookRoom and returns once the broker
// has confirmed it; an *UnavailableError if it did not within the deadline,
// refused it (the queue is full) or cannot be reached.
func (a *API) enqueue(ctx context.Context, cmd contracts.BookRoom) (Placed, error) {
	// The publish goes on if the client hangs up: the outcome is the same
	// either way and a half-made publish helps nobody.
	msg, err := contracts.NewMessage(context.WithoutCancel(ctx), cmd, cmd.BookingID)
	if err != nil {
		a.log.ErrorContext(ctx, "build BookRoom message", "err", err)
		return Placed{}, fmt.Errorf("build BookRoom message: %w", err)
	}
	if err := a.cfg.Publisher.Publish(messaging.BookRoomQueue, msg); err != nil {
		a.log.WarnContext(ctx, "booking not queued", "err", err)
		a.cfg.Metrics.booking(resultUnavailable)
		return Placed{}, &UnavailableError{Code: CodeUnavailable,
			Message: "the booking could not be queued; retry with the same Idempotency-Key (a booking may have been made)"}
	}
	a.log.InfoContext(ctx, "booking queued", "hotel_id", cmd.HotelID, "room_type", cmd.RoomType,
		"guest_email", logging.MaskEmail(cmd.GuestEmail), "idempotent", cmd.IdempotencyKeyHash != "")
	a.cfg.Metrics.booking(resultAccepted)
	return Placed{ID: cmd.BookingID}, nil
}

// bookDirect books in the request (the design without a queue): the final
// state, the booking service's 4xx as a *booking.StatusError, an
// *UnavailableError if it is down or failed.
func (a *API) bookDirect(ctx context.Context, cmd contracts.BookRoom) (Placed, error) {
	b, created, err := a.cfg.Bookings.Book(ctx, cmd)
	var se *booking.StatusError
	switch {
	case errors.As(err, &se):
		a.log.InfoContext(ctx, "booking refused by the booking service", "status", se.Status, "code", se.Body.Error.Code)
		a.cfg.Metrics.booking(resultInvalid)
		return Placed{}, se
	case err != nil:
		a.log.WarnContext(ctx, "direct booking failed", "err", err)
		a.cfg.Metrics.booking(resultUnavailable)
		return Placed{}, &UnavailableError{Code: CodeBookingUnavailable, Message: "the booking service is not available; retry with the same Idempotency-Key"}
	}
	a.log.InfoContext(ctx, "booking made directly", "status", b.Status, "created", created)
	a.cfg.Metrics.booking(resultCreated)
	return Placed{ID: cmd.BookingID, Booking: b, Created: created}, nil
}

// rejected counts a refused request by its error code and returns err.
func (a *API) rejected(err error) error {
	var re *httpx.RequestError
	if errors.As(err, &re) {
		a.cfg.Metrics.booking(re.Code)
	}
	return err
}

func (a *API) reject(w http.ResponseWriter, err error) {
	var re *httpx.RequestError
	if errors.As(err, &re) {
		a.cfg.Metrics.booking(re.Code)
	}
	httpx.WriteRequestError(w, err)
}

// getBooking is GET /api/bookings/{id}.
func (a *API) getBooking(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !a.cfg.IDs.Verify(id) {
		notFound(w, "booking")
		return
	}
	v, err := a.snapshot(r.Context(), id)
	if err != nil {
		a.unavailable(w, CodeBookingUnavailable, "the booking service is not available; retry later")
		return
	}
	httpx.WriteJSON(w, http.StatusOK, v)
}

// snapshot is the booking's current state; an issued ID the booking service
// does not know yet is pending (its command is still queued).
func (a *API) snapshot(ctx context.Context, id string) (BookingView, error) {
	b, err := a.cfg.Bookings.Booking(ctx, id)
	switch {
	case errors.Is(err, booking.ErrNotFound):
		return pendingView(id), nil
	case err != nil:
		a.log.WarnContext(ctx, "booking status not available", "booking_id", id, "err", err)
		return BookingView{}, err
	}
	return viewOfBooking(b), nil
}

// voucher is GET /api/bookings/{id}/voucher.pdf, passed on from the voucher service.
func (a *API) voucher(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !a.cfg.IDs.Verify(id) {
		notFound(w, "voucher")
		return
	}
	pdf, err := a.cfg.Vouchers.Voucher(r.Context(), id)
	switch {
	case errors.Is(err, voucher.ErrNotFound):
		notFound(w, "voucher")
		return
	case err != nil:
		a.log.WarnContext(r.Context(), "voucher not available", "booking_id", id, "err", err)
		a.unavailable(w, CodeVoucherUnavailable, "the voucher service is not available; retry later")
		return
	}
	defer pdf.Close()
	h := w.Header()
	h.Set("Content-Type", pdf.ContentType)
	h.Set("Content-Disposition", `inline; filename="staybook-`+id+`.pdf"`)
	h.Set("Cache-Control", "private, max-age=3600")
	if pdf.ContentLength >= 0 {
		h.Set("Content-Length", strconv.FormatInt(pdf.ContentLength, 10))
	}
	w.WriteHeader(http.StatusOK)
	if _, err := io.Copy(w, pdf); err != nil {
		a.log.DebugContext(r.Context(), "voucher download cut", "booking_id", id, "err", err)
	}
}

// catalogueOrUnavailable returns the catalogue, or answers 503 and returns nil.
func (a *API) catalogueOrUnavailable(w http.ResponseWriter, r *http.Request) *catalogue.Catalogue {
	cat, err := a.cfg.Catalogue.Get(r.Context())
	if err != nil {
		a.log.ErrorContext(r.Context(), "no catalogue", "err", err)
		a.unavailable(w, CodeCatalogueUnavailable, "the hotel catalogue is not available yet; retry later")
		return nil
	}
	return cat
}
