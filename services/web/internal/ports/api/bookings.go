package api

import (
	"errors"
	"io"
	"net/http"
	"strconv"

	"github.com/staybook/staybook/shared/contracts"
	"github.com/staybook/staybook/shared/httpx"
	"github.com/staybook/staybook/shared/telemetry"

	"github.com/staybook/staybook/services/web/internal/app"
	"github.com/staybook/staybook/services/web/internal/domain"
)

// createBooking is POST /api/bookings: validate, assign the ID, then queue
// the BookRoom command (202) or, in direct mode, book over HTTP (201).
func (a *API) createBooking(w http.ResponseWriter, r *http.Request) {
	key, err := idempotencyKey(r)
	if err != nil {
		a.reject(w, err)
		return
	}
	var req app.BookingRequest
	if err := httpx.DecodeJSON(w, r, &req, a.cfg.MaxBodyBytes); err != nil {
		a.reject(w, err)
		return
	}
	placed, err := a.cfg.Bookings.Place(r.Context(), req, key)
	var (
		se *app.StatusError
		ue *app.UnavailableError
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
	w.Header().Set("Location", app.StatusURL(placed.ID))
	if placed.Booking == nil {
		w.Header().Set("Retry-After", a.retryAfter)
		httpx.WriteJSON(w, http.StatusAccepted, app.Accepted{ID: placed.ID, Status: contracts.StatusPending,
			StatusURL: app.StatusURL(placed.ID), TraceID: telemetry.TraceID(r.Context())})
		return
	}
	status := http.StatusCreated
	if !placed.Created {
		status = http.StatusOK // a repeated Idempotency-Key: the booking made before
	}
	v := app.ViewOfBooking(placed.Booking)
	v.TraceID = telemetry.TraceID(r.Context())
	httpx.WriteJSON(w, status, v)
}

func (a *API) reject(w http.ResponseWriter, err error) {
	a.cfg.Bookings.RequestRejected(err)
	httpx.WriteRequestError(w, err)
}

// getBooking is GET /api/bookings/{id}.
func (a *API) getBooking(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !a.cfg.Bookings.Verify(id) {
		notFound(w, "booking")
		return
	}
	v, err := a.cfg.Bookings.Status(r.Context(), id)
	if err != nil {
		a.unavailable(w, app.CodeBookingUnavailable, "the booking service is not available; retry later")
		return
	}
	httpx.WriteJSON(w, http.StatusOK, v)
}

// voucher is GET /api/bookings/{id}/voucher.pdf, passed on from the voucher service.
func (a *API) voucher(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !a.cfg.Bookings.Verify(id) {
		notFound(w, "voucher")
		return
	}
	pdf, err := a.cfg.Bookings.Voucher(r.Context(), id)
	switch {
	case errors.Is(err, app.ErrVoucherNotFound):
		notFound(w, "voucher")
		return
	case err != nil:
		a.log.WarnContext(r.Context(), "voucher not available", "booking_id", id, "err", err)
		a.unavailable(w, app.CodeVoucherUnavailable, "the voucher service is not available; retry later")
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
func (a *API) catalogueOrUnavailable(w http.ResponseWriter, r *http.Request) *domain.Catalogue {
	cat, err := a.cfg.Bookings.Catalogue(r.Context())
	if err != nil {
		a.log.ErrorContext(r.Context(), "no catalogue", "err", err)
		a.unavailable(w, app.CodeCatalogueUnavailable, "the hotel catalogue is not available yet; retry later")
		return nil
	}
	return cat
}

// idempotencyKey returns the request's Idempotency-Key ("" if none), or a 400
// if it is not 1 to 255 printable ASCII characters.
func idempotencyKey(r *http.Request) (string, error) {
	values := r.Header.Values(app.IdempotencyKeyField)
	if len(values) == 0 {
		return "", nil
	}
	bad := func(msg string) error {
		return &httpx.RequestError{Status: http.StatusBadRequest, Code: app.CodeInvalidIdempotencyKey, Field: app.IdempotencyKeyField, Message: msg}
	}
	if len(values) > 1 {
		return "", bad("send one Idempotency-Key header")
	}
	key := values[0]
	if err := app.ValidateIdempotencyKey(key); err != nil {
		return "", err
	}
	return key, nil
}
