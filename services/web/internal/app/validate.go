package app

import (
	"errors"
	"net/http"
	"time"

	"github.com/staybook/staybook/shared/httpx"

	"github.com/staybook/staybook/services/web/internal/domain"
)

// BookingRequest is a booking request as sent: the body of POST
// /api/bookings, or the fields of the booking form (POST /bookings).
type BookingRequest = domain.BookingRequest

// IdempotencyKeyField is the field an idempotency key problem names.
const IdempotencyKeyField = domain.IdempotencyKeyField

// requestError is a domain problem as the API and the pages answer it: a
// 400 for a bad idempotency key, a 422 for the rest. Another error (nil
// included) is returned as it is.
func requestError(err error) error {
	var p *domain.Problem
	if !errors.As(err, &p) {
		return err
	}
	status := http.StatusUnprocessableEntity
	if p.Code == domain.ProblemInvalidIdempotencyKey {
		status = http.StatusBadRequest
	}
	return &httpx.RequestError{Status: status, Code: p.Code, Field: p.Field, Message: p.Message}
}

// Problems returns what is wrong with the request, one request error per
// bad field, checked against the catalogue too when there is one: what
// POST /api/bookings would refuse, for a form to show next to its fields.
func Problems(r BookingRequest, now time.Time, cat *domain.Catalogue) []*httpx.RequestError {
	var out []*httpx.RequestError
	for _, p := range r.Problems(now, cat) {
		out = append(out, requestError(p).(*httpx.RequestError))
	}
	return out
}

// ValidateStay checks the dates of a stay as a booking request does (a
// search form uses it too, so that both accept the same dates).
func ValidateStay(checkIn, checkOut string, now time.Time) (in, out time.Time, err error) {
	in, out, err = domain.ValidateStay(checkIn, checkOut, now)
	return in, out, requestError(err)
}

// ValidateIdempotencyKey checks an idempotency key (the Idempotency-Key
// header, or the booking form's hidden field): 1 to 255 printable ASCII characters.
func ValidateIdempotencyKey(key string) error {
	return requestError(domain.ValidateIdempotencyKey(key))
}
