package ports_test

import (
	"context"
	"sync"
	"time"

	"github.com/staybook/staybook/services/booking/internal/app"
	"github.com/staybook/staybook/services/booking/internal/domain"
	"github.com/staybook/staybook/shared/contracts"
)

const bookingID = "3f1c1a34-6e0b-4f0e-9c1e-5f7a2b8d9e01"

// fakeApp stands for app.Bookings: it answers from its fields and records
// what the ports asked.
type fakeApp struct {
	mu sync.Mutex

	hotels   []domain.Hotel
	free     map[string]int
	bookings map[string]domain.Booking
	keys     map[string]string
	created  bool  // BookRoom's and BookRoomDirect's answer
	err      error // every call's error, if set

	booked   []contracts.BookRoom
	direct   []directCall
	recorded []taskCall
}

type directCall struct {
	cmd     contracts.BookRoom
	down    app.Downstream
	timeout time.Duration
}

type taskCall struct{ bookingID, task, state string }

func (f *fakeApp) Catalogue(context.Context) ([]domain.Hotel, map[string]domain.Hotel, error) {
	byID := map[string]domain.Hotel{}
	for _, h := range f.hotels {
		byID[h.ID] = h
	}
	return f.hotels, byID, f.err
}

func (f *fakeApp) Availability(_ context.Context, hotelID, checkIn, checkOut string) (map[string]int, error) {
	if f.err != nil {
		return nil, f.err
	}
	if _, err := domain.ParseStay(checkIn, checkOut); err != nil {
		return nil, err
	}
	for _, h := range f.hotels {
		if h.ID == hotelID {
			return f.free, nil
		}
	}
	return nil, app.ErrNotFound
}

func (f *fakeApp) Booking(_ context.Context, id string) (domain.Booking, error) {
	if f.err != nil {
		return domain.Booking{}, f.err
	}
	b, ok := f.bookings[id]
	if !ok {
		return b, app.ErrNotFound
	}
	return b, nil
}

func (f *fakeApp) BookingIDByIdempotencyKey(_ context.Context, keyHash string) (string, error) {
	if f.err != nil {
		return "", f.err
	}
	id, ok := f.keys[keyHash]
	if !ok {
		return "", app.ErrNotFound
	}
	return id, nil
}

func (f *fakeApp) BookRoom(_ context.Context, cmd contracts.BookRoom) (domain.Booking, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.booked = append(f.booked, cmd)
	if f.err != nil {
		return domain.Booking{}, false, f.err
	}
	return f.bookings[cmd.BookingID], f.created, nil
}

func (f *fakeApp) BookRoomDirect(_ context.Context, cmd contracts.BookRoom, down app.Downstream, timeout time.Duration) (domain.Booking, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.direct = append(f.direct, directCall{cmd, down, timeout})
	if f.err != nil {
		return domain.Booking{}, false, f.err
	}
	return f.bookings[cmd.BookingID], f.created, nil
}

func (f *fakeApp) RecordTask(_ context.Context, bookingID, task, state string) (domain.Booking, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.recorded = append(f.recorded, taskCall{bookingID, task, state})
	return f.bookings[bookingID], true, f.err
}
