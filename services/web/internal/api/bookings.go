package api

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/staybook/staybook/shared/contracts"
	"github.com/staybook/staybook/shared/httpx"
	"github.com/staybook/staybook/shared/logging"
	"github.com/staybook/staybook/shared/messaging"

	"github.com/staybook/staybook/services/web/internal/booking"
	"github.com/staybook/staybook/services/web/internal/bookingid"
	"github.com/staybook/staybook/services/web/internal/catalogue"
	"github.com/staybook/staybook/services/web/internal/voucher"
)

// createBooking is POST /api/bookings: validate, assign the ID, then queue
// the BookRoom command (202) or, in direct mode, book over HTTP (201).
func (a *API) createBooking(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	key, err := idempotencyKey(r)
	if err != nil {
		a.reject(w, err)
		return
	}
	var req bookingRequest
	if err := httpx.DecodeJSON(w, r, &req, a.cfg.MaxBodyBytes); err != nil {
		a.reject(w, err)
		return
	}
	valid, err := req.validate(a.cfg.Now())
	if err != nil {
		a.reject(w, err)
		return
	}
	cat, err := a.cfg.Catalogue.Get(ctx)
	if err != nil {
		a.log.ErrorContext(ctx, "booking refused: no catalogue", "err", err)
		a.cfg.Metrics.booking(resultUnavailable)
		a.unavailable(w, CodeCatalogueUnavailable, "the hotel catalogue is not available yet; retry later")
		return
	}
	if err := valid.checkCatalogue(cat); err != nil {
		a.reject(w, err)
		return
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
		httpx.WriteRequestError(w, err)
		return
	}
	ctx = logging.WithAttrs(ctx, slog.String("booking_id", cmd.BookingID))
	if key != "" && a.keyUsedElsewhere(ctx, cmd) {
		a.reject(w, &httpx.RequestError{Status: http.StatusUnprocessableEntity, Code: CodeIdempotencyKeyReused,
			Field: idempotencyHeader, Message: "this Idempotency-Key was used for another booking request"})
		return
	}

	if a.cfg.Transport == TransportDirect {
		a.bookDirect(ctx, w, cmd)
		return
	}
	a.enqueue(ctx, w, cmd)
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

// enqueue puts the command on commands.BookRoom and answers 202 once the
// broker has confirmed it, or 503 if it did not within the deadline, refused
// it (the queue is full) or cannot be reached.
func (a *API) enqueue(ctx context.Context, w http.ResponseWriter, cmd contracts.BookRoom) {
	// The publish goes on if the client hangs up: the outcome is the same
	// either way and a half-made publish helps nobody.
	msg, err := contracts.NewMessage(context.WithoutCancel(ctx), cmd, cmd.BookingID)
	if err != nil {
		a.log.ErrorContext(ctx, "build BookRoom message", "err", err)
		httpx.WriteRequestError(w, err)
		return
	}
	if err := a.cfg.Publisher.Publish(messaging.BookRoomQueue, msg); err != nil {
		a.log.WarnContext(ctx, "booking not queued", "err", err)
		a.cfg.Metrics.booking(resultUnavailable)
		a.unavailable(w, CodeUnavailable,
			"the booking could not be queued; retry with the same Idempotency-Key (a booking may have been made)")
		return
	}
	a.log.InfoContext(ctx, "booking queued", "hotel_id", cmd.HotelID, "room_type", cmd.RoomType,
		"guest_email", logging.MaskEmail(cmd.GuestEmail), "idempotent", cmd.IdempotencyKeyHash != "")
	a.cfg.Metrics.booking(resultAccepted)
	w.Header().Set("Location", statusURL(cmd.BookingID))
	w.Header().Set("Retry-After", a.retryAfter)
	httpx.WriteJSON(w, http.StatusAccepted, Accepted{ID: cmd.BookingID, Status: contracts.StatusPending, StatusURL: statusURL(cmd.BookingID)})
}

// bookDirect books in the request (the design without a queue): 201 with the
// final state, the booking service's 4xx passed on, 503 if it is down or failed.
func (a *API) bookDirect(ctx context.Context, w http.ResponseWriter, cmd contracts.BookRoom) {
	b, created, err := a.cfg.Bookings.Book(ctx, cmd)
	var se *booking.StatusError
	switch {
	case errors.As(err, &se):
		a.log.InfoContext(ctx, "booking refused by the booking service", "status", se.Status, "code", se.Body.Error.Code)
		a.cfg.Metrics.booking(resultInvalid)
		httpx.WriteJSON(w, se.Status, se.Body)
		return
	case err != nil:
		a.log.WarnContext(ctx, "direct booking failed", "err", err)
		a.cfg.Metrics.booking(resultUnavailable)
		a.unavailable(w, CodeBookingUnavailable, "the booking service is not available; retry with the same Idempotency-Key")
		return
	}
	status := http.StatusCreated
	if !created {
		status = http.StatusOK // a repeated Idempotency-Key: the booking made before
	}
	a.log.InfoContext(ctx, "booking made directly", "status", b.Status, "created", created)
	a.cfg.Metrics.booking(resultCreated)
	w.Header().Set("Location", statusURL(cmd.BookingID))
	httpx.WriteJSON(w, status, viewOfBooking(b))
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
