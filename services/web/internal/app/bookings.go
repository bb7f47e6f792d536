package app

import (
	"context"
	"errors"
	"fmt"

	"github.com/staybook/staybook/shared/contracts"
	"github.com/staybook/staybook/shared/httpx"

	"github.com/staybook/staybook/services/web/internal/domain"
)

// BookingService is the booking service's internal API (adapters/bookingclient).
type BookingService interface {
	Booking(ctx context.Context, id string) (*domain.Booking, error)
	Availability(ctx context.Context, hotelID, checkIn, checkOut string) (*domain.Availability, error)
	Book(ctx context.Context, cmd contracts.BookRoom) (*domain.Booking, bool, error)
}

// Errors of the booking service a caller tells apart.
var (
	// ErrBookingNotFound: the booking service answered 404.
	ErrBookingNotFound = errors.New("not found")
	// ErrBookingUnavailable: the booking service could not be reached, timed out or
	// answered 5xx.
	ErrBookingUnavailable = errors.New("booking service unavailable")
)

// StatusError is a 4xx answer other than 404, kept so that it can be passed
// through to the client.
type StatusError struct {
	Status int
	Body   httpx.ErrorBody
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("booking service answered %d: %s %s", e.Status, e.Body.Error.Code, e.Body.Error.Message)
}
